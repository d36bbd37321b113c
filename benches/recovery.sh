#!/usr/bin/env bash
# Recovery and the boot log server, measured for real in network namespaces:
#  1. time from `recover` start to an accepted SSH login from the support namespace
#     (cold: host keys made on first use; warm: keys kept), against OpenSSH's sshd
#     started directly on the same config (the floor: what recovery adds is the rest);
#  2. the boot log server with 200 live SSE viewers on loopback: RSS, and the delay for
#     a new log line to reach all of them; plus 200 concurrent plain fetches of the log,
#     against `python3 -m http.server` serving the same file.
# Needs root, iproute2, openssh-server/-client, python3, bc.
#   bash benches/recovery.sh [RUNS] [VIEWERS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
viewers=${2:-200}
cargo build --release -q
bin=$PWD/target/release/upgrade-console
# sshd's StrictModes refuses keys under world-writable /tmp: work under target/.
work=$(mktemp -d -p "$PWD/target" bench-recovery.XXXXXX)
A=bappl$$; S=bsup$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/root/var/lib/upgrade-console/recovery/sshd.pid" ] &&
    kill "$(cat "$work/root/var/lib/upgrade-console/recovery/sshd.pid")" 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$A"; ip netns add "$S"
for i in 0 1; do
  ip link add "ba$i$$" type veth peer name "bs$i$$"
  ip link set "ba$i$$" netns "$A"; ip link set "bs$i$$" netns "$S"
  ip -n "$A" link set "ba$i$$" name "eth$i"
  ip -n "$S" addr add "10.77.$((i + 1)).2/24" dev "bs$i$$"
  ip -n "$S" link set "bs$i$$" up
done
ip -n "$A" link set lo up; ip -n "$S" link set lo up

R=$work/root
"$bin" demo "$R" >/dev/null </dev/null
cat > "$R/etc/appliance/appliance.toml" <<TOML
[appliance]
product = "sps"
hostname = "sps-bench"
[[network.interfaces]]
name = "eth0"
addresses = ["10.77.1.1/24"]
gateway = "10.77.1.2"
management = true
[[network.interfaces]]
name = "eth1"
addresses = ["10.77.2.1/24"]
management = false
[web]
listen = ["10.77.1.1:8480"]
[slots]
A = "var/lib/demo/slotA.img"
B = "var/lib/demo/slotB.img"
TOML
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
cp "$work/key.pub" "$R/etc/appliance/support_keys"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# Probe the port every few ms first: a SYN sent before the address is up is lost
# and TCP would retry it only after 1 s, which measures the client, not recovery.
port_open() {
  ip netns exec "$S" timeout 0.2 bash -c ': </dev/tcp/10.77.2.1/22' 2>/dev/null
}
login_ok() {
  until port_open; do sleep 0.005; done
  ip netns exec "$S" ssh -i "$work/key" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 \
    root@10.77.2.1 true 2>/dev/null
}
reset_net() {
  for i in 0 1; do ip -n "$A" addr flush dev "eth$i"; ip -n "$A" link set "eth$i" down; done
}

# One `recover` run: start to the first accepted login; then SIGTERM.
recover_run() { # $1: cold|warm
  reset_net
  rm -f "$R/var/lib/upgrade-console/recovery.json"
  [ "$1" = cold ] && rm -rf "$R/var/lib/upgrade-console/recovery"
  local s e p
  local o
  s=$(now)
  ip netns exec "$A" "$bin" --root "$R" recover >/dev/null 2>&1 &
  p=$!
  until port_open; do sleep 0.005; done
  o=$(now)
  until login_ok; do sleep 0.005; done
  e=$(now)
  kill "$p"; wait "$p" || true
  echo "$(echo "$o - $s" | bc -l) $(echo "$e - $s" | bc -l)"
}

# OpenSSH alone on the config recovery generated, addresses already up.
sshd_run() {
  local s e p cfg=$R/var/lib/upgrade-console/recovery/sshd_config
  ip -n "$A" link set eth1 up
  ip -n "$A" addr replace 10.77.2.1/24 dev eth1
  local o
  s=$(now)
  ip netns exec "$A" /usr/sbin/sshd -D -e -f "$cfg" 2>/dev/null &
  p=$!
  until port_open; do sleep 0.005; done
  o=$(now)
  until login_ok; do sleep 0.005; done
  e=$(now)
  kill "$p"; wait "$p" || true
  echo "$(echo "$o - $s" | bc -l) $(echo "$e - $s" | bc -l)"
}

cold=(); warm=(); plain=()
for _ in $(seq "$runs"); do
  cold+=("$(recover_run cold)")
  warm+=("$(recover_run warm)")
  plain+=("$(sshd_run)")
done
col() { printf '%s\n' "${@:2}" | awk -v k="$1" '{print $k}' | median; }
c=$(col 2 "${cold[@]}"); co=$(col 1 "${cold[@]}")
w=$(col 2 "${warm[@]}"); wo=$(col 1 "${warm[@]}")
p=$(col 2 "${plain[@]}"); po=$(col 1 "${plain[@]}")

# The log server: serve-log in the appliance namespace on its loopback.
log=$R/var/log/upgrade-console/console.log
for i in $(seq 2000); do echo "2026-01-01T00:00:00Z INFO  filler line $i of the console log"; done >> "$log"
ip netns exec "$A" "$bin" --root "$R" serve-log --listen 127.0.0.1:8480 >/dev/null 2>&1 &
srv=$!; pids+=("$srv")
cp "$log" "$work/console.log"
(cd "$work" && exec ip netns exec "$A" python3 -m http.server 8481 --bind 127.0.0.1 >/dev/null 2>&1) &
py=$!; pids+=("$py")
until ip netns exec "$A" python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8480)); socket.create_connection(("127.0.0.1", 8481))' 2>/dev/null; do sleep 0.05; done
h=benches/recovery_viewers.py
sse=$(ip netns exec "$A" python3 "$h" sse 127.0.0.1 8480 "$log" "$viewers" 20 "$srv")
ours_fetch=(); py_fetch=()
for _ in $(seq "$runs"); do
  ours_fetch+=("$(ip netns exec "$A" python3 "$h" fetch 127.0.0.1 8480 /log.txt "$viewers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["wall_ms"])')")
  py_fetch+=("$(ip netns exec "$A" python3 "$h" fetch 127.0.0.1 8481 /console.log "$viewers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["wall_ms"])')")
done
of=$(printf '%s\n' "${ours_fetch[@]}" | median)
pf=$(printf '%s\n' "${py_fetch[@]}" | median)
pypid=$(ip netns exec "$A" ss -Hltnp 'sport = :8481' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
py_rss=$(awk '/VmRSS/ {print $2}' "/proc/$pypid/status")
j() { echo "$sse" | python3 -c "import json,sys; print(round(json.load(sys.stdin)['$1'], 1))"; }

printf '\nrecovery and boot log server (%s runs, medians; %s; peer for the recovery rows:
sshd -D started directly on the config recovery generated, addresses already up)\n' "$runs" "$(nproc) cores shared"
printf '%-58s %12s %12s %8s\n' measure upgrade-console peer ratio
row() { printf '%-58s %12s %12s %8s\n' "$1" "$(printf %.3f "$2")" "$(printf %.3f "$3")" \
  "$(printf %.2f "$(echo "$2 / $3" | bc -l)")"; }
row "recover start -> port 22 accepting, cold, s" "$co" "$po"
row "recover start -> port 22 accepting, warm, s" "$wo" "$po"
printf '%-58s %12s %12s %8s\n' "recover start -> SSH login, cold (host keys made), s" \
  "$(printf %.3f "$c")" "$(printf %.3f "$p")" "$(printf %.2f "$(echo "$c / $p" | bc -l)")"
printf '%-58s %12s %12s %8s\n' "recover start -> SSH login, warm (keys kept), s" \
  "$(printf %.3f "$w")" "$(printf %.3f "$p")" "$(printf %.2f "$(echo "$w / $p" | bc -l)")"
printf '%-58s %12s %12s %8s\n' "new line -> all $viewers SSE viewers, median ms" "$(j all_median_ms)" "-" "-"
printf '%-58s %12s %12s %8s\n' "new line -> all $viewers SSE viewers, worst of 20, ms" "$(j all_max_ms)" "-" "-"
printf '%-58s %12s %12s %8s\n' "new line -> one viewer, median ms" "$(j viewer_median_ms)" "-" "-"
printf '%-58s %12s %12s %8s\n' "server RSS idle, KiB" "$(j rss_idle_kib)" "-" "-"
printf '%-58s %12s %12s %8s\n' "server RSS with $viewers SSE viewers, KiB" "$(j rss_200_kib)" "$py_rss" \
  "$(printf %.2f "$(echo "$(j rss_200_kib) / $py_rss" | bc -l)")"
printf '%-58s %12s %12s %8s\n' "  peer RSS: python3 -m http.server after the fetches" "" "" ""
printf '%-58s %12s %12s %8s\n' "$viewers concurrent plain fetches of the log ($(du -k "$log" | cut -f1) KiB), ms" \
  "$(printf %.1f "$of")" "$(printf %.1f "$pf")" "$(printf %.2f "$(echo "$of / $pf" | bc -l)")"
printf '%-58s %12s %12s %8s\n' "  peer: python3 -m http.server serving the same file" "" "" ""

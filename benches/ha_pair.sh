#!/usr/bin/env bash
# The HA pair's upgrade on the demo pair (`demo --ha`: two roots, OpenSSH HA link on
# 127.0.0.2/.3, ipmi_sim BMCs on 127.0.0.4/.5), RUNS times from scratch:
#   - wall time of the whole `ha upgrade --yes` and of each of its steps;
#   - the image over the HA link: our sync step (transfer + the secondary's own verify,
#     upgrade test, slot write and read-back) against scp of the same file over the
#     same loopback to an sshd on the secondary's address, and the bytes each put on
#     the wire against the image size;
#   - one IPMI call (power status) through the product against bare ipmitool.
#   bash benches/ha_pair.sh [RUNS]        (default 3; needs ipmi_sim, ipmitool, sshd)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=${BENCH_DIR:-/tmp/upgrade-console-bench-ha}
for t in ipmi_sim ipmitool /usr/sbin/sshd scp; do
  command -v "$t" >/dev/null || { echo "needs $t (bash .ci/packages installs it)" >&2; exit 2; }
done
if [ -z "${BIN:-}" ]; then
  cargo build --release -q
  BIN=$PWD/target/release/upgrade-console
fi
lo_tx() { cat /sys/class/net/lo/statistics/tx_bytes; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$work.rows" 2>/dev/null || { mkdir -p "$(dirname "$work")"; : > "$work.rows"; }
for r in $(seq 1 "$runs"); do
  "$BIN" demo --ha --stop "$work" >/dev/null 2>&1 || true
  rm -rf "$work"
  "$BIN" demo --ha "$work" >/dev/null
  P=$work/primary S=$work/secondary
  iso=$P/images/sps-7.3.1.iso
  size=$(stat -c %s "$iso")
  # The peer: scp of the same image with the same node key, to a plain sshd on the
  # secondary's link address (port 2223), no forced command.
  pd=$work/peer-sshd; mkdir -p "$pd"; chmod 700 "$pd"
  [ -f "$pd/hk" ] || ssh-keygen -q -t ed25519 -N '' -f "$pd/hk"
  sed 's/^restrict //' "$S/etc/appliance/ha/peer_keys" > "$pd/auth"; chmod 600 "$pd/auth"
  printf 'Port 2223\nListenAddress 127.0.0.3\nHostKey %s/hk\nPidFile %s/pid\nAuthorizedKeysFile %s/auth\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nSubsystem sftp internal-sftp\n' \
    "$pd" "$pd" "$pd" > "$pd/cfg"
  /usr/sbin/sshd -f "$pd/cfg"
  sleep 0.3
  t0=$(date +%s.%N); b0=$(lo_tx)
  scp -q -i "$P/etc/appliance/ha/node_key" -P 2223 -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null "$iso" "$(id -un)@127.0.0.3:$pd/copy.iso"
  t1=$(date +%s.%N); b1=$(lo_tx)
  kill "$(cat "$pd/pid")" 2>/dev/null || true
  scp_s=$(echo "$t1 - $t0" | bc -l); scp_b=$((b1 - b0))
  # Bare ipmitool, 5 calls.
  pw=$(head -1 "$P/etc/appliance/bmc.pass")
  for i in 1 2 3 4 5; do
    s0=$(date +%s.%N)
    IPMI_PASSWORD=$pw ipmitool -I lanplus -C 3 -H 127.0.0.4 -p 9623 -U admin -E chassis power status >/dev/null
    s1=$(date +%s.%N)
    echo "$s1 - $s0" | bc -l
  done | median > "$work.ipmi_raw"
  # The whole HA upgrade; the sync step's own time and bytes from a --step run.
  "$BIN" --root "$P" --json ha upgrade "$iso" --yes --step >/dev/null 2>&1
  b0=$(lo_tx)
  out=$("$BIN" --root "$P" --json ha upgrade --yes --step 2>/dev/null)
  b1=$(lo_tx)
  sync_s=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(dict(d["figures"]["steps"])["sync-to-secondary"])')
  sync_b=$((b1 - b0))
  w0=$(date +%s.%N)
  out=$("$BIN" --root "$P" --json ha upgrade --yes 2>/dev/null)
  w1=$(date +%s.%N)
  rest_s=$(echo "$w1 - $w0" | bc -l)
  ipmi=$(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); c=sorted(t for n,t in d["figures"]["ipmi_calls"] if n=="power status"); print(c[len(c)//2])')
  echo "$r $scp_s $scp_b $sync_s $sync_b $rest_s $ipmi $(cat "$work.ipmi_raw") $size" >> "$work.rows"
  "$BIN" demo --ha --stop "$work" >/dev/null 2>&1 || true
done
python3 - "$work.rows" <<'EOF'
import sys, statistics as st
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
col = lambda i: st.median(r[i] for r in rows)
size = rows[0][8]
print(f"HA pair upgrade on the demo pair, median of {len(rows)} runs (image {int(size)} bytes)")
print("| measure | upgrade-console | peer | ratio |")
print("|---|---|---|---|")
print(f"| image over the HA link, s (ours: transfer + the secondary's verify, test, slot write, read-back) | {col(3):.2f} | scp {col(1):.2f} | {col(3)/col(1):.2f}x |")
print(f"| bytes on the wire / image size | {col(4)/size:.3f} | scp {col(2)/size:.3f} | {col(4)/col(2):.2f}x |")
print(f"| IPMI power status, ms | {col(6)*1000:.0f} | ipmitool {col(7)*1000:.0f} | {col(6)/col(7):.2f}x |")
print(f"| rest of the HA upgrade after the sync (8 steps, both boots), s | {col(5):.2f} | - | - |")
EOF

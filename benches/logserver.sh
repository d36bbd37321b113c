#!/usr/bin/env bash
# The boot log server against nginx under the attacks of issue 10, same run, same
# 8 MB log on loopback: RSS with 96 slow readers (4 KB every 3 s) and with 256 idle
# viewers (nginx: 256 idle keep-alive connections), and a fresh client's latency
# meanwhile (time to first byte and to the whole 8 MB /log.txt, median and max).
# Then /bundle in recovery under 20 concurrent GETs (nginx: the same ZIP as a static
# file): status codes, whole ZIPs, distinct bodies, wall time, peak RSS, and how many
# bundles the server left on disk.
# Goal: our RSS under 64 MiB under every attack, a fresh client within 1 s.
# Needs root (nothing else of the host is touched), nginx (Debian package), python3.
#   bash benches/logserver.sh [SECONDS]      (BIN=path to use a build you already have)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q
  BIN=$PWD/target/release/upgrade-console
fi
command -v nginx >/dev/null || { echo "needs nginx: apt-get install -y nginx" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"   # nginx's workers run as www-data
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

R=$work/root
mkdir -p "$R/etc/appliance" "$R/var/log/upgrade-console" "$work/nginx/www"
printf '[appliance]\nhostname = "bench"\n[product]\nldap_bind_password = "bench-S3cret"\n' \
  > "$R/etc/appliance/appliance.toml"
python3 - "$R/var/log/upgrade-console/console.log" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    i = 0
    while f.tell() < 8 << 20:
        f.write(f"2026-01-01T00:00:00Z INFO  line {i:08} {'x' * 60}\n"); i += 1
PY
cp "$R/var/log/upgrade-console/console.log" "$work/nginx/www/log.txt"
echo small > "$work/nginx/www/small.txt"

# Ours.
"$BIN" --root "$R" serve-log --listen 127.0.0.1:0 > "$work/ours.out" 2>/dev/null &
ours=$!; pids+=("$ours")
for _ in $(seq 100); do grep -q http "$work/ours.out" 2>/dev/null && break; sleep 0.1; done
oport=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/ours.out" | head -1)

# nginx: one worker, the same file as a static file, keep-alive held long.
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 100000;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp; fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
  server { listen 127.0.0.1:$nport; root $work/nginx/www; default_type text/plain; }
}
CONF
mkdir -p "$work/nginx/tmp"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon on;'
for _ in $(seq 100); do [ -s "$work/nginx/nginx.pid" ] && break; sleep 0.1; done
nginx_pids() { echo "$(cat "$work/nginx/nginx.pid") $(pgrep -P "$(cat "$work/nginx/nginx.pid")" | tr '\n' ' ')"; }

run() { python3 benches/logserver_attack.py "$@"; sleep 2; }
o_slow=$(run slow 127.0.0.1 "$oport" "$secs" "$ours")
n_slow=$(run slow 127.0.0.1 "$nport" "$secs" $(nginx_pids))
o_idle=$(run idle-sse 127.0.0.1 "$oport" "$secs" "$ours")
n_idle=$(run idle-keepalive 127.0.0.1 "$nport" "$secs" $(nginx_pids))

# The bundle: the root enters recovery (recovery.json as `recover` leaves it, with no
# bundle made yet), so the first GET builds it; nginx serves a copy of the result.
python3 - "$R/var/lib/upgrade-console/recovery.json" <<'PY'
import json, os, sys
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
json.dump({"reason": "bench", "entered": "2026-12-03T00:00:00Z", "sealed": False,
           "interfaces": [], "addresses": [], "ssh_port": None, "ssh_listen": [],
           "host_key_fingerprints": [], "bundle": None, "log_server": []},
          open(sys.argv[1], "w"))
PY
o_bundle=$(python3 benches/logserver_attack.py bundle 127.0.0.1 "$oport" "$ours")
bundles=$R/var/lib/upgrade-console/bundles
cp "$(ls -t "$bundles"/*.zip | head -1)" "$work/nginx/www/bundle"
chmod 644 "$work/nginx/www/bundle"   # ours is 0600 (it may hold state); nginx runs as www-data
n_bundle=$(python3 benches/logserver_attack.py bundle 127.0.0.1 "$nport" $(nginx_pids))
on_disk="$(find "$bundles" -type f | wc -l) files, $(du -sk "$bundles" | cut -f1) KiB"

python3 - "$o_slow" "$n_slow" "$o_idle" "$n_idle" <<'PY'
import json, statistics, sys
o_slow, n_slow, o_idle, n_idle = (json.loads(a) for a in sys.argv[1:])
def med(x): return statistics.median(x) if x else float("nan")
def mx(x): return max(x) if x else float("nan")
def ratio(a, b): return f"{a / b:.2f}" if b else "-"
print("| attack | server | idle RSS MiB | peak RSS MiB | RSS ours/nginx | fresh TTFB ms (median / max) | fresh whole 8 MB ms (median / max) | latency ours/nginx (median whole) | fresh failed |")
print("|---|---|---|---|---|---|---|---|---|")
for name, o, n in (("96 slow readers", o_slow, n_slow), ("256 idle viewers", o_idle, n_idle)):
    for who, r, other in (("ours", o, n), ("nginx", n, o)):
        print(f"| {name} | {who} | {r['idle_rss']/1024:.1f} | {r['peak_rss']/1024:.1f} | "
              f"{ratio(r['peak_rss'], other['peak_rss']) if who == 'ours' else ''} | "
              f"{med(r['ttfb']):.1f} / {mx(r['ttfb']):.1f} | {med(r['whole']):.1f} / {mx(r['whole']):.1f} | "
              f"{ratio(med(r['whole']), med(other['whole'])) if who == 'ours' else ''} | {r['failed']} |")
PY
python3 - "$o_bundle" "$n_bundle" "$on_disk" <<'PY'
import json, sys
o, n = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print()
print("| 20 concurrent GET /bundle | status codes | whole ZIPs | distinct bodies | ZIP bytes | wall ms | wall ours/nginx | peak RSS MiB | bundles on disk after |")
print("|---|---|---|---|---|---|---|---|---|")
for who, r, disk in (("ours", o, sys.argv[3]), ("nginx (static copy)", n, "-")):
    codes = ", ".join(f"{c} x{r['codes'].count(c)}" for c in sorted(set(r["codes"])))
    ratio = f"{o['wall_ms'] / n['wall_ms']:.2f}" if who == "ours" else ""
    print(f"| {who} | {codes} | {r['whole_zips']} | {r['distinct_bodies']} | {r['bytes']} | "
          f"{r['wall_ms']:.0f} | {ratio} | {r['peak_rss'] / 1024:.1f} | {disk} |")
PY

#!/usr/bin/env bash
# The virtual appliance: image build time, and the serial line measured on the host
# side of qemu's socket (TCG): power-on to GRUB, to the slot's init, to the boot
# phase's verdict and to the console's first frame; the console's first paint in
# bytes and its bytes per second while idle; next to the same binary's first paint on
# a pty at 80x24, TERM=vt100 (benches/pty_capture.py, as benches/tui_bytes.sh).
#   bash benches/appliance.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
out=target/appliance-bench
cargo build --release -q
rm -rf "$out"
mkdir -p "$out/cache"
# Keep the kernel package between runs: the build time is ours, not the mirror's.
cp target/appliance/cache/*.deb "$out/cache/" 2>/dev/null || true
s=$(date +%s.%N)
bash scripts/appliance-image.sh "$out" >/dev/null
build=$(echo "$(date +%s.%N) - $s" | bc -l)
vm=$(python3 benches/appliance_serial.py "$out/disk.img" "$runs")
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
target/release/upgrade-console demo "$d/demo" >/dev/null
pty=$(python3 benches/pty_capture.py start target/release/upgrade-console "$d/demo" vt100)
python3 - "$build" "$vm" "$pty" "$runs" <<'PY'
import json, sys
build, vm, pty, runs = float(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
m = vm["median"]
print(f"virtual appliance, qemu TCG, 2 cores; medians of {runs} boots")
print(f"| measure | serial line (VM) | pty (same binary) | VM/pty |")
print(f"|---|---|---|---|")
print(f"| image build (release binary built), s | {build:.1f} | - | - |")
for k, label in (("grub", "power-on -> GRUB boots the slot, s"), ("init", "power-on -> slot init's first line, s"),
                 ("boot_phase", "power-on -> boot phase verdict, s"), ("first_frame", "power-on -> console's first frame, s")):
    print(f"| {label} | {m[k]:.2f} | - | - |")
print(f"| console first paint, bytes | {m['first_paint_bytes']} | {pty['first_paint']} | {m['first_paint_bytes'] / pty['first_paint']:.2f} |")
print(f"| console start -> first frame, s | {m['first_frame'] - m['console_query']:.2f} | {pty['first_frame_ms'] / 1000:.3f} | - |")
print(f"| bytes per second idle on the status screen | {m['idle_bytes_per_s']} | - | - |")
PY

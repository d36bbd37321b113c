#!/usr/bin/env bash
# Boots the virtual appliance on this terminal: the serial console on stdio, as an
# operator sees it on a serial line or IPMI serial-over-LAN (TERM=vt100, ASCII).
# The disk is a copy (RUN_DISK, default target/appliance/run.img, made from
# disk.img when missing), so every change survives until you delete it.
# qemu's user network forwards host port 2222 to the appliance's SSH (recovery).
# Leave with Ctrl-A X.
#   bash scripts/appliance-run.sh [OUT]      (OUT as given to appliance-image.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/appliance}
[ -f "$out/disk.img" ] || bash scripts/appliance-image.sh "$out"
disk=${RUN_DISK:-$out/run.img}
[ -f "$disk" ] || cp --sparse=always "$out/disk.img" "$disk"
echo "virtual appliance: $disk; Ctrl-A X ends qemu (a power cut); ssh -p 2222 root@127.0.0.1 in recovery" >&2
exec qemu-system-x86_64 -accel tcg -m 512 -nographic -monitor none \
  -drive "file=$disk,format=raw,if=virtio,cache=none" \
  -netdev user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8480-:80 \
  -device virtio-net-pci,netdev=n0 \
  -serial mon:stdio

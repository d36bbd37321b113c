#!/usr/bin/env bash
# Benchmark: `upgrade-console activate` of a 2 GiB payload onto a loop-device
# partition (hash while writing, fsync, O_DIRECT read-back and compare) against the
# shell way of doing the same in the same run:
#   dd bs=4M oflag=direct conv=fsync, then dd iflag=direct bs=4M | sha256sum
#   dd bs=4M oflag=direct conv=fsync, then dd iflag=direct bs=4M | openssl dgst -sha256
# Prints the median of ROUNDS runs of each and the ratios.
# Needs root, xorriso, sgdisk, losetup, partx, openssl, minisign. Usage: benches/activate.sh [ROUNDS]
set -euo pipefail

ROUNDS=${1:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-/tmp/uc-bench}
SIZE=$((2 * 1024 * 1024 * 1024))
LOCK=/tmp/upgrade-console-loop.lock

for t in xorriso sgdisk losetup partx openssl sha256sum minisign; do
  command -v "$t" >/dev/null || { echo "benches/activate.sh needs $t" >&2; exit 2; }
done

(cd "$HERE" && cargo build --release --quiet)
BIN=$HERE/target/release/upgrade-console

mkdir -p "$WORK"
cd "$WORK"

# A vendor key for the bench (activate refuses unsigned images), made once.
if [ ! -f key.sec ]; then
  minisign -G -W -f -p key.pub -s key.sec >/dev/null
  rm -f fw.iso
fi
# Payload and firmware image (built once, reused), its manifest signed.
if [ ! -f fw.iso ]; then
  rm -rf tree && mkdir -p tree/firmware/migrations
  head -c "$SIZE" /dev/urandom > tree/firmware/rootfs.img
  PSHA=$(openssl dgst -sha256 -r tree/firmware/rootfs.img | cut -d' ' -f1)
  cat > tree/firmware/manifest.toml <<EOF
[firmware]
product = "sps"
version = "7.3.1"
kind = "maintenance"

[upgrade]
from = ["7.0.1"]

[payload]
file = "firmware/rootfs.img"
size = $SIZE
sha256 = "$PSHA"
EOF
  minisign -S -s key.sec -m tree/firmware/manifest.toml -t "product=sps version=7.3.1" >/dev/null
  xorriso -as mkisofs -quiet -o fw.iso -V FW -J -R tree
  mv tree/firmware/rootfs.img payload.img
  rm -rf tree
  echo "$PSHA" > payload.sha256
fi
PSHA=$(cat payload.sha256)
ISHA=$(openssl dgst -sha256 -r fw.iso | cut -d' ' -f1)

# The disk: GPT with slotA, slotB (2 GiB + 8 MiB), data, on a loop device.
exec 9>"$LOCK"
flock 9
rm -f disk.img
truncate -s $((4 + 64 + 2056 + 16 + 2))M disk.img
sgdisk -n1:0:+4M -c1:boot -n2:0:+64M -c2:slotA -n3:0:+2056M -c3:slotB -n4:0:0 -c4:data disk.img >/dev/null
LOOP=$(losetup -f --show disk.img)
cleanup() { partx -d "$LOOP" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; }
trap cleanup EXIT
partx -a "$LOOP"
SLOTB=${LOOP}p3

# An appliance root running 7.0.1 from slot A, with verify and check on record.
R=$WORK/root
rm -rf "$R" && mkdir -p "$R/dev" "$R/proc" "$R/etc/appliance" "$R/var/lib/upgrade-console" "$R/boot/grub" \
  "$R/usr/share/upgrade-console/trusted-keys"
cp key.pub "$R/usr/share/upgrade-console/trusted-keys/bench.pub"
ln -s "${LOOP}p2" "$R/dev/slotA"
ln -s "$SLOTB" "$R/dev/slotB"
printf '[appliance]\nproduct = "sps"\nhostname = "bench"\n\n[slots]\nA = "/dev/slotA"\nB = "/dev/slotB"\n' > "$R/etc/appliance/appliance.toml"
echo "upgrade_console.slot=A" > "$R/proc/cmdline"
grub-editenv "$R/boot/grub/grubenv" create 2>/dev/null || true
grub-editenv "$R/boot/grub/grubenv" set ORDER="A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0 2>/dev/null || true
# Journal records as `verify` and `check` write them: "SEQ SUM JSON", SUM = first
# 16 hex digits of SHA-256 over "SEQ JSON".
rec() {
  local seq=$1 json=$2
  printf '%s %s %s\n' "$seq" "$(printf '%s %s' "$seq" "$json" | sha256sum | cut -c1-16)" "$json"
}
# The file identity lets activate skip hashing the whole image again when it is the
# very file verify saw, unchanged (set BENCH_REHASH=1 to measure with the re-hash).
if [ "${BENCH_REHASH:-0}" = 1 ]; then
  FILE=null
else
  read -r DEV INO FSIZE MT CT < <(stat -c '%d %i %s %.9Y %.9Z' fw.iso)
  FILE="{\"dev\":$DEV,\"ino\":$INO,\"size\":$FSIZE,\"mtime_ns\":${MT/./},\"ctime_ns\":${CT/./}}"
fi
{
  rec 1 "{\"time\":\"2026-01-01T00:00:00Z\",\"event\":\"verified\",\"iso_sha256\":\"$ISHA\",\"payload_sha256\":\"$PSHA\",\"version\":\"7.3.1\",\"file\":$FILE}"
  rec 2 "{\"time\":\"2026-01-01T00:00:00Z\",\"event\":\"check-passed\",\"iso_sha256\":\"$ISHA\",\"payload_sha256\":\"$PSHA\",\"version\":\"7.3.1\",\"file\":$FILE}"
} > "$R/var/lib/upgrade-console/journal.log"

# Warm the sources equally, and allocate the slot's blocks in the disk image once so
# no method pays for the sparse file's first writes.
cat fw.iso payload.img > /dev/null
dd if=/dev/zero of="$SLOTB" bs=4M count=$((SIZE / 4194304)) oflag=direct conv=fsync status=none

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
COUNT=$((SIZE / 4194304))
# Each method is timed by bash's `time`: wall seconds, and CPU seconds (user + system
# of the method and its children), which the other load on the machine affects less.
TIMEFORMAT='%R %U %S'
measure() { # OUT_PREFIX CMD...; a failed run stops the benchmark with its error
  local out=$1; shift
  { time "$@" 2> run.err ; } 2> time.tmp || { echo "failed: $*" >&2; cat run.err >&2; exit 1; }
  tail -1 time.tmp | awk '{print $1}' >> "t_$out"
  tail -1 time.tmp | awk '{print $2 + $3}' >> "c_$out"
}
: > t_ours; : > t_sum; : > t_ossl; : > c_ours; : > c_sum; : > c_ossl
for i in $(seq "$ROUNDS"); do
  measure ours "$BIN" --root "$R" activate --yes fw.iso > /dev/null
  measure sum bash -c "dd if=payload.img of=$SLOTB bs=4M oflag=direct conv=fsync status=none && dd if=$SLOTB iflag=direct bs=4M count=$COUNT status=none | sha256sum > got.sum"
  [ "$(cut -d' ' -f1 got.sum)" = "$PSHA" ] || { echo "sha256sum pipeline read back a different hash" >&2; exit 1; }
  measure ossl bash -c "dd if=payload.img of=$SLOTB bs=4M oflag=direct conv=fsync status=none && dd if=$SLOTB iflag=direct bs=4M count=$COUNT status=none | openssl dgst -sha256 -r > got.sum"
  [ "$(cut -d' ' -f1 got.sum)" = "$PSHA" ] || { echo "openssl pipeline read back a different hash" >&2; exit 1; }
done

OURS=$(median < t_ours); SUM=$(median < t_sum); OSSL=$(median < t_ossl)
COURS=$(median < c_ours); CSUM=$(median < c_sum); COSSL=$(median < c_ossl)
echo
echo "activate of a 2 GiB payload onto a loop-device partition (write + read-back verify)"
echo "median of $ROUNDS rounds, $(nproc) cores, load average before: $LOAD"
printf '%-50s %8s %7s %8s %7s\n' "method" "wall s" "ratio" "CPU s" "ratio"
printf '%-50s %8.2f %7s %8.2f %7s\n' "upgrade-console activate" "$OURS" "1.00" "$COURS" "1.00"
printf '%-50s %8.2f %7.2f %8.2f %7.2f\n' "dd oflag=direct + dd iflag=direct | sha256sum" "$SUM" "$(echo "$OURS / $SUM" | bc -l)" "$CSUM" "$(echo "$COURS / $CSUM" | bc -l)"
printf '%-50s %8.2f %7.2f %8.2f %7.2f\n' "dd oflag=direct + dd iflag=direct | openssl dgst" "$OSSL" "$(echo "$OURS / $OSSL" | bc -l)" "$COSSL" "$(echo "$COURS / $COSSL" | bc -l)"
echo "(ratio = upgrade-console / method; goals on wall time: <= 0.35 vs sha256sum, <= 1.0 vs openssl)"
echo "raw wall: ours $(tr '\n' ' ' < t_ours)| sha256sum $(tr '\n' ' ' < t_sum)| openssl $(tr '\n' ' ' < t_ossl)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

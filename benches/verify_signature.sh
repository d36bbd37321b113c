#!/usr/bin/env bash
# What the signature check costs verify: a 2 GiB firmware ISO whose manifest is signed
# with the minisign CLI, verified on a root that trusts the key. verify --json reports
# the time spent reading and hashing the image (image + payload digests, one read) and
# the time spent on the signature (trust anchors read, signature found in the image,
# checked), measured in the same run. Median of RUNS runs, page cache warm.
#   bash benches/verify_signature.sh [SIZE_MIB] [RUNS] [PROFILE]
# PROFILE is debug (default: the hashing crates are optimised in it too, see
# Cargo.toml) or release.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-2048}
runs=${2:-5}
profile=${3:-debug}
work=${BENCH_DIR:-/tmp/upgrade-console-bench-signature}
if [ "$profile" = release ]; then cargo build --release -q; else cargo build -q; fi
bin=${CARGO_TARGET_DIR:-$PWD/target}/$profile/upgrade-console
command -v minisign >/dev/null || { echo "needs minisign (apt-get install -y minisign)"; exit 2; }
mkdir -p "$work/src/firmware" "$work/root/usr/share/upgrade-console/trusted-keys" "$work/key"
iso=$work/fw-$size_mib.iso
if [ ! -f "$work/key/k.key" ]; then
  minisign -G -W -f -p "$work/key/k.pub" -s "$work/key/k.key" >/dev/null
fi
cp "$work/key/k.pub" "$work/root/usr/share/upgrade-console/trusted-keys/bench.pub"
if [ ! -f "$iso" ]; then
  head -c "${size_mib}M" /dev/urandom > "$work/src/firmware/rootfs.img"
  ph=$(sha256sum "$work/src/firmware/rootfs.img" | cut -d' ' -f1)
  printf '[firmware]\nproduct = "sps"\nversion = "7.3.1"\nkind = "maintenance"\n[upgrade]\nfrom = ["7.0.1"]\n[payload]\nfile = "firmware/rootfs.img"\nsize = %s\nsha256 = "%s"\n' \
    "$(stat -c %s "$work/src/firmware/rootfs.img")" "$ph" > "$work/src/firmware/manifest.toml"
  minisign -S -s "$work/key/k.key" -m "$work/src/firmware/manifest.toml" -t "product=sps version=7.3.1" >/dev/null
  xorriso -as mkisofs -quiet -o "$iso" -J -R "$work/src" 2>/dev/null
  rm -f "$work/src/firmware/rootfs.img"
fi
ih=$(sha256sum "$iso" | cut -d' ' -f1)
cat "$iso" >/dev/null
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
hs=""; ss=""
for i in $(seq "$runs"); do
  out=$("$bin" --root "$work/root" --json verify "$iso" --sha256 "$ih" 2>/dev/null)
  echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["signer"], r["signature_error"]'
  hs+=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash_seconds"])')$'\n'
  ss+=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["signature_seconds"])')$'\n'
done
h=$(printf '%s' "$hs" | median); s=$(printf '%s' "$ss" | median)
printf '\nverify of a %s MiB signed ISO (%s build), median of %s runs, page cache warm; load %s\n\n' \
  "$size_mib" "$profile" "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| part | seconds |\n|---|---|\n'
printf '| without the signature check (read + image and payload SHA-256) | %.3f |\n' "$h"
printf '| the signature check (trust anchors, signature, Ed25519) | %.6f |\n' "$s"
printf '| with the signature check | %.3f |\n' "$(echo "$h + $s" | bc -l)"
printf '| signature share of the time | %.4f %% |\n' "$(echo "100 * $s / ($h + $s)" | bc -l)"

#!/usr/bin/env bash
# verify (image + payload SHA-256, one read) against sha256sum and openssl dgst on a
# 2 GiB firmware ISO, page cache warm and dropped. Runs are interleaved and the median
# taken, so load from elsewhere on the machine hits every tool alike. Cold runs on this
# virtual disk are bimodal for every tool (some take ~2.5 s more system time), so the
# median of several runs is what compares.
#   bash benches/verify.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-2048}
runs=${2:-5}
work=${BENCH_DIR:-/tmp/upgrade-console-bench-verify}
cargo build --release -q
bin=$PWD/target/release/upgrade-console
mkdir -p "$work/src/firmware"
iso=$work/fw-$size_mib.iso
if [ ! -f "$iso" ]; then
  head -c "${size_mib}M" /dev/urandom > "$work/src/firmware/rootfs.img"
  ph=$(sha256sum "$work/src/firmware/rootfs.img" | cut -d' ' -f1)
  printf '[firmware]\nproduct = "sps"\nversion = "7.3.1"\nkind = "maintenance"\n[upgrade]\nfrom = ["7.0.1"]\n[payload]\nfile = "firmware/rootfs.img"\nsize = %s\nsha256 = "%s"\n' \
    "$(stat -c %s "$work/src/firmware/rootfs.img")" "$ph" > "$work/src/firmware/manifest.toml"
  xorriso -as mkisofs -quiet -o "$iso" -J -R "$work/src" 2>/dev/null
  rm -f "$work/src/firmware/rootfs.img"
fi
ih=$(sha256sum "$iso" | cut -d' ' -f1)
bytes=$(stat -c %s "$iso")

can_drop=0
if [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi

t() { # prints seconds for one run of the command
  local s e
  s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A res
for cache in warm dropped; do
  if [ $cache = dropped ] && [ $can_drop = 0 ]; then continue; fi
  declare -A acc=([verify]="" [sha256sum]="" [openssl]="")
  n=$runs
  [ $cache = warm ] && { cat "$iso" >/dev/null; }
  for i in $(seq "$n"); do
    for tool in verify sha256sum openssl; do
      [ $cache = dropped ] && { sync; echo 3 > /proc/sys/vm/drop_caches; }
      case $tool in
        verify) s=$(t "$bin" --root "$work" verify "$iso" --sha256 "$ih") ;;
        sha256sum) s=$(t sha256sum "$iso") ;;
        openssl) s=$(t openssl dgst -sha256 "$iso") ;;
      esac
      acc[$tool]+="$s"$'\n'
    done
  done
  for tool in verify sha256sum openssl; do
    res[$cache,$tool]=$(printf '%s' "${acc[$tool]}" | median)
  done
done

printf '\nverify of a %s MiB ISO (%s bytes): image + payload hashed in one read; median of interleaved runs\n\n' "$size_mib" "$bytes"
printf '%-8s %-34s %9s %9s %14s\n' cache tool seconds "GB/s" "verify/tool"
for cache in warm dropped; do
  [ -n "${res[$cache,verify]:-}" ] || continue
  for tool in verify sha256sum openssl; do
    s=${res[$cache,$tool]}
    label=$tool
    case $tool in
      verify) label="upgrade-console verify (2 digests)" ;;
      sha256sum) label="sha256sum (1 digest)" ;;
      openssl) label="openssl dgst -sha256 (1 digest)" ;;
    esac
    printf '%-8s %-34s %9.3f %9.2f %14.2f\n' "$cache" "$label" "$s" "$(echo "$bytes / $s / 1000000000" | bc -l)" "$(echo "${res[$cache,verify]} / $s" | bc -l)"
  done
done
[ $can_drop = 1 ] || echo "(page-cache-dropped runs skipped: /proc/sys/vm/drop_caches is not writable; run as root)"

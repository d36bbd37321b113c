#!/usr/bin/env bash
# verify (image SHA-256 + payload digest, one read) against openssl dgst -sha256 and
# sha256sum on a firmware ISO of SIZE_MIB (default 2 GiB), in three conditions:
#   warm    the image in the page cache;
#   cold    the page cache dropped before every run (needs root);
#   loaded  warm, with the other core kept busy by a `sha256sum /dev/zero` started
#           and stopped by this script.
# Two images of the same payload: one whose manifest carries the payload's BLAKE3 (what
# verify checks then: "verify"), one with its SHA-256 only, as older images are
# ("verify-sha256": two SHA-256 streams).
# Runs are interleaved (verify, verify-sha256, openssl, ...) so load from elsewhere
# hits every tool alike; each table gives min / median / max and the ratio of the
# medians (and of the minimums) tool/openssl.
#   bash benches/verify.sh [SIZE_MIB] [RUNS] [CONDITIONS]     (defaults 2048 9 "warm cold loaded")
#   SKIP_SHA256SUM=1 leaves sha256sum out (it has no SHA-NI here: ~6x slower).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-2048}
runs=${2:-9}
conditions=${3:-warm cold loaded}
work=${BENCH_DIR:-/tmp/upgrade-console-bench-verify}
if [ -z "${BIN:-}" ]; then
  cargo build --release -q
  BIN=$PWD/target/release/upgrade-console
fi
for t in minisign b3sum xorriso bc; do
  command -v $t >/dev/null || { echo "needs $t (apt-get install -y $t)" >&2; exit 2; }
done
# A signed image on a root that trusts its key: verify runs its whole path (exit 0).
mkdir -p "$work/src/firmware" "$work/root/usr/share/upgrade-console/trusted-keys" "$work/key"
if [ ! -f "$work/key/k.key" ]; then
  minisign -G -W -f -p "$work/key/k.pub" -s "$work/key/k.key" >/dev/null
fi
cp "$work/key/k.pub" "$work/root/usr/share/upgrade-console/trusted-keys/bench.pub"
iso=$work/fw-$size_mib-b3.iso
iso_sha=$work/fw-$size_mib-sha256.iso
if [ ! -f "$iso" ] || [ ! -f "$iso_sha" ]; then
  head -c "${size_mib}M" /dev/urandom > "$work/src/firmware/rootfs.img"
  ph=$(sha256sum "$work/src/firmware/rootfs.img" | cut -d' ' -f1)
  b3=$(b3sum --no-names "$work/src/firmware/rootfs.img")
  for kind in sha256 b3; do
    extra=
    [ $kind = b3 ] && extra="blake3 = \"$b3\""$'\n'
    printf '[firmware]\nproduct = "sps"\nversion = "7.3.1"\nkind = "maintenance"\n[upgrade]\nfrom = ["7.0.1"]\n[payload]\nfile = "firmware/rootfs.img"\nsize = %s\nsha256 = "%s"\n%s' \
      "$(stat -c %s "$work/src/firmware/rootfs.img")" "$ph" "$extra" > "$work/src/firmware/manifest.toml"
    rm -f "$work/src/firmware/manifest.toml.minisig"
    minisign -S -s "$work/key/k.key" -m "$work/src/firmware/manifest.toml" -t "product=sps version=7.3.1" >/dev/null
    xorriso -as mkisofs -quiet -o "$work/fw-$size_mib-$kind.iso" -J -R "$work/src" 2>/dev/null
  done
  rm -f "$work/src/firmware/rootfs.img"
fi
ih=$(openssl dgst -sha256 -r "$iso" | cut -d' ' -f1)
ih_sha=$(openssl dgst -sha256 -r "$iso_sha" | cut -d' ' -f1)
bytes=$(stat -c %s "$iso")
tools=(verify verify-sha256 openssl)
[ "${SKIP_SHA256SUM:-0}" = 1 ] || tools+=(sha256sum)

load_pid=
stop_load() { [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null || true; load_pid=; }
trap stop_load EXIT

t() { # seconds of one run; a failed run stops the benchmark
  local s e
  s=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
stats() { # min median max of the numbers on stdin
  sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f %.3f %.3f\n", a[1], m, a[NR]}'
}

declare -A res
for cond in $conditions; do
  if [ "$cond" = cold ] && [ ! -w /proc/sys/vm/drop_caches ]; then
    echo "(cold runs skipped: /proc/sys/vm/drop_caches is not writable; run as root)" >&2
    continue
  fi
  declare -A acc=()
  cat "$iso" "$iso_sha" >/dev/null
  if [ "$cond" = loaded ]; then
    sha256sum /dev/zero >/dev/null & load_pid=$!
    sleep 0.5
  fi
  for _ in $(seq "$runs"); do
    for tool in "${tools[@]}"; do
      [ "$cond" = cold ] && { sync; echo 3 > /proc/sys/vm/drop_caches; }
      case $tool in
        verify) s=$(t "$BIN" --root "$work/root" verify "$iso" --sha256 "$ih") ;;
        verify-sha256) s=$(t "$BIN" --root "$work/root" verify "$iso_sha" --sha256 "$ih_sha") ;;
        openssl) s=$(t openssl dgst -sha256 "$iso") ;;
        sha256sum) s=$(t sha256sum "$iso") ;;
      esac
      acc[$tool]+="$s"$'\n'
    done
  done
  stop_load
  for tool in "${tools[@]}"; do
    res[$cond,$tool]=$(printf '%s' "${acc[$tool]}" | stats)
  done
done

printf '\nverify of a %s MiB ISO (%s bytes): image + payload hashed in one read; %s interleaved runs; %s cores\n' \
  "$size_mib" "$bytes" "$runs" "$(nproc)"
printf '\n%-7s %-34s %8s %8s %8s %7s %13s %12s\n' cond tool min median max "GB/s" "x openssl" "(of mins)"
for cond in $conditions; do
  [ -n "${res[$cond,openssl]:-}" ] || continue
  read -r omin omed _ <<<"${res[$cond,openssl]}"
  for tool in "${tools[@]}"; do
    read -r mn md mx <<<"${res[$cond,$tool]}"
    case $tool in
      verify) label="verify (SHA-256 + BLAKE3)" ;;
      verify-sha256) label="verify (2 x SHA-256, older images)" ;;
      openssl) label="openssl dgst -sha256 (1 digest)" ;;
      sha256sum) label="sha256sum (1 digest)" ;;
    esac
    printf '%-7s %-34s %8s %8s %8s %7.2f %13.2f %12.2f\n' "$cond" "$label" "$mn" "$md" "$mx" \
      "$(echo "$bytes / $md / 1000000000" | bc -l)" "$(echo "$md / $omed" | bc -l)" "$(echo "$mn / $omin" | bc -l)"
  done
done
# The floor: one SHA-256 stream over the image's bytes, in memory, no read at all (the
# image's own digest, which the pasted hash needs, cannot be split across cores).
mbps=$(openssl speed -seconds 3 -bytes 2097152 -evp sha256 2>/dev/null | awk '/^sha256/ {print $2}' | tr -d k)
if [ -n "$mbps" ] && [ -n "${res[warm,openssl]:-}" ]; then
  read -r _ omed _ <<<"${res[warm,openssl]}"
  floor=$(echo "$bytes / ($mbps * 1000)" | bc -l)
  printf '\nfloor   one SHA-256 stream of %s bytes in memory (openssl speed: %.0f MB/s): %.3f s = %.2f x openssl warm\n' \
    "$bytes" "$(echo "$mbps / 1000" | bc -l)" "$floor" "$(echo "$floor / $omed" | bc -l)"
fi

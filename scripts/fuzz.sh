#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input: appliance.toml and its redaction, the
# firmware manifest, the journal, the GRUB environment block, pasted hash forms, the
# log server's request head and ISO opening. Each target runs for a bounded time from
# the seed corpus in fuzz/seeds/TARGET (inputs it finds go to fuzz/corpus/TARGET, not
# committed); a crash stops the script with its input in fuzz/artifacts/TARGET.
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Needs cargo-fuzz (installed here if missing); stable Rust works through
# RUSTC_BOOTSTRAP=1, as cargo-fuzz needs nightly flags for the sanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(config manifest journal grubenv hash_forms http_head iso_open)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: installing it (cargo install cargo-fuzz --locked)" >&2
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
cd fuzz
cargo fuzz build
printf '%-11s %8s %10s %8s %7s  %s\n' target seconds runs runs/s cov result
status=0
for t in "${targets[@]}"; do
  [ -d "seeds/$t" ] || { echo "no seed corpus fuzz/seeds/$t" >&2; exit 2; }
  mkdir -p "corpus/$t" "artifacts/$t"
  max_len=4096
  [ "$t" = iso_open ] && max_len=131072
  log=$(mktemp)
  set +e
  cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  result=ok
  if [ $rc -ne 0 ]; then
    result="CRASH (exit $rc): $(ls -t "artifacts/$t" 2>/dev/null | head -1)"
    status=1
    grep -m5 -E 'panicked|ERROR: AddressSanitizer|ERROR: libFuzzer' "$log" >&2 || true
  fi
  printf '%-11s %8s %10s %8s %7s  %s\n' "$t" "$secs" "${runs:-0}" \
    "$(( ${runs:-0} / (secs > 0 ? secs : 1) ))" "${cov:-?}" "$result"
  rm -f "$log"
done
exit $status

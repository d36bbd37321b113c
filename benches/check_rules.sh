#!/usr/bin/env bash
# `check` with the configuration rules on an appliance whose appliance.toml names
# 1,000 certificates and 1,000 SSH keys: wall time and peak memory (goal < 1 s and
# < 64 MiB), for the whole `check ISO` command and for the rules alone
# (examples/rules_bench.rs: rules::evaluate). Peers in the same run: openssl parsing
# the same 1,000 certificates (`openssl x509 -noout -text`, one process per file,
# as a shell loop over the files would) and ssh-keygen fingerprinting the same 1,000
# keys (`ssh-keygen -l -f`). Runs are interleaved; the median is reported.
#   bash benches/check_rules.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=${BENCH_DIR:-/tmp/upgrade-console-bench-rules}
cargo build --release -q --bin upgrade-console --example rules_bench
bin=$PWD/target/release/upgrade-console
ex=$PWD/target/release/examples/rules_bench
root=$work/appliance
rules=$PWD/assets/demo/rules.toml

if [ ! -f "$work/ready" ]; then
  rm -rf "$work"; mkdir -p "$work/keys"
  "$bin" demo "$root" </dev/null >/dev/null 2>&1
  certs=$root/etc/appliance/certs keys=$root/etc/appliance/keys
  mkdir -p "$certs" "$keys"
  ( cd "$work/keys"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048 2>/dev/null
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-192 -out p192 2>/dev/null )
  # 1,000 distinct certificates: mostly RSA-2048 and P-256 with SHA-256; every 10th
  # RSA-1024, every 10th P-192, every 20th SHA-1-signed: about 150 findings.
  for i in $(seq 1 1000); do
    case $((i % 10)) in 0) k=rsa1024 ;; 5) k=p192 ;; 1|3|7|9) k=p256 ;; *) k=rsa2048 ;; esac
    h=sha256; [ $((i % 20)) = 2 ] && h=sha1
    openssl req -x509 -key "$work/keys/$k" -"$h" -days 365 -subj "/O=Bench/CN=host-$i.example.com" \
      -addext basicConstraints=CA:FALSE -out "$certs/c$i.pem" 2>/dev/null
  done
  # 1,000 distinct SSH keys: Ed25519, ECDSA, RSA-3072, and every 50th DSA.
  for i in $(seq 1 1000); do
    case $((i % 10)) in 0|5) t="-t ecdsa -b 256" ;; 3) t="-t rsa -b 3072" ;; *) t="-t ed25519" ;; esac
    [ $((i % 50)) = 0 ] && t="-t dsa"
    ssh-keygen -q $t -N "" -C "key-$i" -f "$work/keys/s$i"
    mv "$work/keys/s$i.pub" "$keys/k$i.pub"; rm -f "$work/keys/s$i"
  done
  python3 - "$root/etc/appliance/appliance.toml" <<'PY'
import sys
p = sys.argv[1]
text = open(p).read()
head, _, rest = text.partition("[product]")
lines = ["[product]", "disk_fillup_prevention_percent = 80", "ldap_response_timeout_s = 120",
         "rdp_settings = [\"default\"]", "inband_destinations = [\"files.example.com\"]",
         "plugins = [{ name = \"credstore\", version = \"2.2.0\" }]",
         "external_indexers = [{ host = \"idx-1.example.com\", version = \"7.3.1\" }]",
         "certificates = ["]
lines += [f'  {{ path = "etc/appliance/certs/c{i}.pem", use = "web" }},' for i in range(1, 1001)]
lines += ["]", "ssh_keys = ["]
lines += [f'  {{ path = "etc/appliance/keys/k{i}.pub", use = "ssh-host" }},' for i in range(1, 1001)]
lines += ["]"]
open(p, "w").write(head + "\n".join(lines) + "\n")
PY
  # The demo's 7.3.1 image with the demo rules appended to its manifest.
  mkdir -p "$work/iso"
  xorriso -osirrox on -indev "$root/images/sps-7.3.1.iso" -extract / "$work/iso" >/dev/null 2>&1
  chmod -R u+w "$work/iso"
  cat "$rules" >> "$work/iso/firmware/manifest.toml"
  xorriso -as mkisofs -quiet -R -J -V SPS_7_3_1 -o "$work/rules.iso" "$work/iso" 2>/dev/null
  touch "$work/ready"
fi
certs=$root/etc/appliance/certs keys=$root/etc/appliance/keys

# One run under /usr/bin/time -v: prints "seconds max_rss_kib".
measure() {
  local out
  out=$( { /usr/bin/time -v "$@" >/dev/null 2>/dev/null; } 2>&1 || true)
  local wall rss
  wall=$(printf '%s\n' "$out" | awk -F': ' '/Elapsed \(wall clock\)/ {print $2}')
  rss=$(printf '%s\n' "$out" | awk -F': ' '/Maximum resident set size/ {print $2}')
  # h:mm:ss or m:ss.ss -> seconds
  echo "$wall" | awk -F: '{s=0; for(i=1;i<=NF;i++) s=s*60+$i; printf "%.3f ", s}'
  echo "$rss"
}
openssl_all() { for f in "$certs"/c*.pem; do openssl x509 -noout -text -in "$f" >/dev/null; done; }
sshkeygen_all() { for f in "$keys"/k*.pub; do ssh-keygen -l -f "$f" >/dev/null; done; }
export -f openssl_all sshkeygen_all; export certs keys

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
maxof() { sort -g | tail -1; }

tools=(check rules openssl ssh-keygen)
declare -A T M
for t in "${tools[@]}"; do T[$t]=""; M[$t]=""; done
code=0; "$bin" --root "$root" check "$work/rules.iso" >/dev/null 2>&1 || code=$?
for i in $(seq "$runs"); do
  for t in "${tools[@]}"; do
    case $t in
      check) r=$(measure "$bin" --root "$root" check "$work/rules.iso") ;;
      rules) r=$(measure "$ex" "$root" "$rules") ;;
      openssl) r=$(measure bash -c openssl_all) ;;
      ssh-keygen) r=$(measure bash -c sshkeygen_all) ;;
    esac
    T[$t]+="${r% *}"$'\n'; M[$t]+="${r#* }"$'\n'
  done
done

summary=$("$ex" "$root" "$rules")
printf '\n1,000 certificates + 1,000 SSH keys in appliance.toml; %s runs, median wall time, max peak RSS\n' "$runs"
printf '%s\n(check exit code %s: 1 = blockers found, as intended)\n\n' "$summary" "$code"
printf '%-44s %9s %10s %10s\n' tool seconds "peak MiB" "ratio"
base=$(printf '%s' "${T[rules]}" | median)
for t in "${tools[@]}"; do
  s=$(printf '%s' "${T[$t]}" | median)
  m=$(printf '%s' "${M[$t]}" | maxof)
  case $t in
    check) name="upgrade-console check ISO (whole test)" ;;
    rules) name="rules::evaluate (examples/rules_bench)" ;;
    openssl) name="openssl x509 -noout -text, 1,000 certs" ;;
    ssh-keygen) name="ssh-keygen -l -f, 1,000 keys" ;;
  esac
  printf '%-44s %9.3f %10.1f %9.1fx\n' "$name" "$s" "$(echo "$m / 1024" | bc -l)" "$(echo "$s / $base" | bc -l)"
done
printf '\nratio = seconds / rules::evaluate seconds (peer tools parse one file per process).\n'

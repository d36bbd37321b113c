#!/usr/bin/env bash
# `check` with the image's TLS and SSH rules over 1,000 certificate files (each a
# leaf + CA chain: 2,000 certificates) and 1,000 SSH public keys, against peers in
# the same run: `openssl x509 -noout -text` and `ssh-keygen -l -f` over the same
# files. Also `check` with a rule-less image, to show what the rules add. Runs are
# interleaved and the median taken; peak memory from /usr/bin/time -v.
# Goals: check with rules under 1 s and under 64 MiB.
#   bash benches/check_rules.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
n=1000
work=${BENCH_DIR:-/tmp/upgrade-console-bench-rules}
cargo build --release -q
bin=$PWD/target/release/upgrade-console
root=$work/root

if [ ! -f "$work/ready" ]; then
  rm -rf "$work"; mkdir -p "$work/gen" "$root"
  "$bin" demo "$root" >/dev/null
  # 100 distinct certificates (RSA-2048, RSA-3072, P-256, P-384 leaves under one
  # CA) and 100 distinct SSH keys, spread over 1,000 distinct paths each.
  g=$work/gen
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$g/ca.key" -out "$g/ca.pem" \
    -subj "/CN=Bench CA" -days 30 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
  specs=(rsa:2048 rsa:3072 ec:P-256 ec:P-384)
  for i in $(seq 0 99); do
    spec=${specs[$((i % 4))]}
    case $spec in
      ec:*) ka=(-newkey ec -pkeyopt "ec_paramgen_curve:${spec#ec:}") ;;
      *) ka=(-newkey "$spec") ;;
    esac
    openssl req -new "${ka[@]}" -nodes -keyout "$g/k$i" -out "$g/c$i.csr" -subj "/CN=host-$i.bench" 2>/dev/null
    openssl x509 -req -in "$g/c$i.csr" -CA "$g/ca.pem" -CAkey "$g/ca.key" -CAcreateserial \
      -out "$g/c$i.pem" -days 30 -sha256 2>/dev/null
    cat "$g/ca.pem" >> "$g/c$i.pem"
    case $((i % 3)) in
      0) ssh-keygen -q -t ed25519 -N '' -f "$g/s$i" ;;
      1) ssh-keygen -q -t ecdsa -b 256 -N '' -f "$g/s$i" ;;
      2) ssh-keygen -q -t rsa -b 2048 -N '' -f "$g/s$i" ;;
    esac
  done
  mkdir -p "$root/etc/appliance/certs" "$root/etc/appliance/keys"
  certs="" keys=""
  for i in $(seq 0 $((n - 1))); do
    cp "$g/c$((i % 100)).pem" "$root/etc/appliance/certs/cert-$i.pem"
    cp "$g/s$((i % 100)).pub" "$root/etc/appliance/keys/key-$i.pub"
    certs+="{ path = \"etc/appliance/certs/cert-$i.pem\", use = \"web\" }, "
    keys+="{ path = \"etc/appliance/keys/key-$i.pub\", use = \"ssh-host\" }, "
  done
  # [product] is the demo configuration's last table: append to it.
  printf 'certificates = [%s]\nssh_keys = [%s]\n' "$certs" "$keys" >> "$root/etc/appliance/appliance.toml"
  # The demo's 7.3.1 image, its manifest given the TLS and SSH rules.
  x=$work/iso; mkdir -p "$x"
  xorriso -osirrox on -indev "$root/images/sps-7.3.1.iso" -extract / "$x" 2>/dev/null
  chmod -R u+w "$x"
  printf '\n[[rules]]\nkind = "tls-keys"\n\n[[rules]]\nkind = "ssh-keys"\n' >> "$x/firmware/manifest.toml"
  xorriso -as mkisofs -quiet -o "$work/rules.iso" -J -R -V SPS_7_3_1 "$x" 2>/dev/null
  rm -rf "$x"
  touch "$work/ready"
fi
cp "$root/images/sps-7.3.1.iso" "$work/plain.iso" 2>/dev/null || true

# Sanity: the rules ran over every file and passed.
out=$("$bin" --root "$root" check "$work/rules.iso") || { echo "$out"; echo "check failed" >&2; exit 1; }
echo "$out" | grep -E "tls-keys|ssh-keys" | sed 's/^/  /'

# Peers: one process per file (what a shell script would do), and one process over
# all the files concatenated (the parsing alone).
cat "$root"/etc/appliance/certs/*.pem > "$work/all-certs.pem"
cat "$root"/etc/appliance/keys/*.pub > "$work/all-keys.pub"
peer_openssl() { for f in "$root"/etc/appliance/certs/*.pem; do openssl x509 -noout -text -in "$f" >/dev/null; done; }
peer_sshkeygen() { for f in "$root"/etc/appliance/keys/*.pub; do ssh-keygen -l -f "$f" >/dev/null; done; }
peer_openssl_one() { openssl crl2pkcs7 -nocrl -certfile "$work/all-certs.pem" | openssl pkcs7 -print_certs -text -noout >/dev/null; }
peer_sshkeygen_one() { ssh-keygen -l -f "$work/all-keys.pub" >/dev/null; }
export -f peer_openssl peer_sshkeygen peer_openssl_one peer_sshkeygen_one; export root work

measure() { # prints "seconds maxrss_kib" for one run (time -v's clock is too coarse)
  local f s e; f=$(mktemp)
  s=$(date +%s.%N)
  /usr/bin/time -v -o "$f" "$@" >/dev/null 2>&1 || true
  e=$(date +%s.%N)
  local wall rss
  wall=$(echo "$e - $s" | bc -l)
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$f")
  rm -f "$f"; echo "$wall $rss"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A T M
names=("check, rules" "check, no rules" "openssl, 1 process" "ssh-keygen, 1 process" "openssl x509, per file" "ssh-keygen, per file")
for r in $(seq "$runs"); do
  for name in "${names[@]}"; do
    case $name in
      "check, rules") res=$(measure "$bin" --root "$root" check "$work/rules.iso") ;;
      "check, no rules") res=$(measure "$bin" --root "$root" check "$work/plain.iso") ;;
      "openssl, 1 process") res=$(measure bash -c peer_openssl_one) ;;
      "ssh-keygen, 1 process") res=$(measure bash -c peer_sshkeygen_one) ;;
      "openssl x509, per file") res=$(measure bash -c peer_openssl) ;;
      "ssh-keygen, per file") res=$(measure bash -c peer_sshkeygen) ;;
    esac
    T[$name]+="${res% *}"$'\n'; M[$name]+="${res#* }"$'\n'
  done
done

base=$(printf '%s' "${T["check, rules"]}" | median)
echo
echo "check over $n certificate files (2 certs each) + $n SSH keys; median of $runs runs"
printf '%-24s %10s %14s %14s\n' tool "wall (s)" "peak RSS MiB" "time / check"
for name in "${names[@]}"; do
  t=$(printf '%s' "${T[$name]}" | median)
  m=$(printf '%s' "${M[$name]}" | sort -g | tail -1)
  printf '%-24s %10.3f %14.1f %13.2fx\n' "$name" "$t" "$(echo "$m / 1024" | bc -l)" "$(echo "$t / $base" | bc -l)"
done
echo "goals: check with rules < 1 s and < 64 MiB. Peers: openssl x509 -noout -text and"
echo "ssh-keygen -l -f, per file or once over all files concatenated (openssl crl2pkcs7 |"
echo "pkcs7 -print_certs -text); their peak RSS is that of the largest single process."

#!/bin/bash
# Regenerates the demo's throwaway certificates and SSH keys (good/ passes the
# 7.3.1 upgrade test, broken/ trips its rules). Run from assets/demo/; the output
# is committed so the demo itself needs only Rust. Private keys are not kept.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf good broken && mkdir -p good broken
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; }; }
ca() { # dir name subject digest
  q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/$2.key" -out "$1/$2.pem" \
    -subj "$3" -days 3650 "-$4" -addext basicConstraints=critical,CA:TRUE
}
leaf() { # dir name key-spec digest subject ca-dir ca-name [pkeyopt]
  local d=$1 n=$2 spec=$3 md=$4 subj=$5 cad=$6 can=$7; shift 7
  q openssl req -new -newkey "$spec" "$@" -nodes -keyout "$t/$n.key" -out "$t/$n.csr" -subj "$subj"
  echo basicConstraints=CA:FALSE > "$t/ext"
  q openssl x509 -req -in "$t/$n.csr" -CA "$cad/$can.pem" -CAkey "$t/$can.key" \
    -CAcreateserial -CAserial "$t/serial" -out "$t/$n.pem" -days 3650 "-$md" -extfile "$t/ext"
  cat "$t/$n.pem" "$cad/$can.pem" > "$d/$n.pem"   # a chain: leaf, then its CA
}
# Good: SHA-256 chains on RSA-2048 and P-256, a SHA-1 root CA in the trust store
# (exempt: root CAs may be SHA-1), Ed25519 and RSA-3072 host keys.
ca good demo-root-ca "/O=Demo/CN=Demo Root CA" sha256
ca good legacy-root-ca "/O=Demo/CN=Demo Legacy SHA-1 Root CA" sha1
leaf good web rsa:2048 sha256 "/O=Demo/CN=sps-demo.example" good demo-root-ca
leaf good ldap-client ec sha256 "/O=Demo/CN=ldap-client.sps-demo.example" good demo-root-ca \
  -pkeyopt ec_paramgen_curve:prime256v1
q ssh-keygen -q -t ed25519 -N '' -C demo-host -f "$t/ed"; cp "$t/ed.pub" good/ssh_host_ed25519_key.pub
q ssh-keygen -q -t rsa -b 3072 -N '' -C demo-host -f "$t/rsa"; cp "$t/rsa.pub" good/ssh_host_rsa_key.pub
# Broken: RSA-1024 web key, SHA-1-signed SMTP client certificate, P-192 syslog
# certificate, a DSA and an RSA-768 host key; an RSA-1024 timestamping key is
# exempt and stays quiet.
cp good/demo-root-ca.pem broken/demo-root-ca.pem
leaf broken web rsa:1024 sha256 "/O=Demo/CN=sps-demo.example" broken demo-root-ca
leaf broken smtp-client rsa:2048 sha1 "/O=Demo/CN=smtp-client.sps-demo.example" broken demo-root-ca
leaf broken syslog-client ec sha256 "/O=Demo/CN=syslog-client.sps-demo.example" broken demo-root-ca \
  -pkeyopt ec_paramgen_curve:prime192v1
leaf broken timestamping rsa:1024 sha256 "/O=Demo/CN=timestamping.sps-demo.example" broken demo-root-ca
q ssh-keygen -q -t dsa -N '' -C demo-host -f "$t/dsa"; cp "$t/dsa.pub" broken/ssh_host_dsa_key.pub
q openssl genrsa -out "$t/r768.pem" 768
q openssl rsa -in "$t/r768.pem" -pubout -out "$t/r768.pub.pem"
ssh-keygen -i -m PKCS8 -f "$t/r768.pub.pem" | sed 's/$/ demo-host/' > broken/ssh_host_rsa_key.pub
ls good broken

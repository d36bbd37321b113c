#!/bin/bash
# Makes the TLS test certificates in the current directory with openssl, each file
# named after the rule it breaks (or "ok-..." when it must pass). Throwaway keys.
set -euo pipefail
q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; }; }
self() { # name key-spec digest subject [extra req args]
  local name=$1 spec=$2 md=$3 subj=$4; shift 4
  q openssl req -x509 -newkey "$spec" -nodes -keyout "$name.key" -out "$name.pem" \
    -subj "$subj" -days 30 "-$md" "$@"
}
signed() { # name key-spec digest subject ca-name [extfile-line]
  local name=$1 spec=$2 md=$3 subj=$4 ca=$5 ext=${6:-basicConstraints=CA:FALSE}
  q openssl req -new -newkey "$spec" -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj"
  printf '%s\n' "$ext" > "$name.ext"
  q openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
    -out "$name.pem" -days 30 "-$md" -extfile "$name.ext"
}
CA=basicConstraints=critical,CA:TRUE
self ok-root-ca-sha256 rsa:2048 sha256 "/CN=Test Root CA" -addext "$CA"
self ok-root-ca-sha1 rsa:2048 sha1 "/CN=Test SHA1 Root CA" -addext "$CA"
self ok-rsa-2048 rsa:2048 sha256 "/CN=rsa-2048.test"
self tls-key-size-rsa-2047 rsa:2047 sha256 "/CN=rsa-2047.test"
self ok-ec-p224 ec sha256 "/CN=p224.test" -pkeyopt ec_paramgen_curve:secp224r1
self tls-key-size-ec-p192 ec sha256 "/CN=p192.test" -pkeyopt ec_paramgen_curve:prime192v1
self ok-ed25519 ed25519 sha256 "/CN=ed25519.test" 2>/dev/null || true
q openssl dsaparam -out dsa1024.param 1024
q openssl dsaparam -out dsa2048.param 2048
self tls-key-size-dsa-1024 dsa:dsa1024.param sha256 "/CN=dsa-1024.test"
self ok-dsa-2048 dsa:dsa2048.param sha256 "/CN=dsa-2048.test"
self tls-signature-md5-self-signed rsa:2048 md5 "/CN=md5.test" -addext basicConstraints=critical,CA:FALSE
self tls-signature-sha1-self-signed-leaf rsa:2048 sha1 "/CN=sha1-self.test" -addext basicConstraints=critical,CA:FALSE
signed tls-signature-sha1-leaf rsa:2048 sha1 "/CN=sha1-leaf.test" ok-root-ca-sha256
signed tls-signature-md5-leaf rsa:2048 md5 "/CN=md5-leaf.test" ok-root-ca-sha256
signed tls-signature-sha1-intermediate rsa:2048 sha1 "/CN=Test SHA1 Intermediate CA" ok-root-ca-sha1 "$CA"
signed ok-leaf-under-sha1-intermediate rsa:2048 sha256 "/CN=chain-leaf.test" tls-signature-sha1-intermediate
# A chain file: leaf (SHA-256), intermediate (SHA-1: refused), root (SHA-1: exempt).
cat ok-leaf-under-sha1-intermediate.pem tls-signature-sha1-intermediate.pem ok-root-ca-sha1.pem \
  > tls-signature-chain-with-sha1-intermediate.pem
# A good chain: leaf signed by the SHA-256 root, then the root.
signed ok-leaf rsa:2048 sha256 "/CN=leaf.test" ok-root-ca-sha256
cat ok-leaf.pem ok-root-ca-sha256.pem > ok-chain.pem
# Key and certificate in one file (web server style).
cat ok-leaf.key ok-leaf.pem > ok-key-and-cert.pem
openssl x509 -in ok-rsa-2048.pem -outform DER -out ok-rsa-2048.der 2>/dev/null
self exempt-rsa-1024-signing rsa:1024 sha256 "/CN=signing-only.test"
echo "this is not a certificate" > tls-unreadable-garbage.pem
# Private keys on their own, in every PEM form (the guides refuse weak keys too).
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out tls-key-size-rsa-1024-pkcs8.key
q openssl rsa -in tls-key-size-rsa-1024-pkcs8.key -traditional -out tls-key-size-rsa-1024-pkcs1.key
q openssl ecparam -name prime192v1 -genkey -noout -out tls-key-size-ec-p192-sec1.key
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ok-rsa-2048-pkcs8.key
q openssl rsa -in ok-rsa-2048-pkcs8.key -traditional -out ok-rsa-2048-pkcs1.key
q openssl ecparam -name secp224r1 -genkey -noout -out ok-ec-p224-sec1.key
q openssl pkcs8 -topk8 -in ok-rsa-2048-pkcs8.key -passout pass:demo -out tls-key-size-encrypted.key
cat ok-rsa-2048.pem tls-key-size-rsa-1024-pkcs8.key > tls-key-size-good-cert-weak-key.pem
# RSASSA-PSS signatures: with SHA-1 (refused) and with SHA-256 (accepted).
self tls-signature-pss-sha1 rsa:2048 sha1 "/CN=pss-sha1.test" -sigopt rsa_padding_mode:pss -addext basicConstraints=critical,CA:FALSE
self ok-pss-sha256 rsa:2048 sha256 "/CN=pss-sha256.test" -sigopt rsa_padding_mode:pss -addext basicConstraints=critical,CA:FALSE
# An OpenSSL trust-store entry ("TRUSTED CERTIFICATE").
q openssl x509 -in ok-root-ca-sha256.pem -addtrust serverAuth -out ok-trusted-root-ca.pem
rm -f ./*.csr ./*.ext ./*.srl ./*.param

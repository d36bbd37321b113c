#!/bin/bash
# Makes the SSH test keys in the current directory with ssh-keygen (and openssl
# where ssh-keygen refuses to make a weak key), named after the rule they break.
set -euo pipefail
q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; }; }
k() { q ssh-keygen -q -N '' -C "$1@test" -t "$2" "${@:3}" -f "$1"; }
k ok-ed25519 ed25519
k ok-ecdsa-p256 ecdsa -b 256
k ok-rsa-1024 rsa -b 1024
k ok-rsa-3072 rsa -b 3072
k ssh-key-type-dsa dsa
# ssh-keygen will not make RSA under 1024 bits: make it with openssl, convert.
q openssl genrsa -out rsa768.pem 768
q openssl rsa -in rsa768.pem -pubout -out rsa768.pub.pem
ssh-keygen -i -m PKCS8 -f rsa768.pub.pem > ssh-key-size-rsa-768.pub
q openssl genrsa -out rsa1023.pem 1023
q openssl rsa -in rsa1023.pem -pubout -out rsa1023.pub.pem
ssh-keygen -i -m PKCS8 -f rsa1023.pub.pem > ssh-key-size-rsa-1023.pub
# An X.509 certificate given as an SSH host key.
q openssl req -x509 -newkey rsa:2048 -nodes -keyout x509.key -out ssh-key-type-x509-host-cert.pem \
  -subj /CN=host.test -days 30
# An x509v3 public key line (RFC 6187 style), as some appliances store them.
printf 'x509v3-sign-rsa %s host@test\n' "$(grep -v -- ----- ssh-key-type-x509-host-cert.pem | tr -d '\n')" \
  > ssh-key-type-x509v3.pub
# An OpenSSH host certificate on an Ed25519 key, signed by an Ed25519 CA: accepted.
k ca ed25519
q ssh-keygen -s ca -I host -h -n host.test ok-ed25519.pub
# ssh-keygen will not load an RSA key under 1024 bits to sign it: certify RSA-1024
# (accepted) and DSA (refused) instead.
q ssh-keygen -s ca -I host -h -n host.test ok-rsa-1024.pub
cp ssh-key-type-dsa.pub dsa-host.pub
q ssh-keygen -s ca -I host -h -n host.test dsa-host.pub
mv dsa-host-cert.pub ssh-key-type-dsa-cert.pub; rm dsa-host.pub
# authorized_keys style: several keys, one with options, comments and blanks.
{ echo "# trusted keys"; cat ok-ed25519.pub; echo; echo "from=\"10.0.0.0/8\" $(cat ok-rsa-3072.pub)"; cat ssh-key-type-dsa.pub; } \
  > ssh-key-type-dsa-in-authorized-keys.pub
echo "ssh-rsa not-base64!! broken@test" > ssh-unreadable-garbage.pub
# Legacy PEM private host keys (ssh-keygen -m PEM; OpenSSH before 7.8 wrote RSA so).
k ok-rsa-2048-pem rsa -b 2048 -m PEM
k ok-ecdsa-pem ecdsa -b 256 -m PEM
q openssl genrsa -traditional -out ssh-key-size-rsa-768-pem 768
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:768 -out ssh-key-size-rsa-768-pkcs8
rm -f rsa768.pem rsa768.pub.pem rsa1023.pem rsa1023.pub.pem x509.key

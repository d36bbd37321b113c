#!/usr/bin/env bash
# Regenerates the demo's throwaway certificates and keys (committed, so the demo needs
# only the Rust toolchain). Needs openssl, ssh-keygen and python3. Never use these on
# a real appliance: the private keys are public in this repository.
set -euo pipefail
cd "$(dirname "$0")"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
days=7300

# A self-signed CA: selfca NAME KEYSPEC HASH OUTKEY OUTCERT
selfca() {
  openssl req -x509 -newkey "$2" -nodes -keyout "$4" -out "$5" -"$3" -days $days \
    -subj "/O=Demo/CN=$1" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# A certificate signed by a CA: signed NAME KEYSPEC HASH CAKEY CACERT OUTKEY OUTCERT CA?
signed() {
  openssl req -new -newkey "$2" -nodes -keyout "$6" -out "$T/req.csr" -subj "/O=Demo/CN=$1" 2>/dev/null
  if [ "$8" = ca ]; then ext="basicConstraints=critical,CA:TRUE"; else ext="basicConstraints=CA:FALSE
subjectAltName=DNS:$1"; fi
  printf '%s\n' "$ext" > "$T/ext"
  openssl x509 -req -in "$T/req.csr" -CA "$5" -CAkey "$4" -CAcreateserial -"$3" -days $days \
    -extfile "$T/ext" -out "$7" 2>/dev/null
}
# An OpenSSH public key line from an openssl RSA key (ssh-keygen refuses < 1024 bits).
rsa_to_ssh() {
  python3 - "$1" "$2" <<'PY'
import base64, re, struct, subprocess, sys
text = subprocess.run(["openssl", "rsa", "-in", sys.argv[1], "-noout", "-modulus"], capture_output=True, text=True, check=True).stdout
n = int(re.search(r"Modulus=([0-9A-F]+)", text).group(1), 16)
def mpint(x):
    b = x.to_bytes((x.bit_length() + 8) // 8, "big")
    return struct.pack(">I", len(b)) + b
def s(b): return struct.pack(">I", len(b)) + b
blob = s(b"ssh-rsa") + mpint(65537) + mpint(n)
print("ssh-rsa " + base64.b64encode(blob).decode() + " " + sys.argv[2])
PY
}

# --- good: passes the 7.3.1 rules ---
selfca "Demo Root CA (SHA-1, exempt as a root)" rsa:2048 sha1 "$T/root.key" "$T/root.pem"
signed "Demo Intermediate CA" rsa:2048 sha256 "$T/root.key" "$T/root.pem" "$T/int.key" "$T/int.pem" ca
signed "sps-demo.example.com" rsa:2048 sha256 "$T/int.key" "$T/int.pem" good/web.key "$T/web.pem" leaf
cat "$T/web.pem" "$T/int.pem" "$T/root.pem" > good/web.pem
selfca "Demo Internal CA (P-256)" ec:<(openssl ecparam -name prime256v1) sha256 "$T/ica.key" good/internal-ca.pem
signed "ldap-client.sps-demo.example.com" ec:<(openssl ecparam -name secp224r1) sha256 "$T/ica.key" good/internal-ca.pem "$T/ldap.key" good/ldap-client.pem leaf
openssl req -x509 -newkey rsa:1024 -nodes -keyout "$T/ts.key" -out good/timestamping.pem -sha1 -days $days \
  -subj "/O=Demo/CN=Demo timestamping (RSA-1024, exempt)" 2>/dev/null
ssh-keygen -q -t ed25519 -N "" -C "root@sps-demo (host key)" -f "$T/host_ed25519"
cp "$T/host_ed25519.pub" good/host_ed25519.pub
ssh-keygen -q -t ecdsa -b 256 -N "" -C "root@sps-demo (host key)" -f "$T/host_ecdsa"
cp "$T/host_ecdsa.pub" good/host_ecdsa.pub
ssh-keygen -q -t rsa -b 3072 -N "" -C "backup@sps-demo" -f "$T/backup_rsa"
cp "$T/backup_rsa.pub" good/backup_rsa.pub

# --- broken: several blockers ---
openssl req -x509 -newkey rsa:1024 -nodes -keyout "$T/w1024.key" -out broken/web.pem -sha256 -days $days \
  -subj "/O=Demo/CN=sps-demo.example.com (RSA-1024)" -addext basicConstraints=CA:FALSE 2>/dev/null
selfca "Demo Old Root CA (SHA-1)" rsa:2048 sha1 "$T/oroot.key" "$T/oroot.pem"
signed "Demo Old Intermediate CA (SHA-1)" rsa:2048 sha1 "$T/oroot.key" "$T/oroot.pem" "$T/oint.key" "$T/oint.pem" ca
signed "rdp-gateway.example.com" rsa:2048 sha256 "$T/oint.key" "$T/oint.pem" "$T/cp.key" "$T/cp.pem" leaf
cat "$T/cp.pem" "$T/oint.pem" "$T/oroot.pem" > broken/connection-policy.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime192v1 -nodes -keyout "$T/p192.key" \
  -out broken/smtp-server.pem -sha256 -days $days -subj "/O=Demo/CN=smtp.example.com (P-192)" \
  -addext basicConstraints=CA:FALSE 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/md5.key" -out broken/syslog-client.pem -md5 -days $days \
  -subj "/O=Demo/CN=syslog-client.sps-demo.example.com (MD5)" -addext basicConstraints=CA:FALSE 2>/dev/null
ssh-keygen -q -t dsa -N "" -C "root@sps-demo (DSA host key)" -f "$T/host_dsa"
cp "$T/host_dsa.pub" broken/host_dsa.pub
openssl genrsa -out "$T/r768.key" 768 2>/dev/null
rsa_to_ssh "$T/r768.key" "legacy@old-jump-host (RSA-768)" > broken/legacy_rsa768.pub
printf 'x509v3-sign-rsa %s root@sps-demo (X.509 host certificate)\n' \
  "$(openssl x509 -in "$T/cp.pem" -outform DER | base64 -w0)" > broken/host_x509.pub
cp good/timestamping.pem broken/timestamping.pem
cp good/host_ed25519.pub broken/host_ed25519.pub
rm -f good/*.srl broken/*.srl
echo done

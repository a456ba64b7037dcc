#!/usr/bin/env bash
# Generates the certificate fixtures for shared/src/x5c.rs unit tests (openssl 3.0+).
# Private keys live in a temporary directory and are deleted on exit: only certificates are
# written to shared/tests/data/x5c/. Re-running produces new keys and dates; tests derive `now`
# from the certificates, so that is fine.
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/shared/tests/data/x5c"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# root NAME SUBJECT EXTS
root() {
  key "$1"
  openssl req -new -x509 -key "$1.key" -subj "$2" -days 3650 -sha256 \
    -extensions v3 -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n[v3]\n%b' "$3") \
    -out "$1.pem"
}

# issue NAME SUBJECT ISSUER EXTS
issue() {
  key "$1"
  openssl req -new -key "$1.key" -subj "$2" -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n') -out "$1.csr"
  printf '%b' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 3000 -sha256 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}

CA='basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n'
ICA='basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n'
ICA0='basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n'
NOTCA='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n'
EE='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n'

root root "/CN=Edgeward Test Root" "$CA"
root other-root "/CN=Edgeward Test Root" "$CA"          # same name, different key
issue int "/O=Edgeward Test/CN=Issuing CA" root "$ICA"
issue leaf "/O=Edgeward Test/CN=signer" int "$EE"
# Leaf whose keyUsage lacks digitalSignature.
issue leaf-ku-agreement "/O=Edgeward Test/CN=agreement" int \
  'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyAgreement\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n'
# Leaf with an unknown critical extension.
issue leaf-unknown-crit "/O=Edgeward Test/CN=unknown-critical" int "${EE}1.3.6.1.4.1.55555.1=critical,DER:05:00\n"
# Issuer without the CA bit.
issue int-not-ca "/O=Edgeward Test/CN=Not A CA" root "$NOTCA"
issue leaf-under-not-ca "/O=Edgeward Test/CN=signer" int-not-ca "$EE"
# pathLenConstraint 0 followed by another intermediate.
issue int-pathlen0 "/O=Edgeward Test/CN=Pathlen Zero CA" root "$ICA0"
issue int-below-pathlen0 "/O=Edgeward Test/CN=Below Pathlen Zero" int-pathlen0 "$ICA"
issue leaf-pathlen "/O=Edgeward Test/CN=signer" int-below-pathlen0 "$EE"
# Three intermediates: a path of five, one over the default budget of four.
issue int-a "/O=Edgeward Test/CN=Chain A" root "$ICA"
issue int-b "/O=Edgeward Test/CN=Chain B" int-a "$ICA"
issue int-c "/O=Edgeward Test/CN=Chain C" int-b "$ICA"
issue leaf-long "/O=Edgeward Test/CN=signer" int-c "$EE"

for name in root other-root int leaf leaf-ku-agreement leaf-unknown-crit int-not-ca \
  leaf-under-not-ca int-pathlen0 int-below-pathlen0 leaf-pathlen int-a int-b int-c leaf-long; do
  cp "$name.pem" "$out/$name.pem"
done
echo "wrote $(ls "$out" | wc -l) certificates to $out"

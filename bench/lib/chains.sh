#!/usr/bin/env bash
# bench/lib/chains.sh CA_DIR OUT_DIR — x5c chains of length 1…4 under the development root CA, for
# the "cost vs chain length" curve. Length N = the leaf plus N-1 intermediates (no pathlen limit),
# the root is the compiled-in trust anchor and is not sent. Writes OUT_DIR/N/{leaf.key,chain.pem}.
# Same openssl recipe as scripts/dev-ca; keys are 0600 and live under bench/out (git-ignored).
set -euo pipefail
ca=$1 out=$2
[ -f "$out/4/chain.pem" ] && exit 0
mkdir -p "$out" && umask 077
cat > "$out/ext.cnf" <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
sign() { # key subject issuer-cert issuer-key section out
  openssl req -new -key "$1" -subj "$2" -out "$6.csr" 2>/dev/null
  openssl x509 -req -in "$6.csr" -CA "$3" -CAkey "$4" -CAcreateserial -days 30 \
    -extfile "$out/ext.cnf" -extensions "$5" -out "$6" 2>/dev/null
  rm -f "$6.csr"
}
for n in 1 2 3 4; do
  d="$out/$n"; mkdir -p "$d"
  issuer_cert="$ca/root.pem" issuer_key="$ca/root.key" chain=()
  for ((i = 1; i < n; i++)); do
    key "$d/int$i.key"
    sign "$d/int$i.key" "/CN=edgeward bench intermediate $i of $((n - 1))" "$issuer_cert" "$issuer_key" ca "$d/int$i.pem"
    issuer_cert="$d/int$i.pem" issuer_key="$d/int$i.key"
    chain=("$d/int$i.pem" "${chain[@]}")
  done
  key "$d/leaf.key"
  sign "$d/leaf.key" "/CN=edgeward bench signer (chain $n)" "$issuer_cert" "$issuer_key" leaf "$d/leaf.pem"
  cat "$d/leaf.pem" ${chain[@]+"${chain[@]}"} > "$d/chain.pem"   # leaf first, as x5c wants
done
chmod 644 "$out"/*/*.pem

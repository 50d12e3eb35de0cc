#!/usr/bin/env bash
# Make the certificates of edgescope's TLS sample captures with the openssl CLI.
#
#   captures/tools/tls-certs.sh DIR
#
# Writes into DIR (which must exist and be empty): a private CA and everything the TLS
# scenarios (tls_scenarios.py) serve. Every key is a fresh RSA 2048 key; nothing is reused
# between runs. Only the certificates (*.pem without "key") are committed beside the
# captures (captures/tls/); the keys stay in the run's temp dir.
#
#   root.pem                 "edgescope test root CA"            (the gateways trust only this)
#   intermediate.pem         "edgescope test intermediate CA"    signed by root
#   other-root.pem           "edgescope other root CA"           (trusted by nobody)
#   other-intermediate.pem   "edgescope other intermediate CA"   signed by other-root
#   leaf-valid.pem           upstream.test, serverAuth, valid now                (by intermediate)
#   leaf-expired.pem         upstream.test, notAfter 30 days ago                 (by intermediate)
#   leaf-not-yet-valid.pem   upstream.test, notBefore 365 days from now          (by intermediate)
#   leaf-wrong-name.pem      wrong.test only (CN and SAN)                        (by intermediate)
#   leaf-self-signed.pem     upstream.test, self-signed, serverAuth, not a CA
#   leaf-no-serverauth.pem   upstream.test, extendedKeyUsage clientAuth only     (by intermediate)
#   leaf-other-ca.pem        upstream.test, serverAuth                           (by other-intermediate)
#   leaf-other-ca-expired.pem  the same, notBefore 400 and notAfter 30 days ago   (by other-intermediate):
#                            two chain problems at once (issue 15 item 5)
#   leaf-revoked.pem         upstream.test, serverAuth, valid now, then revoked  (by intermediate)
#   crl.pem                  two CRLs, concatenated: the intermediate's (revokes leaf-revoked) and
#                            the root's (empty); nginx's proxy_ssl_crl checks every CA in the chain
#                            (X509_V_FLAG_CRL_CHECK_ALL), so both must be there
#   chain-*.pem              leaf + its intermediate, in the order a server sends them
#   *.key                    the keys (not committed)
#
# Dates are relative to this host's clock at generation time; `openssl ca -startdate
# -enddate` sets them (openssl x509 -req in OpenSSL 3.0 cannot date a certificate back).
set -euo pipefail

D=${1:?usage: tls-certs.sh DIR}
[ -d "$D" ] || { echo "tls-certs.sh: $D is not a directory" >&2; exit 1; }
cd "$D"

ossl() {  # run openssl quietly; on failure show what it said and stop
  local out
  if ! out=$(openssl "$@" 2>&1); then
    printf 'tls-certs.sh: openssl %s failed:\n%s\n' "$*" "$out" >&2
    exit 1
  fi
}

stamp() {  # stamp DAYS_FROM_NOW -> YYYYMMDDHHMMSSZ (GeneralizedTime, as openssl ca takes it)
  date -u -d "@$(( $(date -u +%s) + $1 * 86400 ))" +%Y%m%d%H%M%SZ
}

cat >ext.cnf <<'EOF'
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[intermediate_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:upstream.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[wrong_name_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[client_only_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = DNS:upstream.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[self_signed_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:upstream.test
subjectKeyIdentifier = hash
EOF

# A minimal `openssl ca` set-up per issuing CA (database, serial, policy).
ca_conf() {  # ca_conf NAME
  mkdir -p "ca-$1"
  : >"ca-$1/index.txt"
  # Serial numbers: random, so two runs never reuse one.
  openssl rand -hex 8 >"ca-$1/serial"
  cat >"ca-$1/ca.cnf" <<EOF
[ca]
default_ca = this
[this]
dir = ca-$1
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
EOF
}

key() { ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key"; }

selfsign() {  # selfsign NAME SUBJECT EXT DAYS
  key "$1"
  ossl req -new -x509 -key "$1.key" -out "$1.pem" -subj "$2" -days "$4" -sha256 \
    -config ext.cnf -extensions "$3"
}

issue() {  # issue NAME SUBJECT CA EXT START_DAYS END_DAYS
  local name=$1 subj=$2 ca=$3 ext=$4 start=$5 end=$6
  key "$name"
  ossl req -new -key "$name.key" -out "$name.csr" -subj "$subj" -config ext.cnf
  ossl ca -batch -notext -preserveDN -config "ca-$ca/ca.cnf" -cert "$ca.pem" -keyfile "$ca.key" \
    -in "$name.csr" -out "$name.pem" -extfile ext.cnf -extensions "$ext" \
    -startdate "$(stamp "$start")" -enddate "$(stamp "$end")"
  rm -f "$name.csr"
}

# Two hierarchies: root -> intermediate (trusted), other-root -> other-intermediate (not).
selfsign root "/O=edgescope/CN=edgescope test root CA" ca_ext 3650
ca_conf root
issue intermediate "/O=edgescope/CN=edgescope test intermediate CA" root intermediate_ext -1 1825
ca_conf intermediate
selfsign other-root "/O=edgescope/CN=edgescope other root CA" ca_ext 3650
ca_conf other-root
issue other-intermediate "/O=edgescope/CN=edgescope other intermediate CA" other-root intermediate_ext -1 1825
ca_conf other-intermediate

issue leaf-valid         "/CN=upstream.test" intermediate       server_ext      -1   825
issue leaf-expired       "/CN=upstream.test" intermediate       server_ext      -400 -30
issue leaf-not-yet-valid "/CN=upstream.test" intermediate       server_ext      365  730
issue leaf-wrong-name    "/CN=wrong.test"    intermediate       wrong_name_ext  -1   825
issue leaf-no-serverauth "/CN=upstream.test" intermediate       client_only_ext -1   825
issue leaf-other-ca      "/CN=upstream.test" other-intermediate server_ext      -1   825
issue leaf-other-ca-expired "/CN=upstream.test" other-intermediate server_ext   -400 -30
issue leaf-revoked       "/CN=upstream.test" intermediate       server_ext      -1   825
selfsign leaf-self-signed "/CN=upstream.test" self_signed_ext 825

# Revoke leaf-revoked in the intermediate's database, then one CRL per CA of the trusted chain
# (the intermediate's lists it; the root's is empty), valid as long as the valid leaf.
ossl ca -batch -config ca-intermediate/ca.cnf -cert intermediate.pem -keyfile intermediate.key \
  -revoke leaf-revoked.pem -crl_reason keyCompromise
for ca in intermediate root; do
  ossl ca -batch -config "ca-$ca/ca.cnf" -cert "$ca.pem" -keyfile "$ca.key" -gencrl -crldays 825 \
    -md sha256 -out "crl-$ca.pem"
done
cat crl-intermediate.pem crl-root.pem >crl.pem

for l in valid expired not-yet-valid wrong-name no-serverauth revoked; do
  cat "leaf-$l.pem" intermediate.pem >"chain-$l.pem"
done
cat leaf-other-ca.pem other-intermediate.pem >chain-other-ca.pem
cat leaf-other-ca-expired.pem other-intermediate.pem >chain-other-ca-expired.pem
cp leaf-self-signed.pem chain-self-signed.pem

# Self-check: each certificate says what it was made to say (openssl verify at issue time).
v() {  # v EXPECT CERT [openssl verify args...]; EXPECT "OK" or an error number
  local want=$1 cert=$2 got
  shift 2
  got=$(openssl verify -CAfile root.pem "$@" "$cert" 2>&1 || true)
  if [ "$want" = OK ]; then
    [ "$got" = "$cert: OK" ] || { echo "tls-certs.sh: $cert: expected OK, got: $got" >&2; exit 1; }
  else
    grep -q "error $want at" <<<"$got" || { echo "tls-certs.sh: $cert: expected error $want, got: $got" >&2; exit 1; }
  fi
}
v OK leaf-valid.pem -untrusted intermediate.pem -purpose sslserver -verify_hostname upstream.test
v 10 leaf-expired.pem -untrusted intermediate.pem
v 9  leaf-not-yet-valid.pem -untrusted intermediate.pem
v 62 leaf-wrong-name.pem -untrusted intermediate.pem -verify_hostname upstream.test
v 18 leaf-self-signed.pem
v 26 leaf-no-serverauth.pem -untrusted intermediate.pem -purpose sslserver
v 20 leaf-other-ca.pem -untrusted other-intermediate.pem
# openssl verify stops at the first error (20 at depth 1); the expiry (10) comes later.
v 20 leaf-other-ca-expired.pem -untrusted other-intermediate.pem
v 10 leaf-other-ca-expired.pem -untrusted other-intermediate.pem -CAfile other-root.pem
v 20 leaf-valid.pem
v 23 leaf-revoked.pem -untrusted intermediate.pem -crl_check_all -CRLfile crl.pem
v OK leaf-valid.pem -untrusted intermediate.pem -crl_check_all -CRLfile crl.pem
v 3  leaf-valid.pem -untrusted intermediate.pem -crl_check_all -CRLfile crl-intermediate.pem
echo "tls-certs.sh: certificates in $D"

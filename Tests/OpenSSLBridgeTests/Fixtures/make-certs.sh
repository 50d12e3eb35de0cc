#!/bin/sh
# Regenerates the certificate fixtures of OpenSSLBridgeTests with the openssl CLI (3.0 or later:
# `openssl ca -crl_lastupdate/-crl_nextupdate` are 3.0 options).
#
#   sh Tests/OpenSSLBridgeTests/Fixtures/make-certs.sh
#
# Validity windows are fixed (openssl ca -startdate/-enddate), so the tests can pick a
# verification time inside or outside each window and never depend on today's date, except the
# one test that proves "now" and "capture time" differ. Keys are fresh on every run; the tests
# never depend on a key or a fingerprint except the ones this script writes beside the
# certificates (leaf-valid.sha256). The private keys kept are test-only, for the probe test's
# `openssl s_server`.
#
# Hierarchy:
#   root.pem            "edgescope test root"          (in the tests' trust store)
#     intermediate.pem  "edgescope test intermediate"  (signs every leaf below but the last two)
#       leaf-valid.pem            upstream.test, 127.0.0.1, serverAuth, 2024-01-01..2034-01-01, RSA 2048, AIA caIssuers
#       leaf-expired.pem          upstream.test, 2024-01-01..2024-06-01
#       leaf-not-yet-valid.pem    upstream.test, 2030-01-01..2034-01-01
#       leaf-wrong-name.pem       other.test
#       leaf-client-only.pem      upstream.test, extendedKeyUsage clientAuth only
#       leaf-revoked.pem          upstream.test, revoked in intermediate.crl.pem
#   other-root.pem      "edgescope other root"         (never in the tests' trust store)
#     other-intermediate.pem
#       leaf-other-ca.pem         upstream.test
#   leaf-self-signed.pem          upstream.test, self-signed, Ed25519
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > ext.cnf <<'EOF'
[ root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:upstream.test, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ leaf_aia ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:upstream.test, IP:127.0.0.1, IP:::1
authorityInfoAccess = caIssuers;URI:http://ca.upstream.test/intermediate.der
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ leaf_other_name ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ leaf_client_only ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:upstream.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ leaf_self_signed ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:upstream.test
subjectKeyIdentifier = hash
EOF

# One `openssl ca` directory per signer: its own database, so revocation and the CRL stay per CA.
make_ca_dir() {
    mkdir -p "$1/new"
    : > "$1/index.txt"
    echo "$2" > "$1/serial"
    echo 1000 > "$1/crlnumber"
    cat > "$1/ca.cnf" <<EOF
[ ca ]
default_ca = this
[ this ]
dir = $work/$1
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
[ anything ]
commonName = supplied
organizationName = optional
EOF
}

key_ec() { openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
key_rsa() { openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }
key_ed25519() { openssl genpkey -quiet -algorithm ED25519 -out "$1"; }

# issue CA_DIR CA_NAME NAME KEY SUBJECT EXTENSIONS START END
issue() {
    openssl req -new -key "$4" -subj "$5" -out "$3.csr"
    openssl ca -batch -notext -preserveDN -config "$1/ca.cnf" -cert "$2.pem" -keyfile "$2.key" \
        -extfile ext.cnf -extensions "$6" -startdate "$7" -enddate "$8" \
        -in "$3.csr" -out "$3.pem"
}

# self_sign CA_DIR NAME KEY SUBJECT EXTENSIONS START END [MD]
self_sign() {
    openssl req -new -key "$3" -subj "$4" -out "$2.csr"
    openssl ca -batch -notext -preserveDN -selfsign -config "$1/ca.cnf" -keyfile "$3" -md "${8:-sha256}" \
        -extfile ext.cnf -extensions "$5" -startdate "$6" -enddate "$7" \
        -in "$2.csr" -out "$2.pem"
}

make_ca_dir rootca 1001
make_ca_dir interca 2001
make_ca_dir otherrootca 3001
make_ca_dir otherinterca 4001
make_ca_dir selfca 5001

key_ec root.key
self_sign rootca root root.key "/O=edgescope test/CN=edgescope test root" root 20230101000000Z 20440101000000Z
key_ec intermediate.key
issue rootca root intermediate intermediate.key "/O=edgescope test/CN=edgescope test intermediate" intermediate 20230101000000Z 20400101000000Z

key_rsa leaf-valid.key
issue interca intermediate leaf-valid leaf-valid.key "/O=edgescope test/CN=upstream.test" leaf_aia 20240101000000Z 20340101000000Z
key_ec leaf.key
issue interca intermediate leaf-expired leaf.key "/O=edgescope test/CN=upstream.test" leaf 20240101000000Z 20240601000000Z
issue interca intermediate leaf-not-yet-valid leaf.key "/O=edgescope test/CN=upstream.test" leaf 20300101000000Z 20340101000000Z
issue interca intermediate leaf-wrong-name leaf.key "/O=edgescope test/CN=other.test" leaf_other_name 20240101000000Z 20340101000000Z
issue interca intermediate leaf-client-only leaf.key "/O=edgescope test/CN=upstream.test" leaf_client_only 20240101000000Z 20340101000000Z
issue interca intermediate leaf-revoked leaf.key "/O=edgescope test/CN=upstream.test" leaf 20240101000000Z 20340101000000Z

openssl ca -config interca/ca.cnf -cert intermediate.pem -keyfile intermediate.key \
    -revoke leaf-revoked.pem -crl_reason keyCompromise
# `openssl ca -revoke` stamps today's date; move it to 2024-03-01 so the CRL is the same on any day.
sed 's/^\(R\t[0-9]*Z\t\)[0-9]*Z/\1240301000000Z/' interca/index.txt > interca/index.new
mv interca/index.new interca/index.txt
openssl ca -gencrl -config interca/ca.cnf -cert intermediate.pem -keyfile intermediate.key \
    -crl_lastupdate 20240101000000Z -crl_nextupdate 20340101000000Z \
    -out intermediate.crl.pem

key_ec other-root.key
self_sign otherrootca other-root other-root.key "/O=edgescope other/CN=edgescope other root" root 20230101000000Z 20440101000000Z
key_ec other-intermediate.key
issue otherrootca other-root other-intermediate other-intermediate.key "/O=edgescope other/CN=edgescope other intermediate" intermediate 20230101000000Z 20400101000000Z
issue otherinterca other-intermediate leaf-other-ca leaf.key "/O=edgescope other/CN=upstream.test" leaf 20240101000000Z 20340101000000Z

key_ed25519 self.key
self_sign selfca leaf-self-signed self.key "/O=edgescope test/CN=upstream.test" leaf_self_signed 20240101000000Z 20340101000000Z default

for name in root intermediate leaf-valid leaf-expired leaf-not-yet-valid leaf-wrong-name \
    leaf-client-only leaf-revoked other-root other-intermediate leaf-other-ca leaf-self-signed; do
    cp "$name.pem" "$here/$name.pem"
done
cp intermediate.crl.pem leaf-valid.key "$here/"
# The valid leaf also as DER, and its SHA-256 fingerprint as openssl computes it (lowercase hex,
# no colons), an oracle for CertificateInfo.sha256 that does not come from the code under test.
openssl x509 -in leaf-valid.pem -outform DER -out "$here/leaf-valid.der"
openssl x509 -in leaf-valid.pem -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f' > "$here/leaf-valid.sha256"
# A hashed directory for TrustStore(caPath:), as `openssl rehash` would lay it out.
rm -rf "$here/capath"
mkdir "$here/capath"
cp root.pem "$here/capath/$(openssl x509 -in root.pem -noout -hash).0"
printf 'this is not a certificate\n' > "$here/garbage.pem"
echo "fixtures written to $here"

#!/usr/bin/env bash
# Makes a throwaway PKI for the end-to-end tests in DIR with the openssl CLI (OpenSSL 3.0, Debian 12).
#
#   tests/peers/pki.sh DIR
#
# Writes, all PEM, keys unencrypted (ECDSA P-256: fast to generate, supported by rustls):
#   ca.crt ca.key                  the test CA that clients are told to trust
#   server.crt server.key          signed by the test CA, SAN DNS:mx.example.test, DNS:localhost, IP:127.0.0.1
#   self-signed.crt/.key           self-signed, same SANs (no CA vouches for it)
#   unknown-ca.crt/.key            same SANs, signed by another CA (unknown-ca-root.crt) nobody trusts
#   wrong-host.crt/.key            signed by the test CA, but only for DNS:wrong-host.example.invalid
#   expired.crt/.key               signed by the test CA, same SANs, valid only during 2020
# The certificates for the right names also carry every mx*.example.test name the MX tests use.
set -euo pipefail

dir=${1:?usage: pki.sh DIR}
mkdir -p "$dir"
cd "$dir"

san="subjectAltName=DNS:mx.example.test,DNS:localhost,DNS:*.example.test,IP:127.0.0.1,IP:::1"
leaf_ext=(-addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature,keyEncipherment"
          -addext "extendedKeyUsage=serverAuth")

key() { openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null \
          || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# A CA: self-signed, CA:TRUE, may sign certificates.
make_ca() { # NAME CN
  key "$1.key"
  openssl req -new -x509 -key "$1.key" -out "$1.crt" -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
}

# A leaf signed by CA with the given SAN extension.
make_leaf() { # NAME CA SAN CN
  key "$1.key"
  openssl req -new -x509 -key "$1.key" -out "$1.crt" -days 3650 -subj "/CN=$4" \
    -CA "$2.crt" -CAkey "$2.key" -addext "$3" "${leaf_ext[@]}" 2>/dev/null
}

make_ca ca "mxsend test CA"
make_leaf server ca "$san" mx.example.test
make_leaf wrong-host ca "subjectAltName=DNS:wrong-host.example.invalid" wrong-host.example.invalid

key self-signed.key
openssl req -new -x509 -key self-signed.key -out self-signed.crt -days 3650 -subj "/CN=mx.example.test" \
  -addext "$san" "${leaf_ext[@]}" 2>/dev/null

make_ca unknown-ca-root "mxsend unknown CA"
make_leaf unknown-ca unknown-ca-root "$san" mx.example.test

# `openssl req -x509` cannot back-date a certificate in OpenSSL 3.0 (x509 -not_before is 3.4+);
# `openssl ca -startdate/-enddate` can, given a minimal CA database.
key expired.key
openssl req -new -key expired.key -out expired.csr -subj "/CN=mx.example.test" 2>/dev/null
mkdir -p ca-db
: > ca-db/index.txt
cat > ca-db/ca.cnf <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
x509_extensions = leaf
[ any ]
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
${san/=/ = }
CNF
echo 1000 > ca-db/serial
openssl ca -batch -config ca-db/ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt \
  -startdate 20200101000000Z -enddate 20201231235959Z -notext 2>/dev/null
rm -f expired.csr
chmod 644 ./*.crt
chmod 600 ./*.key

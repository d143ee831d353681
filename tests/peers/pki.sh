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
#   not-yet-valid.crt/.key         signed by the test CA, same SANs, valid only from 2090
#   snakeoil.crt/.key              self-signed with CA:TRUE, same SANs: what a bare `openssl req -x509`
#                                  makes (its default v3_ca extensions), the usual small-relay certificate
#   snakeoil-debian.crt/.key       self-signed, CA:FALSE, made with the template and command of Debian's
#                                  make-ssl-cert (ssl-cert's ssleay.cnf: CN and SAN DNS:mx.example.test)
#   snakeoil-cn-only.crt/.key      self-signed with CA:TRUE, CN=mx.example.test and no subjectAltName
#   snakeoil-expired.crt/.key      self-signed with CA:TRUE, same SANs, valid only during 2020
#   ca-as-server.crt/.key          CA:TRUE, same SANs, signed by the test CA (a CA served as a server's own)
#   client.crt/.key                signed by the test CA for clientAuth, CN=client.example.test
#   mta-sts.crt/.key               signed by the test CA for the MTA-STS policy hosts of the test
#                                  domains (DNS:mta-sts.sts.test)
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
make_leaf mta-sts ca "subjectAltName=DNS:mta-sts.sts.test" mta-sts.sts.test
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
[ self_signed_ca ]
basicConstraints = critical,CA:true
${san/=/ = }
CNF
echo 1000 > ca-db/serial
openssl ca -batch -config ca-db/ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt \
  -startdate 20200101000000Z -enddate 20201231235959Z -notext 2>/dev/null
rm -f expired.csr

# Not valid before 2090, signed by the test CA.
key not-yet-valid.key
openssl req -new -key not-yet-valid.key -out not-yet-valid.csr -subj "/CN=mx.example.test" 2>/dev/null
openssl ca -batch -config ca-db/ca.cnf -cert ca.crt -keyfile ca.key -in not-yet-valid.csr -out not-yet-valid.crt \
  -startdate 20900101000000Z -enddate 20901231235959Z -notext 2>/dev/null
rm -f not-yet-valid.csr

# `openssl req -x509` with its default extensions (OpenSSL's openssl.cnf [v3_ca]), written out so that
# the result does not depend on the machine's openssl.cnf.
cat > snakeoil.cnf <<CNF
[ req ]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[ dn ]
CN = mx.example.test
[ v3_ca ]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer
basicConstraints = critical,CA:true
${san/=/ = }
[ v3_ca_cn_only ]
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer
basicConstraints = critical,CA:true
CNF
key snakeoil.key
openssl req -config snakeoil.cnf -new -x509 -key snakeoil.key -out snakeoil.crt -days 3650 2>/dev/null
key snakeoil-cn-only.key
openssl req -config snakeoil.cnf -extensions v3_ca_cn_only -new -x509 -key snakeoil-cn-only.key \
  -out snakeoil-cn-only.crt -days 3650 2>/dev/null

# Debian's make-ssl-cert: /usr/share/ssl-cert/ssleay.cnf with @HostName@ and @SubjectAltName@ filled in,
# then `openssl req -config ... -new -x509 -days ... -nodes -sha256` (its own command line).
cat > snakeoil-debian.cnf <<CNF
[ req ]
default_bits            = 2048
distinguished_name      = req_distinguished_name
prompt                  = no
policy                  = policy_anything
req_extensions          = v3_req
x509_extensions         = v3_req
[ req_distinguished_name ]
commonName                      = mx.example.test
[ v3_req ]
basicConstraints        = CA:FALSE
subjectAltName          = DNS:mx.example.test
CNF
openssl req -config snakeoil-debian.cnf -new -x509 -days 3650 -nodes -sha256 \
  -out snakeoil-debian.crt -keyout snakeoil-debian.key 2>/dev/null

# A self-signed CA:TRUE certificate valid only during 2020 (`openssl ca -selfsign` can back-date).
key snakeoil-expired.key
openssl req -new -key snakeoil-expired.key -out snakeoil-expired.csr -subj "/CN=mx.example.test" 2>/dev/null
openssl ca -batch -selfsign -config ca-db/ca.cnf -extensions self_signed_ca -keyfile snakeoil-expired.key -in snakeoil-expired.csr \
  -out snakeoil-expired.crt -startdate 20200101000000Z -enddate 20201231235959Z -notext 2>/dev/null
rm -f snakeoil-expired.csr

# A CA certificate (an intermediate of the test CA) served as a server's own.
key ca-as-server.key
openssl req -new -x509 -key ca-as-server.key -out ca-as-server.crt -days 3650 -subj "/CN=mxsend test sub-CA" \
  -CA ca.crt -CAkey ca.key -addext "$san" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,digitalSignature" 2>/dev/null

# A client certificate.
key client.key
openssl req -new -x509 -key client.key -out client.crt -days 3650 -subj "/CN=client.example.test" \
  -CA ca.crt -CAkey ca.key -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=clientAuth" 2>/dev/null
chmod 644 ./*.crt
chmod 600 ./*.key

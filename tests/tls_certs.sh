#!/usr/bin/env bash
# Makes the throwaway certificates of the TLS tests (tests/integration/test_tls.c) and of
# bench/tls.sh, with openssl, in DIR:
#
#   ca.crt/.key            the test CA
#   server.crt/.key        the proxy's certificate (CN slotproxy-test-1, serial 1001, SAN
#                          127.0.0.1 and localhost, so clients that check host names accept it)
#   server2.crt/.key       another one (CN slotproxy-test-2, serial 1002), for reload tests
#   server-enc.key         server.key encrypted with the passphrase "s3cret" (-tls-key-file-pass)
#   client.crt/.key        a client certificate signed by the CA
#   node.crt/.key          the Redis nodes' certificate (also the proxy's towards them)
#   expired.crt/.key       a client certificate signed by the CA that has expired
#   other-ca.crt/.key      a second CA
#   wrongca.crt/.key       a client certificate signed by that second CA
#
#   tests/tls_certs.sh DIR
#
# EC P-256 keys: quick to make, and what a current deployment would use. Nothing here is secret.
set -euo pipefail
dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"

run() {
    local out
    out=$("$@" 2>&1) || { echo "$*: $out" >&2; exit 1; }
}

key() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }

printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.cnf
printf 'basicConstraints=CA:FALSE\n' >plain.cnf

# ca NAME CN
ca() {
    key "$1"
    run openssl req -x509 -new -key "$1.key" -out "$1.crt" -days 30 -subj "/CN=$2"
}

# cert NAME CN CA SERIAL DAYS EXTFILE: DAYS -1 makes a certificate that has already expired.
cert() {
    key "$1"
    run openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2"
    run openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -set_serial "$4" \
        -days "$5" -extfile "$6" -out "$1.crt"
    rm -f "$1.csr"
}

ca ca "slotproxy test CA"
ca other-ca "another test CA"
cert server slotproxy-test-1 ca 1001 30 san.cnf
cert server2 slotproxy-test-2 ca 1002 30 san.cnf
cert client "test client" ca 2001 30 plain.cnf
cert node "redis node" ca 3001 30 san.cnf
cert expired "expired client" ca 4001 -1 plain.cnf
cert wrongca "client of another CA" other-ca 5001 30 plain.cnf
run openssl pkey -in server.key -aes256 -passout pass:s3cret -out server-enc.key
echo "certificates in $(pwd)"

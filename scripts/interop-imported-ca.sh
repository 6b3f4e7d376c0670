#!/usr/bin/env bash
# Interop test of an imported issuing CA with OpenSSL-based clients: the
# operator's corporate root signs two intermediates; Ward imports one
# (ward serve --ca-cert issuing.pem --ca-key issuing.key, the PEM carrying
# the chain up to the root). A device enrolled with curl + openssl presents
# its certificate with mosquitto_pub and curl (which send it whatever CAs the
# server's CertificateRequest names) and is admitted; a certificate for the
# same device from the sibling intermediate is refused at the TLS handshake
# by the MQTT gateway and by EST simplereenroll.
# Usage: scripts/interop-imported-ca.sh PATH-TO-WARD-BINARY
set -euo pipefail
WARD=$(realpath "${1:?usage: interop-imported-ca.sh path/to/ward}")
for t in curl openssl mosquitto_pub base64; do
	command -v "$t" >/dev/null || { echo "interop: $t is not installed (scripts/install-test-deps.sh)" >&2; exit 2; }
done
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
fail() { echo "interop: FAIL: $*" >&2; echo "--- server log" >&2; tail -n 30 serve.err >&2 || true; exit 1; }
ok() { echo "interop: ok: $*"; }

# The corporate PKI: a root and two intermediates under it.
openssl ecparam -genkey -name prime256v1 -noout -out root.key
openssl req -x509 -new -key root.key -subj "/O=Corp/CN=Corp Root CA" -days 30 -out root.pem \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >ca.ext
for n in issuing sibling; do
	openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out "$n.key"
	chmod 600 "$n.key"
	openssl req -new -key "$n.key" -subj "/O=Corp/CN=Corp $n CA" -out "$n.csr"
	openssl x509 -req -in "$n.csr" -CA root.pem -CAkey root.key -CAcreateserial -days 20 -extfile ca.ext -out "$n.crt" 2>/dev/null
done
cat issuing.crt root.pem >issuing.pem

"$WARD" serve --data-dir data --https-addr 127.0.0.1:0 --mqtt-addr 127.0.0.1:0 --ca-cert issuing.pem --ca-key issuing.key >serve.out 2>serve.err &
pid=$!
for _ in $(seq 1 200); do grep -q 'ward ready' serve.err 2>/dev/null && break; sleep 0.05; done
grep -q 'ward ready' serve.err || fail "server did not become ready"
HTTPS=$(grep 'ward ready' serve.err | sed -n 's/.* https_addr=127.0.0.1:\([0-9]*\).*/\1/p')
MQTT=$(grep 'ward ready' serve.err | sed -n 's/.* mqtt_addr=127.0.0.1:\([0-9]*\).*/\1/p')
export WARD_SERVER=https://localhost:$HTTPS WARD_CA=data/ca.pem WARD_TOKEN=$(cat data/admin.token)
cmp -s <(openssl x509 -in data/ca.pem -outform DER) <(openssl x509 -in root.pem -outform DER) || fail "ca.pem is not the corporate root"
ok "server up with the imported intermediate; ca.pem is the corporate root"

id=sensor-1
tok=$("$WARD" device add --id $id --model acme-th1 --firmware 1.4.2 --output json | sed -n 's/.*"token": "\([^"]*\)".*/\1/p')
[ -n "$tok" ] || fail "no token for $id"
openssl ecparam -genkey -name prime256v1 -noout -out $id.key
openssl req -new -key $id.key -subj "/CN=$id" -outform DER | base64 -w0 >$id.csr.b64
curl -sS --fail-with-body --cacert data/ca.pem -u "$id:$tok" -H 'Content-Type: application/pkcs10' \
	--data-binary @$id.csr.b64 "$WARD_SERVER/.well-known/est/simpleenroll" -o $id.p7.b64 || fail "enroll $id"
base64 -d $id.p7.b64 | openssl pkcs7 -inform DER -print_certs -out $id.pem || fail "decode PKCS#7"
openssl verify -CAfile root.pem -untrusted issuing.crt $id.pem >/dev/null || fail "$id's certificate does not chain to the corporate root"
cat $id.pem issuing.crt >$id-chain.pem
for c in $id.pem $id-chain.pem; do
	mosquitto_pub -h localhost -p "$MQTT" --cafile data/ca.pem --cert $c --key $id.key -i $id -t devices/$id/t -m hi ||
		fail "mosquitto_pub with $c refused"
done
code=$(curl -s -o new.b64 -w '%{http_code}' --cacert data/ca.pem --cert $id.pem --key $id.key -H 'Content-Type: application/pkcs10' \
	--data-binary @$id.csr.b64 "$WARD_SERVER/.well-known/est/simplereenroll") || true
[ "$code" = 200 ] || fail "curl simplereenroll with $id's certificate answered $code"
ok "enrolled with curl + openssl; mosquitto_pub (leaf, leaf+chain) and curl simplereenroll present the certificate"

# The sibling intermediate issues sensor-1, with and without Ward's URI SAN.
openssl ecparam -genkey -name prime256v1 -noout -out evil.key
openssl req -new -key evil.key -subj "/CN=$id" -out evil.csr
for san in "subjectAltName=URI:urn:ward:device:$id" ""; do
	printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n%s\n' "$san" >leaf.ext
	openssl x509 -req -in evil.csr -CA sibling.crt -CAkey sibling.key -CAcreateserial -days 5 -extfile leaf.ext -out evil.crt 2>/dev/null
	cat evil.crt sibling.crt >evil.pem
	if mosquitto_pub -h localhost -p "$MQTT" --cafile data/ca.pem --cert evil.pem --key evil.key -i $id -t devices/$id/t -m evil 2>/dev/null; then
		fail "mosquitto_pub with the sibling's certificate ($san) was admitted"
	fi
	if code=$(curl -s -o /dev/null -w '%{http_code}' --cacert data/ca.pem --cert evil.pem --key evil.key -H 'Content-Type: application/pkcs10' \
		--data-binary @$id.csr.b64 "$WARD_SERVER/.well-known/est/simplereenroll"); then
		fail "curl simplereenroll with the sibling's certificate ($san) completed the TLS handshake: HTTP $code"
	fi
done
n=$(curl -sf --cacert data/ca.pem -H "Authorization: Bearer $WARD_TOKEN" "$WARD_SERVER/metrics" |
	sed -n 's/^ward_gateway_refused_total{reason="unknown-ca"} \([0-9]*\)$/\1/p')
[ "${n:-0}" -ge 2 ] || fail "ward_gateway_refused_total{reason=\"unknown-ca\"} = ${n:-0}, want at least 2"
ok "the sibling intermediate's certificates are refused by mosquitto_pub's handshake ($n unknown-ca) and by EST simplereenroll"
echo "interop: PASS"

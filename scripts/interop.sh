#!/usr/bin/env bash
# Interop test with clients written elsewhere: enrollment with curl +
# openssl only (RFC 7030), then mosquitto_pub / mosquitto_sub with the issued
# certificate; every cross-device attempt must fail.
# Usage: scripts/interop.sh PATH-TO-WARD-BINARY
set -euo pipefail
WARD=$(realpath "${1:?usage: interop.sh path/to/ward}")
for t in curl openssl mosquitto_pub mosquitto_sub base64; do
	command -v "$t" >/dev/null || { echo "interop: $t is not installed (scripts/install-test-deps.sh)" >&2; exit 2; }
done
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
fail() { echo "interop: FAIL: $*" >&2; echo "--- server log" >&2; tail -n 30 serve.err >&2 || true; exit 1; }
ok() { echo "interop: ok: $*"; }

"$WARD" serve --data-dir data --https-addr 127.0.0.1:0 --mqtt-addr 127.0.0.1:0 >serve.out 2>serve.err &
pid=$!
for _ in $(seq 1 200); do grep -q 'ward ready' serve.err 2>/dev/null && break; sleep 0.05; done
grep -q 'ward ready' serve.err || fail "server did not become ready"
HTTPS=$(grep 'ward ready' serve.err | sed -n 's/.* https_addr=127.0.0.1:\([0-9]*\).*/\1/p')
MQTT=$(grep 'ward ready' serve.err | sed -n 's/.* mqtt_addr=127.0.0.1:\([0-9]*\).*/\1/p')
export WARD_SERVER=https://localhost:$HTTPS WARD_CA=data/ca.pem WARD_TOKEN=$(cat data/admin.token)
curl -sf --cacert data/ca.pem "$WARD_SERVER/healthz" >/dev/null || fail "healthz"
ok "server up (https $HTTPS, mqtt $MQTT)"

enroll() { # enroll ID: curl + openssl only
	local id=$1 tok
	tok=$("$WARD" device add --id "$id" --model acme-th1 --firmware 1.4.2 --output json | sed -n 's/.*"token": "\([^"]*\)".*/\1/p')
	[ -n "$tok" ] || fail "no token for $id"
	openssl ecparam -genkey -name prime256v1 -noout -out "$id.key"
	openssl req -new -key "$id.key" -subj "/CN=$id" -outform DER | base64 -w0 >"$id.csr.b64"
	curl -sS --fail-with-body --cacert data/ca.pem -u "$id:$tok" -H 'Content-Type: application/pkcs10' \
		--data-binary @"$id.csr.b64" "$WARD_SERVER/.well-known/est/simpleenroll" -o "$id.p7.b64" || fail "enroll $id"
	base64 -d "$id.p7.b64" | openssl pkcs7 -inform DER -print_certs -out "$id.pem" || fail "decode PKCS#7 for $id"
	openssl x509 -in "$id.pem" -noout -ext subjectAltName | grep -q "URI:urn:ward:device:$id" || fail "SAN of $id"
	# The token is single use.
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert data/ca.pem -u "$id:$tok" -H 'Content-Type: application/pkcs10' \
		--data-binary @"$id.csr.b64" "$WARD_SERVER/.well-known/est/simpleenroll")
	[ "$code" = 401 ] || fail "reused token for $id answered $code, want 401"
}
enroll sensor-a
enroll sensor-b
ok "enrolled sensor-a and sensor-b with curl + openssl; reused tokens refused"

curl -sf --cacert data/ca.pem "$WARD_SERVER/.well-known/est/cacerts" | base64 -d | openssl pkcs7 -inform DER -print_certs | grep -q 'Ward Root CA' || fail "cacerts"
curl -sf --cacert data/ca.pem "$WARD_SERVER/.well-known/est/csrattrs" | base64 -d | openssl asn1parse -inform DER | grep -q prime256v1 || fail "csrattrs"
ok "cacerts and csrattrs decode with openssl"

A="-h localhost -p $MQTT --cafile data/ca.pem --cert sensor-a.pem --key sensor-a.key"
B="-h localhost -p $MQTT --cafile data/ca.pem --cert sensor-b.pem --key sensor-b.key"
for v in mqttv311 mqttv5; do
	# Own topics work: A subscribes, A publishes from a second session.
	mosquitto_sub $A -V $v -i sensor-a -t 'devices/sensor-a/#' -C 1 -W 10 >own.out 2>&1 &
	sp=$!
	for _ in $(seq 1 100); do "$WARD" device show sensor-a --output json | grep -q '"connected_sessions": 1' && break; sleep 0.05; done
	mosquitto_pub $A -V $v -i sensor-a:pub -t devices/sensor-a/telemetry -m "hello-$v" || fail "$v: own publish"
	wait $sp || true
	grep -q "hello-$v" own.out || fail "$v: own message not received: $(cat own.out)"
	ok "$v: sensor-a publishes and receives on its own topics"

	# B listens on its tree; A's publish into it must not arrive.
	mosquitto_sub $B -V $v -i sensor-b -t 'devices/sensor-b/#' -C 1 -W 4 >b.out 2>&1 &
	sp=$!
	for _ in $(seq 1 100); do "$WARD" device show sensor-b --output json | grep -q '"connected_sessions": 1' && break; sleep 0.05; done
	mosquitto_pub $A -V $v -i sensor-a -q 1 -t devices/sensor-b/cmd -m "intrusion-$v" >/dev/null 2>&1 || true
	mosquitto_pub $B -V $v -i sensor-b:pub -t devices/sensor-b/cmd -m "legit-$v" || fail "$v: B own publish"
	wait $sp || true
	grep -q "intrusion-$v" b.out && fail "$v: A's publish reached B's topic"
	grep -q "legit-$v" b.out || fail "$v: B did not get its own message"
	ok "$v: sensor-a cannot publish into sensor-b's topics"

	for filter in 'devices/sensor-b/#' 'devices/+/cmd' 'devices/#' '#' '+/sensor-b/cmd'; do
		out=$(mosquitto_sub $A -V $v -i sensor-a -t "$filter" -C 1 -W 3 2>&1 || true)
		echo "$out" | grep -q 'denied' || fail "$v: subscription $filter not denied: $out"
	done
	ok "$v: sensor-a cannot subscribe to sensor-b's topics, exactly or through wildcards"

	out=$(mosquitto_pub $A -V $v -i sensor-b -t devices/sensor-a/x -m x 2>&1) && fail "$v: client id of another device accepted"
	ok "$v: client id of another device refused"
done

out=$(mosquitto_pub -h localhost -p "$MQTT" --cafile data/ca.pem -i sensor-a -t devices/sensor-a/x -m x 2>&1) && fail "connection without a client certificate accepted"
ok "connection without a client certificate refused"

# Restricted quarantine: sensor-b is let in to quarantine/sensor-b/# only.
"$WARD" device quarantine sensor-b --mode restrict --reason interop | grep -q 'quarantined (restrict)' || fail "quarantine --mode restrict"
out=$(mosquitto_sub $B -i sensor-b -t 'devices/sensor-b/#' -C 1 -W 3 2>&1 || true)
echo "$out" | grep -q 'denied' || fail "restricted sensor-b may still subscribe to its device tree: $out"
mosquitto_sub $B -i sensor-b -t 'quarantine/sensor-b/cmd' -C 1 -W 10 >q.out 2>&1 &
sp=$!
for _ in $(seq 1 100); do "$WARD" device show sensor-b --output json | grep -q '"connected_sessions": 1' && break; sleep 0.05; done
mosquitto_pub $B -i sensor-b:pub -t quarantine/sensor-b/cmd -m remediate || fail "restricted publish to the quarantine tree"
wait $sp || true
grep -q remediate q.out || fail "restricted sensor-b did not get its quarantine message: $(cat q.out)"
"$WARD" device quarantine sensor-b --reason interop >/dev/null
out=$(mosquitto_pub $B -i sensor-b -t quarantine/sensor-b/x -m x 2>&1) && fail "device quarantined in refuse mode admitted"
"$WARD" device release sensor-b | grep -q 'now active' || fail "release"
ok "restricted quarantine confines sensor-b to quarantine/sensor-b/#; refuse mode refuses it; release restores it"

"$WARD" device revoke sensor-a --reason keyCompromise >/dev/null
curl -sf --cacert data/ca.pem "$WARD_SERVER/crl" -o crl.der
openssl crl -inform DER -in crl.der -noout -text | grep -qi "$(openssl x509 -in sensor-a.pem -noout -serial | cut -d= -f2)" || fail "revoked serial not in the CRL"
out=$(mosquitto_pub $A -i sensor-a -t devices/sensor-a/x -m x 2>&1) && fail "revoked certificate accepted"
ok "revoked sensor-a is in the CRL (openssl crl) and refused by the gateway"
echo "interop: all checks passed"

# bench/lib.sh: what the scripts in bench/ share. Source it
# after setting NAME (the script's name, for messages), ROOT (the
# repository), TMP (a scratch directory), DATA (Ward's data directory),
# HTTPS_PORT, MQTT_PORT and MOSQ_PORT. It starts nothing by itself.

# cleanup_brokers stops WARD_PID and MOSQ_PID and removes TMP unless KEEP=1; the
# scripts install it with "trap cleanup_brokers EXIT" (others keep their own cleanup).
cleanup_brokers() {
	for p in $WARD_PID $MOSQ_PID; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}

# record NAME CMD...: run CMD, print its output but for its RESULT line,
# which is appended to $RESULTS under NAME; stop if CMD fails.
record() {
	local name=$1 out
	shift
	out=$("$@") || { echo "$out"; echo "$NAME: $name failed" >&2; exit 1; }
	echo "$out" | grep -v '^RESULT'
	echo "$out" | grep '^RESULT' | sed "s/^RESULT/$name/" >>"$RESULTS"
}

# free_port prints a loopback TCP port nobody listens on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		if ! ss -Hltn "sport = :$p" | grep -q .; then
			echo "$p"
			return
		fi
	done
}

# need CMD HOWTO: stop with HOWTO when CMD is missing.
need() { command -v "$1" >/dev/null || { echo "$NAME: $1 is missing ($2)" >&2; exit 1; }; }

# need_tools checks what every benchmark needs beside Go.
need_tools() {
	need mosquitto "apt-get update && apt-get install -y mosquitto, or scripts/install-test-deps.sh"
	need curl "apt-get install -y curl"
	need ss "apt-get install -y iproute2"
}

# print_machine prints what the figures depend on.
print_machine() {
	echo "== machine"
	echo "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
	echo "$(go version)"
	echo "$(mosquitto -h 2>/dev/null | head -1)"
}

# build_tools builds ward and the load clients into $TMP.
build_tools() {
	echo "== build"
	(cd "$ROOT" && go build -o "$TMP/ward" ./cmd/ward && go build -o "$TMP/estload" ./bench/estload && go build -o "$TMP/mqttload" ./bench/mqttload)
}

# RAISED are the serve flags that lift the per-device limits for load runs
# (and the per-source handshake slots: every load client connects from
# 127.0.0.1, 16 handshakes at a time).
RAISED=(--gateway-messages-per-second 1000000000 --gateway-bytes-per-second 1000000000000 --gateway-connects-per-minute 100000000
	--gateway-sessions-per-device 1000000 --gateway-handshakes-per-address 1000000 --gateway-handshakes-per-prefix 1000000)

# RAISED_EST lifts EST's per-source limit: the load clients enroll every
# device from one address.
RAISED_EST=(--est-source-rate 1000000000 --est-source-burst 1000000000)

# start_ward [extra flags]: ward serve on the ports, healthy or exit.
start_ward() {
	"$TMP/ward" serve --data-dir "$DATA" --https-addr "127.0.0.1:$HTTPS_PORT" --mqtt-addr "127.0.0.1:$MQTT_PORT" \
		--log-level warn "$@" >>"$TMP/ward.log" 2>&1 &
	WARD_PID=$!
	for _ in $(seq 100); do
		if curl -sf --cacert "$DATA/ca.pem" "https://127.0.0.1:$HTTPS_PORT/healthz" >/dev/null 2>&1; then return; fi
		kill -0 "$WARD_PID" 2>/dev/null || { cat "$TMP/ward.log" >&2; exit 1; }
		sleep 0.1
	done
	echo "$NAME: ward not healthy after 10s" >&2
	exit 1
}

stop_ward() {
	kill "$WARD_PID"
	wait "$WARD_PID" 2>/dev/null || true
	WARD_PID=
}

# mosquitto_config writes $TMP/mosquitto/mosquitto.conf: our own Mosquitto
# on MOSQ_PORT with Ward's CA and server certificate, client certificates
# required, the certificate's identity as user name and the ACL "pattern
# readwrite devices/%u/#", as Ward's default.
mosquitto_config() {
	M=$TMP/mosquitto
	mkdir -p "$M"
	cat "$DATA/ca/issuer.pem" "$DATA/ca/root.pem" >"$M/cafile.pem"
	cat "$DATA/ca/server.pem" "$DATA/ca/issuer.pem" >"$M/server-chain.pem"
	install -m 0600 "$DATA/ca/server.key" "$M/server.key"
	echo 'pattern readwrite devices/%u/#' >"$M/acl"
	cat >"$M/mosquitto.conf" <<CONF
# Our own instance; the system's mosquitto on :1883 is not touched.
per_listener_settings false
persistence false
log_dest stderr
log_type error
log_type warning
# Stay root (the default drops to user mosquitto, which cannot read the 0600 key here).
user root
# No cap on connections (the default, said so): bench/connections.sh holds many.
max_connections -1
listener $MOSQ_PORT 127.0.0.1
cafile $M/cafile.pem
certfile $M/server-chain.pem
keyfile $M/server.key
tls_version tlsv1.3
require_certificate true
use_identity_as_username true
acl_file $M/acl
# Go sets TCP_NODELAY on every connection; without this Mosquitto's CONNACK
# waits behind Nagle and delayed ACKs (about 40 ms per connection).
set_tcp_nodelay true
CONF
}

# start_mosquitto [CONF]: Mosquitto with mosquitto_config's file (or CONF,
# listening on MOSQ_PORT), listening or exit.
start_mosquitto() {
	mosquitto -c "${1:-$TMP/mosquitto/mosquitto.conf}" >>"$TMP/mosquitto.log" 2>&1 &
	MOSQ_PID=$!
	for _ in $(seq 50); do
		ss -Hltn "sport = :$MOSQ_PORT" | grep -q . && return
		kill -0 "$MOSQ_PID" 2>/dev/null || { cat "$TMP/mosquitto.log" >&2; exit 1; }
		sleep 0.1
	done
	echo "$NAME: mosquitto not listening after 5s" >&2
	exit 1
}

stop_mosquitto() {
	kill "$MOSQ_PID"
	wait "$MOSQ_PID" 2>/dev/null || true
	MOSQ_PID=
}

#!/usr/bin/env bash
# bench/connections.sh: what an idle mutual-TLS MQTT connection costs the
# server, Ward beside Mosquitto 2 on this machine, loopback only.
# docs/benchmarks.md ("Idle connections: memory per connection") quotes it.
#
#   bench/connections.sh                       # 0, 2,000, 5,000, 10,000 connections
#   SIZES="0 1000 20000" bench/connections.sh  # other sizes (0 is the baseline; keep it first)
#   DEVICES_N=500 bench/connections.sh         # device certificates to enroll (default 200)
#   SUBSCRIBE=false bench/connections.sh       # connections without a subscription
#   KEEP=1 bench/connections.sh                # keep the temporary directory
#
# Steps: build ward and the load clients; start `ward serve` on free ports in
# a temporary data directory and enroll DEVICES_N devices with estload (their
# certificates are mqttload's devices); write a Mosquitto configuration as
# bench/run.sh does (Ward's CA and server certificate, require_certificate,
# use_identity_as_username). Then for each size N and each broker: start the
# broker afresh (Ward with bench/run.sh's raised per-device limits, so that
# N/DEVICES_N connections per device are not refused by the connect rate
# limit), open N idle connections with `mqttload -mode idle` (TLS handshake,
# CONNECT with keep-alive 300 s and a clean session, client ID
# <device>:idle-<k>, SUBSCRIBE devices/<device>/cmd), read the broker's VmRSS
# once a second for SETTLE seconds after the last connection is up and keep
# the last sample, read Ward's go_goroutines from /metrics, close the load
# client and stop the broker. Everything started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${SIZES:-0 2000 5000 10000}
DEVICES_N=${DEVICES_N:-200}
SUBSCRIBE=${SUBSCRIBE:-true}
SETTLE=${SETTLE:-5}
CONCURRENCY=${CONCURRENCY:-16}
TMP=$(mktemp -d /tmp/ward-conns.XXXXXX)
WARD_PID= MOSQ_PID= LOAD_PID=

# Client and server run here: each holds one descriptor per connection.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cleanup() {
	for p in $LOAD_PID $WARD_PID $MOSQ_PID; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

NAME=connections.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need_tools

HTTPS_PORT=$(free_port) MQTT_PORT=$(free_port) MOSQ_PORT=$(free_port)
DATA=$TMP/data DEVICES=$TMP/devices

print_machine
echo "open files: $(ulimit -n); ephemeral ports: $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' -)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

build_tools

echo "== ward serve on 127.0.0.1:$HTTPS_PORT (HTTPS) and 127.0.0.1:$MQTT_PORT (MQTT/TLS); enroll $DEVICES_N devices"
start_ward "${RAISED_EST[@]}"
"$TMP/estload" -server "https://127.0.0.1:$HTTPS_PORT" -ca "$DATA/ca.pem" -token-file "$DATA/admin.token" \
	-n "$DEVICES_N" -concurrency 16 -prefix idle -keep "$DEVICES" | grep -v '^RESULT'
stop_ward

mosquitto_config

# ward_metric NAME prints one Prometheus gauge of Ward's /metrics.
ward_metric() {
	curl -sf --cacert "$DATA/ca.pem" -H "Authorization: Bearer $(cat "$DATA/admin.token")" \
		"https://127.0.0.1:$HTTPS_PORT/metrics" | awk -v n="$1" '$1 == n { printf "%.0f", $2 }'
}

RESULTS=$TMP/results
: >"$RESULTS"
# idle BROKER PID ADDR N: hold N idle connections to the broker, record its RSS.
idle() {
	local broker=$1 pid=$2 addr=$3 n=$4 out=$TMP/idle-$1-$4.out extra=
	"$TMP/mqttload" -mode idle -label "$broker" -addr "$addr" -broker-pid "$pid" -ca "$DATA/ca.pem" -certs "$DEVICES" \
		-devices "$DEVICES_N" -connections "$n" -concurrency "$CONCURRENCY" -subscribe="$SUBSCRIBE" -settle "$SETTLE" \
		-duration 0 >"$out" 2>&1 &
	LOAD_PID=$!
	until grep -q '^READY' "$out"; do
		if ! kill -0 "$LOAD_PID" 2>/dev/null; then
			cat "$out"
			echo "connections.sh: mqttload failed against $broker with $n connections" >&2
			exit 1
		fi
		sleep 0.5
	done
	if [[ $broker == ward ]]; then
		extra=" goroutines=$(ward_metric go_goroutines) heap_inuse_kb=$(($(ward_metric go_memstats_heap_inuse_bytes) / 1024))"
	fi
	kill -TERM "$LOAD_PID"
	wait "$LOAD_PID" || { cat "$out"; echo "connections.sh: mqttload reported an error" >&2; exit 1; }
	LOAD_PID=
	grep -v -e '^RESULT' -e '^READY' "$out"
	echo "$(grep '^RESULT' "$out")$extra" >>"$RESULTS"
}

for n in $SIZES; do
	echo "== $n idle connections (subscribe=$SUBSCRIBE), $DEVICES_N device certificates, $CONCURRENCY connecting at a time"
	start_ward "${RAISED[@]}"
	sleep 1
	idle ward "$WARD_PID" "127.0.0.1:$MQTT_PORT" "$n"
	stop_ward
	start_mosquitto
	sleep 1
	idle mosquitto "$MOSQ_PID" "127.0.0.1:$MOSQ_PORT" "$n"
	stop_mosquitto
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== summary (RSS: the broker's VmRSS, last of $SETTLE samples 1 s apart with all connections up; per connection: (RSS - RSS at 0) / N)"
awk '
{ delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
  b = v["label"]; n = v["conns"] + 0; rss[b, n] = v["rss_kb"]; gor[b, n] = v["goroutines"]; heap[b, n] = v["heap_inuse_kb"]
  if (!(n in seen)) { seen[n] = 1; ns[++k] = n } }
END {
	printf "%-10s %7s %10s %12s %11s %15s\n", "broker", "N", "RSS MiB", "KiB per conn", "goroutines", "Go heap in use"
	for (i = 1; i <= k; i++) for (j = 1; j <= 2; j++) {
		b = (j == 1) ? "ward" : "mosquitto"; n = ns[i]
		if (!((b, n) in rss)) continue
		per = (n > 0 && ((b, 0) in rss)) ? sprintf("%.1f", (rss[b, n] - rss[b, 0]) / n) : "-"
		printf "%-10s %7d %10.1f %12s %11s %15s\n", b, n, rss[b, n] / 1024, per, gor[b, n] == "" ? "-" : gor[b, n], heap[b, n] == "" ? "-" : sprintf("%.1f MiB", heap[b, n] / 1024)
	}
	print ""
	for (i = 1; i <= k; i++) { n = ns[i]
		if (n == 0 || !((("ward", 0) in rss) && (("mosquitto", 0) in rss))) continue
		w = rss["ward", n] - rss["ward", 0]; m = rss["mosquitto", n] - rss["mosquitto", 0]
		if (m > 0) printf "ratio Ward/Mosquitto, memory per idle connection at N=%d: %.1fx\n", n, w / m
	}
}' "$RESULTS"

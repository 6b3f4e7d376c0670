#!/usr/bin/env bash
# bench/run.sh: Ward's benchmarks of issue 3, Ward beside Mosquitto 2 on this
# machine, loopback only, in about 3 minutes. docs/benchmarks.md explains the
# figures; it quotes this script's output.
#
#   bench/run.sh                 # everything
#   DURATION=20s bench/run.sh    # longer measured intervals (default 10s)
#   KEEP=1 bench/run.sh          # keep the temporary directory (logs, certs)
#
# Steps: build ward and the load clients; start `ward serve` on free ports
# in a temporary data directory; EST enrollments/s (estload, keep-alive and
# a new TLS connection per enrollment; the enrolled devices become the MQTT
# load's devices); one QoS 0 run at Ward's default per-device limits; restart
# Ward with the per-device limits raised; start our own Mosquitto (its own
# config, a free port, Ward's CA and server certificate, require_certificate,
# use_identity_as_username, ACL "pattern readwrite devices/%u/#"); then, with
# the same load client (mqttload) against both: full mTLS handshakes/s and
# QoS 0 publish throughput. Everything started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
EST_N=${EST_N:-3000}
TMP=$(mktemp -d /tmp/ward-bench.XXXXXX)
WARD_PID= MOSQ_PID=

NAME=run.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup_brokers EXIT
need_tools

HTTPS_PORT=$(free_port) MQTT_PORT=$(free_port) MOSQ_PORT=$(free_port)
DATA=$TMP/data DEVICES=$TMP/devices

print_machine
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

build_tools

RESULTS=$TMP/results
: >"$RESULTS"

echo "== ward serve (default limits) on 127.0.0.1:$HTTPS_PORT (HTTPS) and 127.0.0.1:$MQTT_PORT (MQTT/TLS)"
start_ward "${RAISED_EST[@]}"
EST=("$TMP/estload" -server "https://127.0.0.1:$HTTPS_PORT" -ca "$DATA/ca.pem" -token-file "$DATA/admin.token" -server-pid "$WARD_PID")

echo "== EST simpleenroll, $EST_N devices, 32 concurrent, keep-alive HTTPS connections"
record est-keepalive "${EST[@]}" -n "$EST_N" -concurrency 32 -prefix ka -keep "$DEVICES"
echo "== EST simpleenroll, $EST_N devices, 32 concurrent, a new TCP+TLS connection per enrollment"
record est-newconn "${EST[@]}" -n "$EST_N" -concurrency 32 -prefix nc -new-conn

MQ=("$TMP/mqttload" -ca "$DATA/ca.pem" -certs "$DEVICES" -warmup "$WARMUP")
echo "== QoS 0 at Ward's default per-device limits (100 msgs/s, 1 MiB/s): 8 devices publishing unthrottled for 5s"
"${MQ[@]}" -addr "127.0.0.1:$MQTT_PORT" -broker-pid "$WARD_PID" -label ward-default-limits -devices 8 -duration 5s -warmup 1s | grep -v '^RESULT' || true
echo "== same, each publisher at 90 msgs/s (under the default limit)"
record ward-default-90 "${MQ[@]}" -addr "127.0.0.1:$MQTT_PORT" -broker-pid "$WARD_PID" -label ward-default-limits -devices 8 -rate 90 -duration 5s -warmup 1s

echo "== restart ward with per-device limits raised for throughput runs"
stop_ward
echo "ward serve ... ${RAISED[*]}"
start_ward "${RAISED[@]}"

echo "== mosquitto on 127.0.0.1:$MOSQ_PORT with Ward's CA and server certificate"
mosquitto_config
start_mosquitto

W=(-addr "127.0.0.1:$MQTT_PORT" -broker-pid "$WARD_PID")
Q=(-addr "127.0.0.1:$MOSQ_PORT" -broker-pid "$MOSQ_PID")

for curve in ward x25519; do
	echo "== full mTLS handshakes + CONNECT/CONNACK, 16 concurrent, 100 devices, client curves: $curve"
	record "connect-$curve-ward" "${MQ[@]}" "${W[@]}" -mode connect -devices 100 -concurrency 16 -curve "$curve" -duration "$DURATION" -label ward
	record "connect-$curve-mosquitto" "${MQ[@]}" "${Q[@]}" -mode connect -devices 100 -concurrency 16 -curve "$curve" -duration "$DURATION" -label mosquitto
done

# The window (messages in flight per device) keeps about 2,000-3,000 in
# flight in total, well within Ward's per-subscriber queue (1 MiB; a publisher waits
# beyond it) and enough to keep both brokers busy.
for nw in 8:256 100:32; do
	n=${nw%:*} win=${nw#*:}
	echo "== QoS 0, 64-byte payload, $n devices (one publisher + one subscriber connection each), window $win per device"
	record "pubsub-$n-ward" "${MQ[@]}" "${W[@]}" -mode pubsub -devices "$n" -window "$win" -duration "$DURATION" -label ward
	record "pubsub-$n-mosquitto" "${MQ[@]}" "${Q[@]}" -mode pubsub -devices "$n" -window "$win" -duration "$DURATION" -label mosquitto
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== summary (CPU in % of one core; 'other' = other processes on the machine)"
awk '
function kv(s,   a) { split(s, a, "="); return a[2] }
{ name=$1; for (i = 2; i <= NF; i++) { split($i, a, "="); v[name, a[1]] = a[2] } names[++n] = name }
END {
	printf "%-26s %10s %9s %9s %7s %7s %7s\n", "benchmark", "rate/s", "p50", "p99", "server", "client", "other"
	for (i = 1; i <= n; i++) { k = names[i]
		printf "%-26s %10s %7.1fms %7.1fms %7s %7s %7s\n", k, v[k,"rate"], v[k,"p50_us"]/1000, v[k,"p99_us"]/1000, v[k,"broker_cpu"], v[k,"client_cpu"], v[k,"other_cpu"] }
	print ""
	split("connect-ward connect-x25519 pubsub-8 pubsub-100", pre, " ")
	for (j = 1; j <= 4; j++) { p = pre[j]
		w = v[p "-ward", "rate"]; m = v[p "-mosquitto", "rate"]
		wc = v[p "-ward", "broker_cpu"]; mc = v[p "-mosquitto", "broker_cpu"]
		if (m > 0) printf "ratio Ward/Mosquitto %-16s %.2fx   per server CPU-second: %.2fx\n", p, w / m, (wc > 0 && mc > 0) ? (w / wc) / (m / mc) : 0 }
}' "$RESULTS"

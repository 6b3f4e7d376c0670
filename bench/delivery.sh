#!/usr/bin/env bash
# bench/delivery.sh: delivery without loss (issue 13), Ward beside Mosquitto
# 2 on this machine, loopback only, mutual TLS, the same load client
# (bench/mqttload) against both. For QoS 0 and QoS 1 with 50 and 1,000
# devices (one publisher and one subscriber connection each, own topics),
# and a fan-out (one publisher to 1,000 subscribers of fleet/all, a
# model-wide grant in Ward, "pattern readwrite fleet/#" in Mosquitto), it
# prints the delivered rate, the loss over the whole run (QoS 0: messages
# written and never received; QoS 1: messages acknowledged to the publisher
# and never received) and the CPU seconds each broker used in the measured
# interval (from /proc/PID/stat). docs/benchmarks.md quotes its output.
#
#   bench/delivery.sh                 # about 5 minutes
#   DURATION=20s bench/delivery.sh    # longer measured intervals (default 10s)
#   KEEP=1 bench/delivery.sh          # keep the temporary directory
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
TMP=$(mktemp -d /tmp/ward-delivery.XXXXXX)
WARD_PID= MOSQ_PID=

NAME=delivery.sh
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

echo "== ward serve, per-device limits raised: ${RAISED[*]}"
start_ward "${RAISED[@]}" "${RAISED_EST[@]}"
echo "== enroll 1000 devices (model bench)"
"$TMP/estload" -server "https://127.0.0.1:$HTTPS_PORT" -ca "$DATA/ca.pem" -token-file "$DATA/admin.token" \
	-n 1000 -concurrency 32 -prefix dl -keep "$DEVICES" | grep -v '^RESULT'
echo "== model-wide grant: ward device policy bench --model --allow-publish 'fleet/#' --allow-subscribe 'fleet/#'"
WARD_SERVER="https://127.0.0.1:$HTTPS_PORT" WARD_CA="$DATA/ca.pem" WARD_TOKEN=$(cat "$DATA/admin.token") \
	"$TMP/ward" device policy bench --model --allow-publish 'fleet/#' --allow-subscribe 'fleet/#' >/dev/null

mosquitto_config
echo 'pattern readwrite fleet/#' >>"$TMP/mosquitto/acl"
start_mosquitto

MQ=("$TMP/mqttload" -ca "$DATA/ca.pem" -certs "$DEVICES" -warmup "$WARMUP" -duration "$DURATION")
W=(-addr "127.0.0.1:$MQTT_PORT" -broker-pid "$WARD_PID" -label ward)
Q=(-addr "127.0.0.1:$MOSQ_PORT" -broker-pid "$MOSQ_PID" -label mosquitto)

# name devices window extra-flags...
both() {
	local name=$1
	shift
	echo "== $name: mqttload $*"
	record "$name-ward" "${MQ[@]}" "${W[@]}" "$@"
	record "$name-mosquitto" "${MQ[@]}" "${Q[@]}" "$@"
}
for qos in 0 1; do
	both "qos$qos-50" -qos "$qos" -devices 50 -window 32
	both "qos$qos-1000" -qos "$qos" -devices 1000 -window 4
	both "fanout-qos$qos-1000" -qos "$qos" -devices 1000 -fanout -window 8
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== summary (delivered messages/s; loss over the whole run; broker CPU seconds in the ${DURATION} measured)"
awk '
{ name=$1; for (i = 2; i <= NF; i++) { split($i, a, "="); v[name, a[1]] = a[2] } names[++n] = name }
END {
	printf "%-30s %10s %9s %9s %10s %12s\n", "benchmark", "delivered/s", "p50", "p99", "lost", "broker CPU s"
	for (i = 1; i <= n; i++) { k = names[i]
		printf "%-30s %10s %7.1fms %7.1fms %10s %12s\n", k, v[k,"rate"], v[k,"p50_us"]/1000, v[k,"p99_us"]/1000, v[k,"lost"] "/" v[k,"expected"], v[k,"broker_cpu_s"] }
	print ""
	split("qos0-50 qos0-1000 fanout-qos0-1000 qos1-50 qos1-1000 fanout-qos1-1000", pre, " ")
	for (j = 1; j <= 6; j++) { p = pre[j]
		w = v[p "-ward", "rate"]; m = v[p "-mosquitto", "rate"]
		wc = v[p "-ward", "broker_cpu_s"]; mc = v[p "-mosquitto", "broker_cpu_s"]
		if (m > 0) printf "ratio Ward/Mosquitto %-18s delivered %.2fx   per broker CPU-second %.2fx\n", p, w / m, (wc > 0 && mc > 0) ? (w / wc) / (m / mc) : 0 }
}' "$RESULTS"

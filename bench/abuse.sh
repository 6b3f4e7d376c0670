#!/usr/bin/env bash
# bench/abuse.sh: a legitimate device's MQTT connect latency and publish
# round-trip latency before and during each attack of issue 9, against
# `ward serve` on its embedded defaults (no limit raised), loopback only.
# docs/benchmarks.md ("Under attack") quotes it.
#
#   bench/abuse.sh                        # all four attacks
#   ATTACKS="idle stalled" bench/abuse.sh # some of them
#   IDLE_N=1500 STALLED_N=500 EST_RATE=2000 DURATION=10s KEEP=1 bench/abuse.sh
#   STALLED_DECLARE=8000 ATTACKS=stalled bench/abuse.sh  # CONNECTs under the 8 KiB cap: held, not refused
#
# Steps: build ward, bench/estload and bench/abuseload; start `ward serve`
# on free ports in a temporary data directory; enroll four legitimate
# devices and two attacking ones with estload (EST, their certificates kept).
# Then for each attack, abuseload measures one legitimate device (its own,
# so that the 30 connections per minute per device are never the limit):
# 10 connects and 50 publish round trips before the attack and again while
# it is held, and prints p50/p99 of both and Ward's resident memory:
#   idle             IDLE_N TCP sockets that never send (reopened when closed)
#   stalled          STALLED_N TLS connections of an enrolled device that
#                    declare a CONNECT of 1 MiB - 16 bytes (just under the packet
#                    cap) and stall (reopened 1 s after a close)
#   est-wrong-token  simpleenroll with a wrong token for made-up IDs, EST_RATE/s
#   reenroll         one device calling simplereenroll in a loop, 8 at a time
# The socket attacks come from many 127.x.y.z addresses (4 per address, 60
# per /24): an attacker with many addresses, below the per-source caps, who
# reaches the global handshake cap. Everything started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ATTACKS=${ATTACKS:-idle stalled est-wrong-token reenroll}
IDLE_N=${IDLE_N:-1500}
STALLED_N=${STALLED_N:-500}
STALLED_DECLARE=${STALLED_DECLARE:-1048560}
EST_RATE=${EST_RATE:-2000}
DURATION=${DURATION:-10s}
TMP=$(mktemp -d /tmp/ward-abuse.XXXXXX)
WARD_PID=

# The attack client and Ward each hold a descriptor per socket.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cleanup() {
	if [[ -n $WARD_PID ]]; then kill "$WARD_PID" 2>/dev/null && wait "$WARD_PID" 2>/dev/null || true; fi
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

NAME=abuse.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need curl "apt-get install -y curl"
need ss "apt-get install -y iproute2"

HTTPS_PORT=$(free_port) MQTT_PORT=$(free_port)
DATA=$TMP/data

print_machine
echo "open files: $(ulimit -n); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== build"
(cd "$ROOT" && go build -o "$TMP/ward" ./cmd/ward && go build -o "$TMP/estload" ./bench/estload && go build -o "$TMP/abuseload" ./bench/abuseload)

echo "== ward serve (embedded defaults) on 127.0.0.1:$HTTPS_PORT (HTTPS) and 127.0.0.1:$MQTT_PORT (MQTT/TLS)"
start_ward
EST=("$TMP/estload" -server "https://127.0.0.1:$HTTPS_PORT" -ca "$DATA/ca.pem" -token-file "$DATA/admin.token" -concurrency 2)
"${EST[@]}" -n 4 -prefix legit -keep "$TMP/legit" | grep -v '^RESULT'
"${EST[@]}" -n 2 -prefix attacker -keep "$TMP/attacker" | grep -v '^RESULT'

A=("$TMP/abuseload" -mqtt "127.0.0.1:$MQTT_PORT" -https "https://127.0.0.1:$HTTPS_PORT" -ca "$DATA/ca.pem" -ward-pid "$WARD_PID" -duration "$DURATION")
OUT=$TMP/results
: >"$OUT"
for attack in $ATTACKS; do
	case $attack in
	idle) args=(-n "$IDLE_N" -device "$TMP/legit/legit-000000") ;;
	stalled) args=(-n "$STALLED_N" -declare "$STALLED_DECLARE" -device "$TMP/legit/legit-000001" -attacker "$TMP/attacker/attacker-000000" -source-net 40) ;;
	est-wrong-token) args=(-rate "$EST_RATE" -device "$TMP/legit/legit-000002") ;;
	reenroll) args=(-device "$TMP/legit/legit-000003" -attacker "$TMP/attacker/attacker-000001") ;;
	*) echo "$NAME: unknown attack $attack" >&2; exit 1 ;;
	esac
	echo "== $attack"
	"${A[@]}" -attack "$attack" "${args[@]}" | tee -a "$OUT" | grep -v '^RESULT'
	kill -0 "$WARD_PID" 2>/dev/null || { echo "$NAME: ward exited during $attack" >&2; tail -20 "$TMP/ward.log" >&2; exit 1; }
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== summary: legitimate device, connect and publish round trip (p50 / p99, ms)"
awk '/^RESULT/ {
	for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
	printf "%-16s before: connect %7.2f / %7.2f  publish %6.2f / %6.2f   during: connect %7.2f / %7.2f  publish %6.2f / %6.2f  (failed connects %d, lost %d)\n", v["attack"],
		v["before_connect_p50_us"]/1000, v["before_connect_p99_us"]/1000, v["before_rt_p50_us"]/1000, v["before_rt_p99_us"]/1000,
		v["during_connect_p50_us"]/1000, v["during_connect_p99_us"]/1000, v["during_rt_p50_us"]/1000, v["during_rt_p99_us"]/1000,
		v["during_connect_failed"], v["during_rt_lost"]
}' "$OUT"

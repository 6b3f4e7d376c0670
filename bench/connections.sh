#!/usr/bin/env bash
# bench/connections.sh: what an idle mutual-TLS MQTT session costs the
# server, Ward beside Mosquitto 2 on this machine, loopback only.
# docs/benchmarks.md ("Idle MQTT connections: memory per connection") quotes it.
#
#   bench/connections.sh                       # 0, 10,000 and 100,000 sessions, 5 minutes idle each
#   SIZES="0 1000 20000" bench/connections.sh  # other sizes (0 is the baseline; keep it first)
#   IDLE=30 CPU_WINDOW=10s bench/connections.sh  # a smoke run: 30 s idle, CPU over 10 s
#   DEVICES_N=500 bench/connections.sh         # device certificates to enroll (default 200)
#   SUBSCRIBE=false bench/connections.sh       # connections without a subscription
#   SOURCES=8 bench/connections.sh             # client source addresses 127.0.0.1..127.0.0.8 (default 8)
#   BROKERS=ward bench/connections.sh          # one broker only (default "ward mosquitto")
#   KEEP=1 bench/connections.sh                # keep the temporary directory (heap profiles, logs)
#
# Steps: build ward and the load clients; start `ward serve` on free ports in
# a temporary data directory and enroll DEVICES_N devices with estload (their
# certificates are mqttload's devices); write a Mosquitto configuration as
# bench/run.sh does (Ward's CA and server certificate, require_certificate,
# use_identity_as_username, max_connections -1). Then for each size N and
# each broker: start the broker afresh (Ward with bench/run.sh's raised
# per-device limits, so that N/DEVICES_N connections per device are not
# refused, and --pprof-addr on a free loopback port), open N idle
# connections with `mqttload -mode idle` (TLS handshake, CONNECT with
# keep-alive 300 s and a clean session, client ID <device>:idle-<k>,
# SUBSCRIBE devices/<device>/cmd; a PINGREQ every 2 minutes, as a device
# with that keep-alive would) from SOURCES source addresses, and report the
# connect rate while ramping (sessions/s). Then read the broker's VmRSS once
# a second for IDLE seconds (default 300: the figure is memory after five
# minutes idle, not right after connecting) and keep the last sample, and
# its CPU time over CPU_WINDOW (default 60s) from /proc/PID/stat. For Ward,
# also read go_goroutines and the Go heap and stack in use from /metrics and
# fetch /debug/pprof/heap: its top entries (go tool pprof -top
# -sample_index=inuse_space) are printed per session. Close the load client
# and stop the broker. Everything started here is stopped on exit.
#
# Each process needs one descriptor per connection: the script raises the
# soft open-file limit to the hard limit and skips a size that does not fit
# under it (with the limit named; raising the hard limit needs
# CAP_SYS_RESOURCE: e.g. `prlimit --nofile=1100000` as root, or
# LimitNOFILE= in a unit).
#
# Several processes (where one may not open enough files, e.g. 100,000
# sessions under a hard limit of 20,000):
#
#   INSTANCES=6 SIZES="0 10000 100000" bench/connections.sh
#
# spreads each size over INSTANCES broker processes of each kind and
# INSTANCES load clients, each under the open-file limit (a size that would
# need more files per process is refused before anything starts, with the
# INSTANCES that would do). Ward runs as a cluster on this machine:
# `ward serve --role api` enrolls the devices once in a fresh PostgreSQL
# schema (PG_DSN, default the test database at 127.0.0.1:5432) with a fresh
# NATS namespace (NATS_URL, default nats://127.0.0.1:4222), then INSTANCES
# `ward serve --role gateway` nodes share that store, bus and CA, each with
# its own data directory, MQTT and HTTPS (/metrics) ports and --pprof-addr;
# the API node is stopped while the gateways are measured. Mosquitto runs as
# INSTANCES processes of the same configuration on their own ports. Load
# client k holds about N/INSTANCES sessions to broker k from its own SOURCES
# source addresses (127.0.0.(k*SOURCES+1) onwards, so that no two clients
# share ephemeral ports), CONCURRENCY/INSTANCES (rounded up) connecting at a
# time, each connection retried up to DIAL_TRIES times (default 8). The
# figures are sums over the processes: RSS (each broker's last sample after
# IDLE s), per session = (sum at N - sum at 0) / N, Go heap, stack and
# goroutines from each gateway's /metrics, CPU summed (percent of one core);
# connects/s = N / the slowest client's ramp. Heap profile entries are
# instance 1's, per its own sessions. The schema and the NATS stream are
# dropped on exit.
#
# Before each size the multi-process mode prints a memory plan and refuses a
# size that would not fit in MemAvailable less MEM_RESERVE_MIB (default 2048):
# brokers run one kind at a time, so the peak is the larger kind plus the
# load clients. Per process and per session it takes the larger of the
# figures measured at an earlier size of the run and the defaults
# WARD_BASE_MIB=100 WARD_KIB=52 (39.7 KiB after 5 minutes idle plus the
# ping bursts), MOSQ_BASE_MIB=12 MOSQ_KIB=24, CLIENT_BASE_MIB=16
# CLIENT_KIB=30 (the load client's own memory per held connection, from
# client_rss_kb in mqttload's RESULT line at 3,000 sessions; override any).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZES=${SIZES:-0 10000 100000}
DEVICES_N=${DEVICES_N:-200}
SUBSCRIBE=${SUBSCRIBE:-true}
IDLE=${IDLE:-${SETTLE:-300}}
CPU_WINDOW=${CPU_WINDOW:-60s}
SOURCES=${SOURCES:-8}
BROKERS=${BROKERS:-ward mosquitto}
CONCURRENCY=${CONCURRENCY:-16}
INSTANCES=${INSTANCES:-}
if [[ -n $INSTANCES && ! $INSTANCES =~ ^[1-9][0-9]*$ ]]; then
	echo "connections.sh: INSTANCES=$INSTANCES: want the number of processes of each kind (1 or more)" >&2
	exit 2
fi
TMP=$(mktemp -d /tmp/ward-conns.XXXXXX)
WARD_PID= MOSQ_PID= LOAD_PID=
GW_PIDS=() MQ_PIDS=() LOAD_PIDS=() SCHEMA= NAMESPACE=

# Client and server run here: each holds one descriptor per connection.
ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)

cleanup() {
	for p in $LOAD_PID "${LOAD_PIDS[@]}" $WARD_PID "${GW_PIDS[@]}" $MOSQ_PID "${MQ_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	if [[ -n $SCHEMA ]]; then
		psql "$PG_DSN" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 ||
			echo "connections.sh: could not drop PostgreSQL schema $SCHEMA; drop it by hand" >&2
	fi
	if [[ -n $NAMESPACE ]]; then
		nats_delete_stream "${NAMESPACE}_queues" ||
			echo "connections.sh: could not delete NATS stream ${NAMESPACE}_queues; delete it by hand" >&2
	fi
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}

# nats_delete_stream NAME deletes a JetStream stream of the NATS server at
# NATS_URL (JetStream's API over the plain protocol; no client needed).
nats_delete_stream() {
	local hp=${NATS_URL#nats://} fd line=
	exec {fd}<>"/dev/tcp/${hp%:*}/${hp##*:}" || return 1
	printf 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.ward-bench-conns 1\r\nPUB $JS.API.STREAM.DELETE.%s _INBOX.ward-bench-conns 0\r\n\r\n' "$1" >&"$fd"
	while read -r -t 5 -u "$fd" line; do
		if [[ $line == MSG* ]]; then
			read -r -t 5 -u "$fd" line
			break
		fi
	done
	exec {fd}>&-
	[[ $line == *'"success":true'* || $line == *'stream not found'* ]]
}
trap cleanup EXIT

NAME=connections.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need_tools

HTTPS_PORT=$(free_port) MQTT_PORT=$(free_port) MOSQ_PORT=$(free_port) PPROF_PORT=$(free_port)
DATA=$TMP/data DEVICES=$TMP/devices
RESULTS=$TMP/results
: >"$RESULTS"

print_machine
echo "open files per process: $FD_LIMIT; ephemeral ports: $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' -) per source address, $SOURCES source addresses"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -n $INSTANCES ]]; then
	# shellcheck source=bench/connections-multi.sh
	source "$ROOT/bench/connections-multi.sh"
	multi_preflight
fi

build_tools

if [[ -n $INSTANCES ]]; then
	multi_enroll
else
	echo "== ward serve on 127.0.0.1:$HTTPS_PORT (HTTPS) and 127.0.0.1:$MQTT_PORT (MQTT/TLS); enroll $DEVICES_N devices"
	start_ward "${RAISED_EST[@]}"
	"$TMP/estload" -server "https://127.0.0.1:$HTTPS_PORT" -ca "$DATA/ca.pem" -token-file "$DATA/admin.token" \
		-n "$DEVICES_N" -concurrency 16 -prefix idle -keep "$DEVICES" | grep -v '^RESULT'
	stop_ward
fi

mosquitto_config

# ward_metric NAME [PORT] prints one Prometheus gauge of /metrics of the Ward
# node whose HTTPS port is PORT (default HTTPS_PORT).
ward_metric() {
	curl -sf --cacert "$DATA/ca.pem" -H "Authorization: Bearer $(cat "$DATA/admin.token")" \
		"https://127.0.0.1:${2:-$HTTPS_PORT}/metrics" | awk -v n="$1" '$1 == n { printf "%.0f", $2 }'
}

# heap_top N: the top entries of $TMP/heap-N.pb.gz (minus
# $TMP/heap-0.pb.gz when there is one) per session, for N sessions.
heap_top() {
	local n=$1 base=
	[[ -f $TMP/heap-0.pb.gz ]] && base=-diff_base=$TMP/heap-0.pb.gz
	go tool pprof -top -sample_index=inuse_space -unit=B $base "$TMP/ward" "$TMP/heap-$n.pb.gz" 2>/dev/null |
		awk -v n="$n" '/^ *flat/ { hdr = 1; printf "%10s %10s  %s\n", "B/session", "cum B/s", "function"; next }
			hdr && NF >= 6 && k++ < 20 { f = $1; c = $4; gsub(/B$/, "", f); gsub(/B$/, "", c)
				fn = $6; for (i = 7; i <= NF; i++) fn = fn " " $i
				printf "%10.0f %10.0f  %s\n", f / n, c / n, fn }
			/^Showing nodes/ { print }'
}

# await_ready OUT PID WHY: wait until the load client PID wrote READY to
# OUT; if it exits before, print OUT and stop with WHY.
await_ready() {
	until grep -qs '^READY' "$1"; do
		if ! kill -0 "$2" 2>/dev/null; then
			cat "$1"
			echo "connections.sh: $3" >&2
			exit 1
		fi
		sleep 0.5
	done
}

# idle BROKER PID ADDR N: hold N idle connections to the broker, record its
# RSS after IDLE seconds and its CPU over CPU_WINDOW; for Ward also its Go
# runtime figures and heap profile.
idle() {
	local broker=$1 pid=$2 addr=$3 n=$4 out=$TMP/idle-$1-$4.out extra= settle=$IDLE
	((n > 0 || IDLE < 30)) || settle=30 # the baseline: an idle process settles sooner
	"$TMP/mqttload" -mode idle -label "$broker" -addr "$addr" -broker-pid "$pid" -ca "$DATA/ca.pem" -certs "$DEVICES" \
		-devices "$DEVICES_N" -connections "$n" -concurrency "$CONCURRENCY" -subscribe="$SUBSCRIBE" -settle "$settle" \
		-sources "$SOURCES" -cpu-window "$CPU_WINDOW" -duration 0 >"$out" 2>&1 &
	LOAD_PID=$!
	await_ready "$out" "$LOAD_PID" "mqttload failed against $broker with $n connections"
	if [[ $broker == ward ]]; then
		extra=" goroutines=$(ward_metric go_goroutines) heap_inuse_kb=$(($(ward_metric go_memstats_heap_inuse_bytes) / 1024)) stack_inuse_kb=$(($(ward_metric go_memstats_stack_inuse_bytes) / 1024))"
		curl -sf "http://127.0.0.1:$PPROF_PORT/debug/pprof/heap" -o "$TMP/heap-$n.pb.gz"
		if ((n > 0)); then
			local base=
			[[ -f $TMP/heap-0.pb.gz ]] && base=-diff_base=$TMP/heap-0.pb.gz
			echo "-- Ward's heap profile after $IDLE s idle, top entries per session ((inuse_space${base:+ - at 0 sessions}) / $n; sampled)"
			heap_top "$n"
		fi
	fi
	kill -TERM "$LOAD_PID"
	wait "$LOAD_PID" || { cat "$out"; echo "connections.sh: mqttload reported an error" >&2; exit 1; }
	LOAD_PID=
	grep -v -e '^RESULT' -e '^READY' -e 'RSS samples' "$out"
	echo "$(grep '^RESULT' "$out")$extra" >>"$RESULTS"
}

if [[ -n $INSTANCES ]]; then
	multi_sizes
else
	for n in $SIZES; do
		if ((n + 200 > FD_LIMIT)); then
			echo "== skipped $n idle connections: a process may open only $FD_LIMIT files here (hard limit; see the header)"
			continue
		fi
		echo "== $n idle connections (subscribe=$SUBSCRIBE), $DEVICES_N device certificates, $CONCURRENCY connecting at a time, $IDLE s idle"
		echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
		if [[ " $BROKERS " == *" ward "* ]]; then
			start_ward "${RAISED[@]}" --pprof-addr "127.0.0.1:$PPROF_PORT"
			sleep 1
			idle ward "$WARD_PID" "127.0.0.1:$MQTT_PORT" "$n"
			stop_ward
		fi
		if [[ " $BROKERS " == *" mosquitto "* ]]; then
			start_mosquitto
			sleep 1
			idle mosquitto "$MOSQ_PID" "127.0.0.1:$MOSQ_PORT" "$n"
			stop_mosquitto
		fi
	done
fi

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
if [[ -n $INSTANCES ]]; then
	echo "== summary ($INSTANCES processes of each kind; RSS: the sum of the brokers' VmRSS after $IDLE s idle with all sessions up; per session: (RSS - RSS at 0) / N; heap, stack and goroutines summed over the gateways' /metrics; CPU over $CPU_WINDOW idle, summed over the brokers; connects/s: N / the slowest load client's ramp)"
else
	echo "== summary (RSS: the broker's VmRSS after $IDLE s idle with all sessions up; per session: (RSS - RSS at 0) / N; CPU over $CPU_WINDOW idle)"
fi
awk '
{ delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
  b = v["label"]; n = v["conns"] + 0; rss[b, n] = v["rss_kb"]; gor[b, n] = v["goroutines"]; heap[b, n] = v["heap_inuse_kb"]
  stk[b, n] = v["stack_inuse_kb"]; cpu[b, n] = v["cpu_pct"]; rate[b, n] = v["conn_rate"]
  if (!(n in seen)) { seen[n] = 1; ns[++k] = n } }
function per(x, b, n) { return (n > 0 && x[b, n] != "" && x[b, 0] != "") ? sprintf("%.1f", (x[b, n] - x[b, 0]) / n) : "-" }
END {
	printf "%-10s %7s %9s %12s %12s %12s %13s %10s %12s\n", "broker", "N", "RSS MiB", "KiB/session", "heap KiB/s", "stack KiB/s", "goroutines/s", "idle CPU %", "connects/s"
	for (i = 1; i <= k; i++) for (j = 1; j <= 2; j++) {
		b = (j == 1) ? "ward" : "mosquitto"; n = ns[i]
		if (!((b, n) in rss)) continue
		g = (n > 0 && gor[b, n] != "" && gor[b, 0] != "") ? sprintf("%.2f", (gor[b, n] - gor[b, 0]) / n) : "-"
		printf "%-10s %7d %9.1f %12s %12s %12s %13s %10s %12s\n", b, n, rss[b, n] / 1024, per(rss, b, n), per(heap, b, n), per(stk, b, n), g,
			(cpu[b, n] == "" ? "-" : cpu[b, n]), (n > 0 ? rate[b, n] : "-")
	}
	print ""
	for (i = 1; i <= k; i++) { n = ns[i]
		if (n == 0 || !((("ward", 0) in rss) && (("mosquitto", 0) in rss) && (("ward", n) in rss) && (("mosquitto", n) in rss))) continue
		w = rss["ward", n] - rss["ward", 0]; m = rss["mosquitto", n] - rss["mosquitto", 0]
		if (m > 0) printf "ratio Ward/Mosquitto, memory per idle session at N=%d: %.2fx\n", n, w / m
	}
}' "$RESULTS"
if [[ -n $INSTANCES ]]; then
	multi_clients_summary
fi

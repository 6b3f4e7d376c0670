#!/usr/bin/env bash
# bench/tufserve.sh: firmware serving throughput, Ward beside nginx (Debian)
# on this machine, loopback only (issue 10's serving figure).
#
#   bench/tufserve.sh                   # 200 devices, a 32 MiB target
#   CLIENTS=100 SIZE_MIB=8 bench/tufserve.sh
#   KEEP=1 bench/tufserve.sh            # keep the temporary directory
#
# Steps: build ward and the load clients; ward update init and ward firmware
# publish a random SIZE_MIB file in a fresh data directory; start `ward
# serve`; enroll CLIENTS devices over EST (bench/estload -keep); then, with
# the same load client (bench/tufload: every device downloads the file at
# once over its own mutual-TLS connection, the hash checked while it
# streams): Ward serving /tuf/targets/<model>/<version>/<sha256>.<file>, and
# nginx serving the same file from the same directory over TLS with the same
# server certificate and client certificates required (ssl_verify_client on,
# Ward's CA), sendfile on, worker_processes auto, access log off. Each
# server runs alone. Everything started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLIENTS=${CLIENTS:-200}
SIZE_MIB=${SIZE_MIB:-32}
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d /tmp/ward-tufserve.XXXXXX)
WARD_PID= MOSQ_PID= NGINX_PID=

cleanup() {
	for p in $WARD_PID $NGINX_PID; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

NAME=tufserve.sh
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need curl "apt-get install -y curl"
need ss "apt-get install -y iproute2"
if ! command -v nginx >/dev/null; then
	echo "== installing nginx (Debian) for the comparison"
	apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi

HTTPS_PORT=$(free_port) MQTT_PORT=$(free_port) NGINX_PORT=$(free_port)
DATA=$TMP/data DEVICES=$TMP/devices MODEL=bench-th1 VERSION=1.0.0

print_machine
nginx -v 2>&1
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== build"
(cd "$ROOT" && go build -o "$TMP/ward" ./cmd/ward && go build -o "$TMP/estload" ./bench/estload && go build -o "$TMP/tufload" ./bench/tufload)

echo "== TUF repository and a ${SIZE_MIB} MiB firmware in $DATA"
mkdir -p "$DATA"
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$TMP/firmware.bin"
SHA=$(sha256sum "$TMP/firmware.bin" | cut -d' ' -f1)
LEN=$(stat -c %s "$TMP/firmware.bin")
"$TMP/ward" update init --data-dir "$DATA" >/dev/null 2>&1 || "$TMP/ward" update init --data-dir "$DATA"
"$TMP/ward" firmware publish --data-dir "$DATA" --model "$MODEL" --version "$VERSION" "$TMP/firmware.bin" >/dev/null
TARGET=/tuf/targets/$MODEL/$VERSION/$SHA.firmware.bin
[[ -f $DATA/tuf/targets/$MODEL/$VERSION/$SHA.firmware.bin ]] || { echo "$NAME: published target not at $DATA$TARGET" >&2; exit 1; }

echo "== ward serve on 127.0.0.1:$HTTPS_PORT; $CLIENTS devices enrolled over EST"
start_ward "${RAISED_EST[@]}"
"$TMP/estload" -server "https://127.0.0.1:$HTTPS_PORT" -ca "$DATA/ca.pem" -token-file "$DATA/admin.token" \
	-n "$CLIENTS" -concurrency 16 -prefix dl -keep "$DEVICES" | grep -v '^RESULT'

echo "== nginx on 127.0.0.1:$NGINX_PORT, same file, same certificates"
N=$TMP/nginx
mkdir -p "$N"
cat "$DATA/ca/issuer.pem" "$DATA/ca/root.pem" >"$N/clientca.pem"
cat "$DATA/ca/server.pem" "$DATA/ca/issuer.pem" >"$N/server-chain.pem"
install -m 0600 "$DATA/ca/server.key" "$N/server.key"
cat >"$N/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $N/nginx.pid;
error_log $N/error.log warn;
user root;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 60s;
	types { application/octet-stream bin; }
	default_type application/octet-stream;
	client_body_temp_path $N/tmp;
	server {
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_certificate $N/server-chain.pem;
		ssl_certificate_key $N/server.key;
		ssl_client_certificate $N/clientca.pem;
		ssl_verify_client on;
		ssl_verify_depth 2;
		location /tuf/ { alias $DATA/tuf/; }
	}
}
CONF
nginx -t -c "$N/nginx.conf" -p "$N" 2>/dev/null || nginx -t -c "$N/nginx.conf" -p "$N"
nginx -c "$N/nginx.conf" -p "$N" &
NGINX_PID=$!
for _ in $(seq 50); do ss -Hltn "sport = :$NGINX_PORT" | grep -q . && break; sleep 0.1; done
ss -Hltn "sport = :$NGINX_PORT" | grep -q . || { cat "$N/error.log" >&2; exit 1; }
NGINX_PIDS=$(echo "$NGINX_PID" $(pgrep -P "$NGINX_PID") | tr ' ' ,)

RESULTS=$TMP/results
: >"$RESULTS"
LOAD=("$TMP/tufload" -ca "$DATA/ca.pem" -certs "$DEVICES" -clients "$CLIENTS" -sha256 "$SHA" -length "$LEN")
# Alternate the two servers, ROUNDS times each, so that a change in the
# machine's load affects both; the summary takes the median round.
for r in $(seq "$ROUNDS"); do
	echo "== round $r: $CLIENTS devices download ${SIZE_MIB} MiB at once"
	"${LOAD[@]}" -url "https://127.0.0.1:$HTTPS_PORT$TARGET" -server-pid "$WARD_PID" -label ward | tee -a "$RESULTS" | grep -v '^RESULT'
	"${LOAD[@]}" -url "https://127.0.0.1:$NGINX_PORT$TARGET" -server-pid "$NGINX_PIDS" -label nginx | tee -a "$RESULTS" | grep -v '^RESULT'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== summary (median of $ROUNDS rounds; CPU in % of one core)"
grep '^RESULT' "$RESULTS" | awk '
{ for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
  l = v["label"]; n[l]++; rate[l, n[l]] = v["rate"]; cpu[l, n[l]] = v["broker_cpu"]; rss[l, n[l]] = v["rss_peak_mib"]; p99[l, n[l]] = v["p99_us"] }
function median(arr, l, k,   i, j, t, x) {
	for (i = 1; i <= k; i++) x[i] = arr[l, i] + 0
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
	return x[int((k + 1) / 2)]
}
END {
	printf "%-8s %10s %10s %16s %12s %10s\n", "server", "MB/s", "CPU %", "MB/CPU-second", "peak RSS", "p99 s"
	for (l in n) { k = n[l]; r[l] = median(rate, l, k); c[l] = median(cpu, l, k)
		printf "%-8s %10.1f %10.0f %16.0f %9.0f MiB %10.2f\n", l, r[l], c[l], (c[l] > 0 ? r[l] / c[l] * 100 : 0), median(rss, l, k), median(p99, l, k) / 1e6 }
	if (r["nginx"] > 0) printf "ratio Ward/nginx throughput: %.2fx (goal >= 0.8x)\n", r["ward"] / r["nginx"]
	if (c["ward"] > 0 && c["nginx"] > 0) printf "ratio Ward/nginx MB per server CPU-second: %.2fx\n", (r["ward"] / c["ward"]) / (r["nginx"] / c["nginx"])
}'

#!/usr/bin/env bash
# Packets/s of Ward's network sensor (tracker, features, detector, evidence, rules), with the
# reference Kitsune-py run on the same packets as a peer, so the figures are
# ratios on the same machine. Usage:
#
#   bench/netids/run.sh [CAPTURE]
#
# Environment:
#   WARD_BENCH_CAPTURE  capture to use (default: the IoT-23 ircbot capture in
#                       ../shared/data, beside the repository)
#   WARD_BENCH_LEARN    learning packets (default 10832, the reference split)
#   KITSUNE_PY          checkout of github.com/ymirsky/Kitsune-py (commit
#                       7c8ea51); the peer is skipped, with a message, when unset
#   KITSUNE_PACKETS     packets the peer processes (default 20000: it runs at a
#                       few hundred to a few thousand packets/s)
#   WARD_BIN            use this ward binary instead of building ./cmd/ward
#   WARD_MQTTSET_DIR    the MQTTset attack captures (default: beside the
#                       repository, ../shared/data/iot-captures/mqttset-attacks)
#   PYTHON              python3 with numpy, scipy and scapy (Debian:
#                       apt-get install python3-numpy python3-scipy python3-scapy)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
capture="${1:-${WARD_BENCH_CAPTURE:-$root/../shared/data/iot-captures/iot23-hue-then-ircbot-34-1/hue-4-1_then_34-1-irc.pcap}}"
learn="${WARD_BENCH_LEARN:-10832}"
kpackets="${KITSUNE_PACKETS:-20000}"
python="${PYTHON:-python3}"
if [[ ! -f "$capture" ]]; then
	echo "capture $capture not found: pass one as the first argument or set WARD_BENCH_CAPTURE" >&2
	exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== Go micro-benchmarks (one core)"
go test -run '^$' -bench . -benchtime 2s -cpu 1 ./internal/netids/afterimage ./internal/netids/kitnet ./internal/netids/conntrack | grep -E '^Benchmark|ns/op'

echo "== ward ids analyze (decode + connection tracker + AfterImage + KitNET + evidence + rules + incidents), one goroutine"
if [[ -n "${WARD_BIN:-}" ]]; then cp "$WARD_BIN" "$tmp/ward"; else go build -o "$tmp/ward" ./cmd/ward; fi
timecmd=()
if [[ -x /usr/bin/time ]]; then timecmd=(/usr/bin/time -f '%M' -o "$tmp/rss"); fi
"${timecmd[@]}" "$tmp/ward" ids analyze "$capture" --learn "$learn" --alerts '' -o json >"$tmp/ward.json"
ward_pps=$(sed -n 's/.*"packets_per_second":\([0-9.e+]*\).*/\1/p' "$tmp/ward.json")
ward_pkts=$(sed -n 's/.*"packets":\([0-9]*\).*/\1/p' "$tmp/ward.json")
printf 'ward:    %d packets, %.0f packets/s' "$ward_pkts" "$ward_pps"
if [[ -f "$tmp/rss" ]]; then printf ', max RSS %d MB' "$(( $(cat "$tmp/rss") / 1024 ))"; fi
echo

echo "== MQTTset attacks, each after the benign MQTT capture (per host and per connection; bench/netids/mqttset)"
mqttset="${WARD_MQTTSET_DIR:-$root/../shared/data/iot-captures/mqttset-attacks}"
if [[ -d "$mqttset" ]]; then
	go run ./bench/netids/mqttset -data "$mqttset"
else
	echo "skipped: $mqttset not found (set WARD_MQTTSET_DIR)"
fi

echo "== memory after an hour-long replay (netns-gafgyt-sim played 4 times; bench/netids/replay)"
gafgyt="$root/../shared/data/iot-captures/netns-gafgyt-sim/netns-gafgyt-sim.pcap"
if [[ -f "$gafgyt" ]]; then
	go run ./bench/netids/replay -passes 4 -learn 35434 "$gafgyt"
else
	echo "skipped: $gafgyt not found"
fi

echo "== Kitsune-py (peer), first $kpackets packets"
if [[ -z "${KITSUNE_PY:-}" || ! -f "${KITSUNE_PY}/Kitsune.py" ]]; then
	echo "peer skipped: set KITSUNE_PY to a checkout of github.com/ymirsky/Kitsune-py to compare"
	exit 0
fi
cat >"$tmp/kitsune_bench.py" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
from Kitsune import Kitsune
path, limit, learn = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fm = learn // 10
k = Kitsune(path, limit, 10, fm, learn - fm)
n, t0 = 0, time.time()
while k.proc_next_packet() != -1:
    n += 1
dt = time.time() - t0
print("%d %.1f" % (n, n / dt))
PY
# Kitsune-py writes a .tsv next to the capture when tshark exists; use a copy.
cp "$capture" "$tmp/capture.pcap"
if ! peer=$(cd "$tmp" && "$python" "$tmp/kitsune_bench.py" "$KITSUNE_PY" "$tmp/capture.pcap" "$kpackets" "$learn" 2>"$tmp/kitsune.err" | tail -1); then
	echo "peer failed:" >&2
	tail -5 "$tmp/kitsune.err" >&2
	exit 1
fi
peer_pkts=${peer% *}
peer_pps=${peer#* }
printf 'kitsune: %d packets, %.0f packets/s\n' "$peer_pkts" "$peer_pps"
awk -v w="$ward_pps" -v k="$peer_pps" 'BEGIN { printf "ratio:   ward is %.0fx faster\n", w / k }'

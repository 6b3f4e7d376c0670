#!/usr/bin/env bash
# Live-capture test of `ward ids sniff` (AF_PACKET): in a network namespace of
# its own, the sensor captures on lo while this script scans 60 ports of
# 127.0.0.1 and opens 15 connections to its telnet port; the sensor must
# raise port-scan and brute-force alerts from those live packets, and stop
# cleanly on SIGINT with a summary.
# Usage: unshare -rn scripts/sniff-live.sh PATH-TO-WARD-BINARY
#        (or as root: unshare -n ...). Never run it in the host's namespace:
#        it brings lo up and probes it.
set -euo pipefail
WARD=$(realpath "${1:?usage: unshare -rn sniff-live.sh path/to/ward}")
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
fail() { echo "sniff-live: FAIL: $*" >&2; echo "--- sniff stderr" >&2; cat sniff.err >&2 || true; exit 1; }
ok() { echo "sniff-live: ok: $*"; }

ip link set lo up
"$WARD" ids sniff -i lo --learn 50 --alerts alerts.jsonl --assets assets.json --output json >summary.json 2>sniff.err &
pid=$!
for _ in $(seq 1 200); do grep -q 'listening on lo' sniff.err 2>/dev/null && break; sleep 0.05; done
grep -q 'listening on lo' sniff.err || fail "sniffer did not start"
ok "capturing on lo in a private network namespace"

probe() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || true; }
for port in $(seq 1000 1059); do probe "$port"; done   # closed ports: SYN, RST
for _ in $(seq 1 15); do probe 23; done                 # telnet brute force
# The alerts file is written as alerts are raised: wait for both rules.
for _ in $(seq 1 200); do
	grep -q '"rule":"port-scan"' alerts.jsonl 2>/dev/null && grep -q '"rule":"brute-force"' alerts.jsonl && break
	sleep 0.05
done
grep -q '"rule":"port-scan"' alerts.jsonl 2>/dev/null || fail "no port-scan alert written while capturing: $(cat alerts.jsonl 2>/dev/null)"
grep -q '"rule":"brute-force"' alerts.jsonl || fail "no brute-force alert written while capturing: $(cat alerts.jsonl)"
ok "port-scan and brute-force alerts raised from live packets, written as they were raised"
kill -INT "$pid"
wait "$pid" || fail "sniff exited with $?"
pid=""
packets=$(sed -n 's/.*"packets":\([0-9]*\).*/\1/p' summary.json)
[ "${packets:-0}" -ge 150 ] || fail "summary counts ${packets:-no} packets: $(cat summary.json)"
grep -q '127.0.0.1' assets.json || fail "127.0.0.1 not in the discovered hosts: $(cat assets.json)"
ok "stopped on SIGINT: $packets packets in the summary, hosts written"
echo "sniff-live: all checks passed"

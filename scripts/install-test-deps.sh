#!/usr/bin/env bash
# Installs what Ward's test suite needs beyond Go: the MQTT and EST interop
# clients (mosquitto-clients, curl, openssl), Mosquitto itself for the
# benchmarks, Chromium for the HTML report's headless browser test, nftables
# to load the generated MUD firewall rules, and iproute2 and util-linux
# (ip, unshare) for the live-capture test in a private network namespace;
# tmux, a real terminal for the password prompts of ward user add;
# and tuf-js (npm, pinned in scripts/tuf-js/package-lock.json) for the TUF
# interop test, which needs Node >= 20.17 (Debian's nodejs 18 is too old, so
# Node is not installed here).
# Idempotent; needs root (apt-get).
set -euo pipefail
need=()
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v mosquitto >/dev/null 2>&1 || need+=(mosquitto)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
	echo "install-test-deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi

if command -v npm >/dev/null 2>&1 && [ ! -d "$(dirname "$0")/tuf-js/node_modules/tuf-js" ]; then
	echo "install-test-deps: npm ci in scripts/tuf-js" >&2
	(cd "$(dirname "$0")/tuf-js" && npm ci --no-audit --no-fund --silent)
fi

# bench/connections-multi.sh: bench/connections.sh's multi-process mode
# (INSTANCES=K; its header describes the mode). Sourced by connections.sh
# only, after lib.sh, with its settings and RESULTS, TMP, DATA, DEVICES,
# HTTPS_PORT and FD_LIMIT set.

PG_DSN=${PG_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
DIAL_TRIES=${DIAL_TRIES:-8}
MEM_RESERVE_MIB=${MEM_RESERVE_MIB:-2048}
WARD_BASE_MIB=${WARD_BASE_MIB:-100} WARD_KIB=${WARD_KIB:-52}
MOSQ_BASE_MIB=${MOSQ_BASE_MIB:-12} MOSQ_KIB=${MOSQ_KIB:-24}
CLIENT_BASE_MIB=${CLIENT_BASE_MIB:-16} CLIENT_KIB=${CLIENT_KIB:-30}
GW_HTTPS=() GW_MQTT=() GW_PPROF=() MQ_PORTS=()

# new_port prints a free loopback port that no other instance was given.
new_port() {
	local p
	while :; do
		p=$(free_port)
		if [[ " $HTTPS_PORT $MQTT_PORT $MOSQ_PORT $PPROF_PORT ${GW_HTTPS[*]} ${GW_MQTT[*]} ${GW_PPROF[*]} ${MQ_PORTS[*]} " != *" $p "* ]]; then
			echo "$p"
			return
		fi
	done
}

# plan N prints the memory plan of N sessions over INSTANCES processes of
# each kind and fails when the peak would not fit in MemAvailable less
# MEM_RESERVE_MIB. Per process and per session it takes the larger of the
# defaults and what an earlier size of this run measured (RESULTS).
plan() {
	awk -v n="$1" -v k="$INSTANCES" -v brokers=" $BROKERS " -v reserve=$((MEM_RESERVE_MIB * 1024)) \
		-v avail="$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)" \
		-v wb=$((WARD_BASE_MIB * 1024)) -v wk="$WARD_KIB" -v mb=$((MOSQ_BASE_MIB * 1024)) -v mk="$MOSQ_KIB" \
		-v cb=$((CLIENT_BASE_MIB * 1024)) -v ck="$CLIENT_KIB" '
	{ delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
	  b = v["label"]; c = v["conns"] + 0
	  if (c == 0) { r0[b] = v["rss_kb"]; c0[b] = v["client_rss_kb"] }
	  else if (c >= top[b]) { top[b] = c; rn[b] = v["rss_kb"]; cn[b] = v["client_rss_kb"] } }
	function fit(def, x) { return x > def ? x : def }
	function gib(kib) { return kib / 1048576 }
	END {
		base["ward"] = wb; per["ward"] = wk; base["mosquitto"] = mb; per["mosquitto"] = mk
		for (b in r0) {
			base[b] = fit(base[b], r0[b] / k)
			if (top[b] > 0 && rn[b] != "") per[b] = fit(per[b], (rn[b] - r0[b]) / top[b])
			if (c0[b] != "") cb = fit(cb, c0[b] / k)
			if (top[b] > 0 && cn[b] != "" && c0[b] != "") ck = fit(ck, (cn[b] - c0[b]) / top[b])
		}
		peak = 0
		line = sprintf("memory plan for %d sessions over %d processes of each kind:", n, k)
		split("ward mosquitto", kinds, " ")
		for (j = 1; j <= 2; j++) {
			b = kinds[j]
			if (index(brokers, " " b " ") == 0) continue
			t = k * base[b] + n * per[b]
			if (t > peak) peak = t
			line = line sprintf(" %s %.1f GiB (%d x %.0f MiB + %.1f KiB/session);", b == "ward" ? "Ward" : "Mosquitto", gib(t), k, base[b] / 1024, per[b])
		}
		cl = k * cb + n * ck
		print line sprintf(" load clients %.1f GiB (%d x %.0f MiB + %.1f KiB/connection)", gib(cl), k, cb / 1024, ck)
		ok = peak + cl <= avail - reserve
		printf "peak (one kind of broker at a time, plus the clients) %.1f GiB; MemAvailable %.1f GiB less a %.1f GiB reserve: %s\n",
			gib(peak + cl), gib(avail), gib(reserve), ok ? "fits" : "does NOT fit"
		exit ok ? 0 : 1
	}' "$RESULTS"
}

# multi_preflight refuses, before anything is built or started, sizes that
# need more open files or ephemeral ports per process than the machine
# gives, or more memory than it has, and checks PostgreSQL and NATS.
multi_preflight() {
	local n per largest=0 ports need
	need psql "apt-get install -y postgresql-client"
	ports=$(awk '{ print $2 - $1 + 1 }' /proc/sys/net/ipv4/ip_local_port_range)
	for n in $SIZES; do
		per=$(((n + INSTANCES - 1) / INSTANCES))
		if ((per + 200 > FD_LIMIT)); then
			need=$(((n + FD_LIMIT - 201) / (FD_LIMIT - 200)))
			echo "connections.sh: $n sessions over INSTANCES=$INSTANCES is $per per process, but a process may open only $FD_LIMIT files here (hard limit; 200 kept for the process itself): use INSTANCES=$need or more" >&2
			exit 2
		fi
		# Each source address has the ephemeral range's ports; the previous
		# broker's closed connections may hold theirs (TIME_WAIT) for 60 s.
		if ((2 * ((per + SOURCES - 1) / SOURCES) > ports)); then
			echo "connections.sh: $n sessions over INSTANCES=$INSTANCES and SOURCES=$SOURCES is $(((per + SOURCES - 1) / SOURCES)) connections per source address, over half the $ports ephemeral ports: raise SOURCES" >&2
			exit 2
		fi
		((n > largest)) && largest=$n
	done
	# Loopback connections are tracked too where conntrack is loaded; the
	# previous broker's closed connections stay in its table for 2 minutes.
	local ct=/proc/sys/net/netfilter/nf_conntrack_max
	if [[ -r $ct ]] && ((2 * largest > $(cat "$ct"))); then
		echo "connections.sh: $largest sessions, plus the previous broker's closing ones, would overflow the connection tracking table ($(cat "$ct") entries, net.netfilter.nf_conntrack_max)" >&2
		exit 2
	fi
	echo "== $INSTANCES processes of each kind: memory plan for the largest size (defaults; refined before each size from what the run measured)"
	if ! plan "$largest"; then
		echo "connections.sh: $largest sessions would not fit in this machine's available memory (see the plan above): stop other work, lower SIZES or MEM_RESERVE_MIB, or set the per-session estimates if they are wrong" >&2
		exit 2
	fi
	psql "$PG_DSN" -Atqc 'SELECT 1' >/dev/null ||
		{ echo "connections.sh: PostgreSQL is not reachable at PG_DSN=$PG_DSN (start it: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start)" >&2; exit 2; }
	local hp=${NATS_URL#nats://}
	(exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}") 2>/dev/null ||
		{ echo "connections.sh: NATS is not reachable at NATS_URL=$NATS_URL (start nats-server -js)" >&2; exit 2; }
}

# multi_enroll starts an API node on a fresh PostgreSQL schema and NATS
# namespace (both removed by cleanup), enrolls DEVICES_N devices through
# it, stops it, and gives every gateway node a data directory with the
# cluster's CA and ports of its own.
multi_enroll() {
	local i f
	SCHEMA=ward_bench_conns_$$_$RANDOM NAMESPACE=benchconns$$x$RANDOM
	export WARD_STORE_POSTGRES_DSN=$PG_DSN WARD_STORE_POSTGRES_SCHEMA=$SCHEMA WARD_BUS_NATS_URL=$NATS_URL WARD_BUS_NAMESPACE=$NAMESPACE
	echo "== ward serve --role api on 127.0.0.1:$HTTPS_PORT (HTTPS), PostgreSQL schema $SCHEMA, NATS namespace $NAMESPACE; enroll $DEVICES_N devices"
	start_ward "${RAISED_EST[@]}" --role api
	"$TMP/estload" -server "https://127.0.0.1:$HTTPS_PORT" -ca "$DATA/ca.pem" -token-file "$DATA/admin.token" \
		-n "$DEVICES_N" -concurrency 16 -prefix idle -keep "$DEVICES" | grep -v '^RESULT'
	stop_ward
	for ((i = 0; i < INSTANCES; i++)); do
		mkdir -p "$TMP/gw$i/ca"
		for f in root.pem root.key issuer.pem issuer.key; do
			install -m 0600 "$DATA/ca/$f" "$TMP/gw$i/ca/$f"
		done
		GW_HTTPS+=("$(new_port)")
		GW_MQTT+=("$(new_port)")
		GW_PPROF+=("$(new_port)")
		MQ_PORTS+=("$(new_port)")
	done
}

# start_gateways starts INSTANCES `ward serve --role gateway` nodes.
start_gateways() {
	local i
	for ((i = 0; i < INSTANCES; i++)); do
		DATA=$TMP/gw$i HTTPS_PORT=${GW_HTTPS[i]} MQTT_PORT=${GW_MQTT[i]} \
			start_ward "${RAISED[@]}" --role gateway --pprof-addr "127.0.0.1:${GW_PPROF[i]}"
		GW_PIDS+=("$WARD_PID")
		WARD_PID=
	done
}

# start_mosquittos starts INSTANCES Mosquittos of mosquitto_config's
# configuration, each on its own port.
start_mosquittos() {
	local i conf
	for ((i = 0; i < INSTANCES; i++)); do
		conf=$TMP/mosquitto/mosquitto-$i.conf
		sed "s/^listener $MOSQ_PORT /listener ${MQ_PORTS[i]} /" "$TMP/mosquitto/mosquitto.conf" >"$conf"
		MOSQ_PORT=${MQ_PORTS[i]} start_mosquitto "$conf"
		MQ_PIDS+=("$MOSQ_PID")
		MOSQ_PID=
	done
}

# stop_all PID...: stop the processes at once and wait for each.
stop_all() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# idle_multi BROKER N PORTS PIDS: hold N idle sessions spread over the
# brokers on PORTS (an array's name) with PIDS (another's), one load
# client each; record the sums as one RESULT line.
idle_multi() {
	local broker=$1 n=$2 i ni out extra= settle=$IDLE conc=$(((CONCURRENCY + INSTANCES - 1) / INSTANCES))
	local -n ports=$3 pids=$4
	((n > 0 || IDLE < 30)) || settle=30 # the baseline: an idle process settles sooner
	LOAD_PIDS=()
	for ((i = 0; i < INSTANCES; i++)); do
		ni=$((n / INSTANCES + (i < n % INSTANCES)))
		"$TMP/mqttload" -mode idle -label "$broker" -addr "127.0.0.1:${ports[i]}" -broker-pid "${pids[i]}" -ca "$DATA/ca.pem" \
			-certs "$DEVICES" -devices "$DEVICES_N" -connections "$ni" -concurrency "$conc" -subscribe="$SUBSCRIBE" \
			-settle "$settle" -sources "$SOURCES" -source-first $((i * SOURCES + 1)) -dial-tries "$DIAL_TRIES" \
			-cpu-window "$CPU_WINDOW" -duration 0 >"$TMP/idle-$broker-$n-$i.out" 2>&1 &
		LOAD_PIDS+=("$!")
	done
	for ((i = 0; i < INSTANCES; i++)); do
		await_ready "$TMP/idle-$broker-$n-$i.out" "${LOAD_PIDS[i]}" \
			"load client $((i + 1)) of $INSTANCES failed against $broker $((i + 1)) ($((n / INSTANCES + (i < n % INSTANCES))) of $n connections)"
	done
	if [[ $broker == ward ]]; then
		local g=0 h=0 st=0
		for ((i = 0; i < INSTANCES; i++)); do
			g=$((g + $(ward_metric go_goroutines "${GW_HTTPS[i]}")))
			h=$((h + $(ward_metric go_memstats_heap_inuse_bytes "${GW_HTTPS[i]}")))
			st=$((st + $(ward_metric go_memstats_stack_inuse_bytes "${GW_HTTPS[i]}")))
		done
		extra=" goroutines=$g heap_inuse_kb=$((h / 1024)) stack_inuse_kb=$((st / 1024))"
		# The profile of the first gateway node, per its own sessions.
		ni=$((n / INSTANCES + (0 < n % INSTANCES)))
		curl -sf "http://127.0.0.1:${GW_PPROF[0]}/debug/pprof/heap" -o "$TMP/heap-$ni.pb.gz"
		if ((ni > 0)); then
			echo "-- Ward's heap profile of gateway node 1 of $INSTANCES after $IDLE s idle, top entries per session ((inuse_space$([[ -f $TMP/heap-0.pb.gz ]] && echo " - at 0 sessions")) / its $ni sessions; sampled)"
			heap_top "$ni"
		fi
	fi
	stop_all "${LOAD_PIDS[@]}"
	for ((i = 0; i < INSTANCES; i++)); do
		out=$TMP/idle-$broker-$n-$i.out
		if ! grep -q '^RESULT' "$out" || grep -q '^mqttload:' "$out"; then
			cat "$out"
			echo "connections.sh: load client $((i + 1)) of $INSTANCES reported an error" >&2
			exit 1
		fi
		grep -v -e '^RESULT' -e '^READY' -e 'RSS samples' "$out" | sed "s/^/[$((i + 1))] /"
	done
	LOAD_PIDS=()
	cat "$TMP"/idle-"$broker"-"$n"-*.out | grep '^RESULT' | awk -v k="$INSTANCES" -v extra="$extra" '
	{ delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
	  for (f in v) if (f ~ /^(conns|rss_kb|dropped|client_rss_kb)$/) sum[f] += v[f]
	  if (v["cpu_pct"] == "-") nocpu = 1; else cpu += v["cpu_pct"]
	  if (v["setup_s"] + 0 > setup) setup = v["setup_s"] + 0
	  label = v["label"]; devices = v["devices"] }
	END { printf "RESULT label=%s mode=idle conns=%d devices=%s rss_kb=%d dropped=%d setup_s=%.1f conn_rate=%.0f cpu_pct=%s client_rss_kb=%d instances=%d%s\n",
		label, sum["conns"], devices, sum["rss_kb"], sum["dropped"], setup, (setup > 0 ? sum["conns"] / setup : 0),
		(nocpu ? "-" : sprintf("%.2f", cpu)), sum["client_rss_kb"], k, extra }' >>"$RESULTS"
}

# multi_sizes measures each size of SIZES with INSTANCES processes of each kind.
multi_sizes() {
	local n b
	local -A start=([ward]=start_gateways [mosquitto]=start_mosquittos) ports=([ward]=GW_MQTT [mosquitto]=MQ_PORTS) \
		pids=([ward]=GW_PIDS [mosquitto]=MQ_PIDS)
	for n in $SIZES; do
		echo "== $n idle connections (subscribe=$SUBSCRIBE), $DEVICES_N device certificates, $INSTANCES brokers of each kind and $INSTANCES load clients ($((n / INSTANCES))-$(((n + INSTANCES - 1) / INSTANCES)) sessions each, $(((CONCURRENCY + INSTANCES - 1) / INSTANCES)) connecting at a time per client), $IDLE s idle"
		echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
		if ! plan "$n"; then
			echo "connections.sh: $n sessions would not fit in the memory available now (see the plan above); stopped before starting them" >&2
			exit 1
		fi
		for b in ward mosquitto; do
			[[ " $BROKERS " == *" $b "* ]] || continue
			"${start[$b]}"
			sleep 1
			idle_multi "$b" "$n" "${ports[$b]}" "${pids[$b]}"
			local -n running=${pids[$b]}
			stop_all "${running[@]}"
			running=()
			unset -n running
		done
	done
}

# multi_clients_summary prints the load clients' own memory per connection.
multi_clients_summary() {
	awk '
	{ delete v; for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
	  b = v["label"]; n = v["conns"] + 0; c[b, n] = v["client_rss_kb"]; if (!(n in seen)) { seen[n] = 1; ns[++k] = n } }
	END {
		print ""
		for (i = 1; i <= k; i++) for (j = 1; j <= 2; j++) {
			b = (j == 1) ? "ward" : "mosquitto"; n = ns[i]
			if (n == 0 || !((b, n) in c) || !((b, 0) in c)) continue
			printf "load clients against %s at N=%d: RSS %.1f MiB, %.1f KiB per connection ((RSS - RSS at 0) / N)\n", b, n, c[b, n] / 1024, (c[b, n] - c[b, 0]) / n
		}
	}' "$RESULTS"
}

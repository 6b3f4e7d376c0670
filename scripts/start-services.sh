#!/usr/bin/env bash
# Starts the PostgreSQL and NATS JetStream servers the test suite talks to,
# when they are not already running (CI machines start them; this makes a
# stopped one come back). Ward never uses Mosquitto's 127.0.0.1:1883.
set -uo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! up 5432 && [ -d /etc/postgresql ]; then
	echo "start-services: starting PostgreSQL" >&2
	pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
if ! up 4222 && [ -x /usr/sbin/nats-server ]; then
	echo "start-services: starting NATS" >&2
	mkdir -p /var/lib/nats-server
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server || true
fi
for i in $(seq 1 50); do
	up 5432 && up 4222 && break
	sleep 0.2
done

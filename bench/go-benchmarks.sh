#!/usr/bin/env bash
# Runs the Go benchmarks whose figures docs/benchmarks.md and
# docs/detection.md quote (the ones that are not part of bench/run.sh,
# bench/netids/run.sh, bench/detection or bench/audit), and prints them.
# Usage: bench/go-benchmarks.sh   (about 6 minutes; needs NATS on
# 127.0.0.1:4222 for the NATS bus figures, which are skipped otherwise)
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "== $*"; go test -run '^$' "$@" | grep -E '^Benchmark' || true; }
run -bench 'Observe|Pipeline' -cpu 1 -benchtime 2s ./internal/detect/
# Cluster detection on PostgreSQL (skipped without 127.0.0.1:5432):
# a detector worker's batches/s, the leader's time per window of 100k devices.
run -bench 'IngestPostgres|ShipIngestNATS' -benchtime 200x ./internal/detect/
run -bench Evaluate100k -benchtime 3x -timeout 30m ./internal/detect/
run -bench PublishQoS0 -benchtime 100000x -count 3 ./internal/gateway/
run -bench . -benchtime 3000x -count 2 ./bench/est/
run -bench Audit1M -benchtime 1x ./internal/audit/
run -bench . -benchtime 2s ./internal/bus/inproc/ ./internal/bus/nats/

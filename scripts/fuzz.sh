#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for the given time each.
set -euo pipefail
t=${1:-30s}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r fn; do
		echo "== $pkg $fn" >&2
		go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$t" "$pkg"
	done
done

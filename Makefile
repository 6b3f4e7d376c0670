# Ward's developer commands. `make test` is the whole test suite (CI runs it).
GO ?= go

.PHONY: test build vet fuzz bench interop

build:
	$(GO) build -o ward ./cmd/ward

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo "gofmt needed"; exit 1)

# The whole suite with the race detector: unit, integration (real TLS, MQTT,
# SQLite), interop with curl/openssl/mosquitto clients, and a short fuzz
# smoke of every fuzz target's seed corpus.
test: vet
	bash scripts/install-test-deps.sh
	$(GO) test -race -count=1 -timeout 40m ./...

# Run each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

bench:
	bash bench/run.sh

interop: build
	bash scripts/interop.sh ./ward
	bash scripts/interop-imported-ca.sh ./ward

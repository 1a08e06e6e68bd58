# hardneg: the two commands a new machine needs are `make demo` and `make test`.
GO ?= go
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
TOOLS := -modfile=tools/go.mod
LINT := -modfile=tools/lint/go.mod

.PHONY: demo test tools duckdb vet lint race bench servers fixtures

## demo: start Temporal (UI on 127.0.0.1:8233) and S3 on loopback, generate data, mine epochs 0 and 1
demo: tools
	$(GO) run ./cmd/demo

## test: everything CI runs (vet and staticcheck, then all tests against real local servers,
## the concurrent packages again under the race detector, the miner for arm64)
test: tools duckdb
	$(GO) vet ./...
	$(MAKE) --no-print-directory lint
	@# -v so the log shows what really ran (servers started, each test); the
	@# RUN/PAUSE/CONT lines only add noise.
	$(GO) test -count=1 -timeout 30m -v ./... 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'
	$(MAKE) --no-print-directory race
	$(MAKE) --no-print-directory test-arm64

## race: the packages where goroutines share data (the tile pipeline, storage,
## the workflows, Parquet reading) under the race detector, about two minutes;
## the miner, whose workers write disjoint per-query state, takes twice that
## alone and is left out, as are e2e's server processes, which it cannot see into
race:
	$(GO) test -race -count=1 -timeout 20m ./activities/ ./workflows/ ./storage/... ./internal/... ./dataset/

## tools: build the pinned Temporal CLI and versitygw (cached by Go after the first time)
tools:
	@echo "building pinned tools (first time: a few minutes)..."
	$(GO) tool $(TOOLS) -n temporal
	$(GO) tool $(TOOLS) -n versitygw

## duckdb: DuckDB for the tests that check other tools read our Parquet (npm; skipped without Node.js)
duckdb:
	@if command -v npm >/dev/null; then cd dataset/testdata/gen && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the DuckDB cross-check tests will be skipped"; fi

vet:
	$(GO) vet ./...

## lint: staticcheck, pinned in its own module (tools/lint/go.mod) so that its
## dependencies never move the servers' (tools/go.mod); built the first time.
## It checks the amd64 build, the arm64 one and the portable one (purego): the
## host's binary checks the others, since go tool would build it for GOARCH.
lint:
	sc=$$($(GO) tool $(LINT) -n staticcheck) && $$sc ./... && GOARCH=arm64 $$sc ./... && $$sc -tags purego ./...

## bench: search beside FAISS IndexFlatIP on the same data (installs python3-faiss,
## python3-numpy and OpenBLAS when missing; sizes: BENCH_NQ, BENCH_NB, BENCH_K, BENCH_DIMS),
## then the Go benchmarks of decoding, writing and search
bench:
	bash cmd/bench/compare.sh
	$(GO) test -run '^$$' -bench . -benchtime 3x ./dataset/ ./miner/...

## servers: run the Temporal dev server and versitygw in the foreground until Ctrl-C
servers: tools
	$(GO) run ./cmd/devservers

## fixtures: rewrite the DuckDB-written test fixtures (needs node and npm)
fixtures:
	cd dataset/testdata/gen && npm ci && npm run fixtures

## chaos: the reliability tests alone: worker SIGKILLs and a server restart mid-job, 10% of S3 requests faulted (HARDNEG_CHAOS_SEED=N replays a kill schedule)
.PHONY: chaos
chaos: tools
	$(GO) test -count=1 -timeout 15m -v -run 'TestChaos|TestS3Faults|TestWorkerKilledMidJob' ./e2e/ 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'

## test-arm64: the miner's tests built for arm64 and run under qemu-aarch64-static (every engine the
## emulator offers: neon-dot, neon, go), then cmd/bench for arm64 against this machine's build
## (cmd/bench/arm64_check.sh), and the NEON instructions the Go assembler lacks (WORDs) against
## GNU as. Installs qemu-user-static and binutils-aarch64-linux-gnu when missing; skipped without apt-get.
.PHONY: test-arm64
test-arm64:
	@if ! command -v qemu-aarch64-static >/dev/null || ! command -v aarch64-linux-gnu-as >/dev/null; then \
		if ! command -v apt-get >/dev/null; then \
			echo "test-arm64: SKIPPED: qemu-aarch64-static or aarch64-linux-gnu-as is missing and apt-get is unavailable (install qemu-user-static binutils-aarch64-linux-gnu)"; exit 0; \
		fi; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; pkgs="qemu-user-static binutils-aarch64-linux-gnu"; \
		echo "test-arm64: installing $$pkgs..."; \
		$$sudo apt-get install -y -qq $$pkgs >/dev/null 2>&1 || \
			{ $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs; } || exit 1; \
	fi; \
	set -e; \
	echo "test-arm64: the WORD-encoded NEON instructions against aarch64-linux-gnu-as"; \
	words=$$($(GO) test -count=1 -run '^TestNEONWords$$' -v ./miner/internal/kernel/ 2>&1) || { echo "$$words"; exit 1; }; \
	grep -E '^(--- |ok)' <<<"$$words"; grep -q -- '--- PASS: TestNEONWords' <<<"$$words"; \
	GOARCH=arm64 $(GO) vet ./miner/...; \
	GOARCH=arm64 QEMU_CPU=max $(GO) test -short -count=1 -timeout 15m -exec qemu-aarch64-static ./miner/...; \
	echo "test-arm64: again on a CPU without the dot product (QEMU_CPU=cortex-a72: neon, go)"; \
	GOARCH=arm64 QEMU_CPU=cortex-a72 $(GO) test -short -count=1 -exec qemu-aarch64-static ./miner/internal/...; \
	bash cmd/bench/arm64_check.sh

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -euc
.DEFAULT_GOAL := build

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
GOFILES := $(shell git ls-files '*.go' | grep -v '/gen-go/')

.PHONY: build run test deps bench soak gen lint

# go-zookeeper v1.0.4 reads and writes one field from two goroutines without a lock; everything
# built or tested here uses a workspace holding a copy of it with that field made atomic
# (scripts/zkpatch says more). A plain `go build` outside make uses the module as it is.
ZKWORK := $(CURDIR)/.build/zk/go.work
export GOWORK := $(ZKWORK)

$(ZKWORK): go.mod go.sum scripts/zkpatch/main.go
	GOWORK=off go run ./scripts/zkpatch .build/zk

# Build every command into bin/.
build: $(ZKWORK)
	go build -buildvcs=auto -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

# Build and start faed on the default configuration (etc/faed.toml).
run: build
	./bin/faed -config etc/faed.toml

# Install what is missing, then run every test, integration tests included.
# One package at a time (-p 1): on two cores, packages that start real servers
# and faed children side by side starved each other into timeouts.
test: deps $(ZKWORK)
	go vet ./...
	FAED_REQUIRE_SERVERS=1 go test -race -count=1 -p 1 -timeout 14m ./...
	go test -count=1 -run 'AllocatesNothing' ./engine # allocation counts, which -race changes

# Fuzz the connection handler, each target for FUZZTIME; the corpus lives in engine/testdata/fuzz.
FUZZTIME ?= 60s
fuzz: $(ZKWORK)
	for t in FuzzBufferedBinary FuzzBufferedCompact FuzzFramedBinary FuzzFramedCompact; do \
	  go test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./engine; \
	done

# Install test dependencies (apt-get; only what is missing).
deps:
	scripts/install-deps.sh

# Compare faed with a raw echo server and a stock Thrift server, in one run.
bench: deps build
	scripts/bench.sh

# Long load tests of the engine (FAED_SOAK=1), then the cluster soak for SOAK_DURATION (its report
# in $$FAED_ARTIFACTS/soak-report.txt); no -race, so the figures are real. make test runs both short.
SOAK_DURATION ?= 10m
soak: deps $(ZKWORK)
	FAED_SOAK=1 go test -count=1 -timeout 10m -v -run '^TestLoad' ./engine
	FAED_SOAK_DURATION=$(SOAK_DURATION) FAED_REQUIRE_SERVERS=1 go test -count=1 -timeout 3h -v -run '^TestSoak$$' ./cmd/faed

# Regenerate the Go, PHP and Python stubs from idl/fun.thrift.
gen:
	scripts/gen.sh

# gofmt, go vet and staticcheck, generated code excluded.
lint: $(ZKWORK)
	@test -z "$$(gofmt -l $(GOFILES))" || { gofmt -l $(GOFILES); exit 1; }
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $$(go list ./... | grep -v /gen-go/)

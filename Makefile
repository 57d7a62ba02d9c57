# femtoclaw. `make` (or `make help`) lists the targets.

MODULE   := github.com/femtoclaw/femtoclaw
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(MODULE)/cmd/femtoclaw/cli.version=$(VERSION) -X $(MODULE)/cmd/femtoclaw/cli.commit=$(COMMIT)
GOBUILD  := CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)"
DEMO_FOR ?= 30s
FUZZTIME ?= 10s

.DEFAULT_GOAL := help
.PHONY: help build test demo interop bench cross fuzz clean firmware

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/femtoclaw (static, stripped, version stamped)
	$(GOBUILD) -o bin/femtoclaw ./cmd/femtoclaw

test: ## go vet (also for 32-bit arm and the firmware's tags), gofmt and every test with the race detector
	go vet ./...
	GOOS=linux GOARCH=arm GOARM=6 go vet ./...
	go vet -tags nosimopcua,nogpio ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go test -race -count=1 ./...

demo: build ## run the demo for DEMO_FOR (default 30s; DEMO_FOR=0 runs until Ctrl-C)
	./bin/femtoclaw demo --for $(DEMO_FOR)

interop: build ## interop tests against independent peers (scripts/interop.sh)
	./scripts/interop.sh

.PHONY: interop-full
interop-full: build ## interop, with the acceptance tests' full durations (MQTT: a 60s broker outage)
	MQTT_OUTAGE=60s ./scripts/interop.sh

CRASHTEST_ACTUATIONS ?= 1000
CRASHTEST_KILLS      ?= 20
.PHONY: crashtest
crashtest: build ## crash test of the real binary: SIGKILL during actuations (CRASHTEST_ACTUATIONS, CRASHTEST_KILLS)
	FEMTOCLAW_CRASHTEST=1 FEMTOCLAW_BIN=$(CURDIR)/bin/femtoclaw CRASHTEST_ACTUATIONS=$(CRASHTEST_ACTUATIONS) \
	  CRASHTEST_KILLS=$(CRASHTEST_KILLS) go test -count=1 -v -timeout 20m -run '^TestCrash$$' ./gateway/crashtest/

SOAK_FOR ?= 10m
.PHONY: soak
soak: build ## soak test of the real binary under faults for SOAK_FOR (default 10m; report in bin/soak-report.txt)
	SOAK_FOR=$(SOAK_FOR) FEMTOCLAW_BIN=$(CURDIR)/bin/femtoclaw ./scripts/soak.sh

bench: ## every performance figure next to its target; rewrites docs/BENCHMARKS.md (scripts/bench.sh, < 10 min)
	./scripts/bench.sh

.PHONY: generate
generate: ## regenerate the committed protobuf code (needs protoc and protoc-gen-go v1.36.12)
	@command -v protoc-gen-go >/dev/null || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	PATH="$$PATH:$$(go env GOPATH)/bin" protoc --go_out=. --go_opt=paths=source_relative gateway/sparkplug/sparkplug_b.proto

fuzz: ## run every fuzz target for FUZZTIME (default 10s)
	./scripts/fuzz.sh $(FUZZTIME)

cross: ## static binaries for linux amd64, arm64, armv7, armv6 in bin/
	GOOS=linux GOARCH=amd64 $(GOBUILD) -o bin/femtoclaw-linux-amd64 ./cmd/femtoclaw
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o bin/femtoclaw-linux-arm64 ./cmd/femtoclaw
	GOOS=linux GOARCH=arm GOARM=7 $(GOBUILD) -o bin/femtoclaw-linux-armv7 ./cmd/femtoclaw
	GOOS=linux GOARCH=arm GOARM=6 $(GOBUILD) -o bin/femtoclaw-linux-armv6 ./cmd/femtoclaw

firmware: ## reproducible release bundles for linux amd64, arm64, armv7, armv6 in dist/
	VERSION=$(VERSION) COMMIT=$(COMMIT) ./scripts/firmware.sh

clean: ## remove build output
	rm -rf bin dist

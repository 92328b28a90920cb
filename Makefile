# venomrt — build, test and run.
#
#   make deps    install the Debian packages the Ebiten renderer and Xvfb need
#   make test    deps, vet, race tests (under Xvfb when available), headless build
#   make bench   venom / engine / procs benchmarks, each beside its baselines
#   make run     run the game (a window when DISPLAY is set, else --headless)
#   make fuzz    fuzz venom's segment validation for $(FUZZTIME)

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin

GO        ?= go
BENCHTIME ?= 1s
BENCH     ?= .
FUZZ      ?= FuzzSegment
FUZZPKG   ?= ./venom/
FUZZTIME  ?= 30s
ARGS      ?=

# Tests run under Xvfb when it is installed (deps installs it).
XRUN = ./scripts/xrun.sh

.PHONY: all deps vet test bench run fuzz

all: test

deps:
	@./scripts/deps.sh

vet:
	$(GO) vet ./...
	$(GO) vet -tags headless ./...

test: deps
	$(GO) vet ./...
	$(XRUN) $(GO) test -race -count=1 -p 1 -timeout 20m ./...
	$(GO) vet -tags headless ./...
	CGO_ENABLED=0 $(GO) build -tags headless -o /dev/null ./cmd/supervisor
	env -u DISPLAY CGO_ENABLED=0 $(GO) test -tags headless -count=1 ./demo/ ./cmd/supervisor/

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime=$(BENCHTIME) ./venom/ ./engine/ ./procs/...

# Ebiten needs an X display as soon as the program starts; without one the
# supervisor is built with -tags headless (no Ebiten, no cgo).
run:
	$(GO) run $(if $(DISPLAY),,-tags headless) ./cmd/supervisor run $(if $(DISPLAY),,--headless) $(ARGS)

fuzz:
	$(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(FUZZPKG)

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

# Xvfb's default screen is 8-bit; GL needs a 24-bit visual. Looked up when
# the recipe runs, after deps has installed it.
XRUN = $$(command -v xvfb-run >/dev/null && echo 'xvfb-run -a -s "-screen 0 1280x720x24"')

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

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime=$(BENCHTIME) ./venom/ ./engine/ ./procs/...

run:
	$(GO) run ./cmd/supervisor run $(if $(DISPLAY),,--headless) $(ARGS)

fuzz:
	$(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(FUZZPKG)

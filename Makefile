# venomrt — build, test and run.
#
#   make deps    install the Debian packages the Ebiten renderer and Xvfb need
#   make build   bin/supervisor (no cgo) and bin/venomrt-window (the Ebiten window)
#   make test    deps, vet, race tests (under Xvfb when available), the supervisor without a display
#   make bench   venom / engine / procs benchmarks, each beside its baselines
#   make run     build, then run the game (a window when DISPLAY is set, else --headless)
#   make fuzz    fuzz venom's segment validation for $(FUZZTIME)
#
# Two binaries: Ebiten opens the display in a package init, so only
# bin/venomrt-window links it; bin/supervisor runs anywhere and starts the
# window beside it as its child "render" when there is a display.

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

.PHONY: all deps build vet test bench run fuzz

all: test

deps:
	@./scripts/deps.sh

# The supervisor needs no cgo. The window needs cgo and the X11/GL headers
# (make deps); without a display make run does without it.
build:
	CGO_ENABLED=0 $(GO) build -o bin/supervisor ./cmd/supervisor
	$(if $(DISPLAY),,-)$(GO) build -o bin/venomrt-window ./cmd/venomrt-window

vet:
	$(GO) vet ./...

# venom's seqlock has fences of its own on arm64 (venom/fence_arm64.s), so
# test also cross-builds for GOARCH=arm64 without cgo: go vet (tests
# included) and go build of every package but the window packages, which
# link Ebiten and so need cgo and an arm64 C toolchain (ARM64_PKGS leaves
# out every package that imports Ebiten). Built, not run.
ARM64_PKGS = $(shell $(GO) list -f '{{.ImportPath}}{{range .Deps}}{{if eq . "github.com/hajimehoshi/ebiten/v2"}} ebiten{{end}}{{end}}' ./... | awk 'NF == 1')

# The race tests run under Xvfb: the window's tests need a display. Then the
# supervisor, built without cgo, and its no-display tests run with no
# DISPLAY at all.
test: deps
	$(GO) vet ./...
	GOARCH=arm64 CGO_ENABLED=0 $(GO) vet $(ARM64_PKGS)
	GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(ARM64_PKGS)
	$(XRUN) $(GO) test -race -count=1 -p 1 -timeout 20m ./...
	CGO_ENABLED=0 $(GO) build -o bin/supervisor ./cmd/supervisor
	env -u DISPLAY -u WAYLAND_DISPLAY ./bin/supervisor ls
	env -u DISPLAY -u WAYLAND_DISPLAY CGO_ENABLED=0 $(GO) test -count=1 -run 'NoDisplay|NoEbiten|IsHeadless|NeedsWindow' ./demo/ ./cmd/supervisor/

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime=$(BENCHTIME) ./venom/ ./engine/ ./procs/...

# The supervisor finds bin/venomrt-window beside it; without a display the
# renderer runs headless.
run: build
	./bin/supervisor run $(if $(DISPLAY),,--headless) $(ARGS)

fuzz:
	$(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(FUZZPKG)

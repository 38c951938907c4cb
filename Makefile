# kubectl-meshfed — the two commands a new machine needs are `make demo` and
# `make test`; both build whatever they are missing (the lab's binaries come
# from the Go module proxy into .bin/, cached by version).

GO        ?= go
BIN       := $(CURDIR)/.bin
PLUGIN    := $(BIN)/kubectl-meshfed
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/meshfed/kubectl-meshfed/pkg/cmd.version=$(VERSION)
SCENARIO  ?= demo
CLUSTERS  ?= 3
export MESHFED_LAB_BIN := $(BIN)

.PHONY: all build tools test unit demo lint generate lab-up lab-down lab-list bench clean dist

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(PLUGIN) ./cmd/kubectl-meshfed

tools:
	tools/build.sh >/dev/null

# Every test: unit tests and the end-to-end tests on the lab (needs root for
# the lab's network namespaces; without it the lab falls back to loopback).
test: lint tools build fuzz
	$(GO) test -count=1 -timeout 30m ./...

# A short fuzz of every parser of untrusted input, FUZZ_EXECS inputs per
# target on top of the committed seed corpora (testdata/fuzz). A count, not
# a duration: go1.26's -fuzztime deadline can fail a clean run
# (golang/go#75804). Longer: make fuzz FUZZ_EXECS=1000000.
.PHONY: fuzz
FUZZ_EXECS   ?= 2000
FUZZ_TARGETS := pkg/pki:FuzzParseCertificates pkg/pki:FuzzParsePrivateKey \
                pkg/mesh:FuzzReadCA pkg/mesh:FuzzParseEntry pkg/mesh:FuzzMeshConfig \
                pkg/probe:FuzzParseClusterz pkg/aws/pca:FuzzDescribeResponse pkg/aws/network:FuzzDetect
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t ($(FUZZ_EXECS) inputs)"; \
	  $(GO) test ./$${t%%:*} -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZ_EXECS)x >/dev/null || \
	  { $(GO) test ./$${t%%:*} -run "^$${t#*:}$$" -count=1; exit 1; }; \
	done

# Unit tests only: no lab, seconds.
unit:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

generate:
	$(GO) run ./internal/gendocs > docs/checks.md
	$(GO) test ./test/faults -run '^TestFaultsDoc$$' -update -count=1 >/dev/null

# A lab that stays up (Ctrl-C or `make lab-down` stops it); `make lab-list`
# names the scenarios.
lab-up: tools
	$(GO) run ./internal/lab/cmd/lab up --scenario $(SCENARIO) --clusters $(CLUSTERS)

lab-list:
	@$(GO) run ./internal/lab/cmd/lab list

lab-down:
	$(GO) run ./internal/lab/cmd/lab down

demo: tools build
	$(GO) run ./internal/lab/cmd/lab demo --scenario $(SCENARIO) --clusters $(CLUSTERS) --plugin $(PLUGIN)

# The doctor's read on a lab of DESIGN.md's size, against the watch-cache
# floor and istioctl analyze (see test/bench).
bench: tools build
	tools/build.sh istioctl >/dev/null
	$(GO) test ./test/bench -run '^$$' -bench . -benchtime 10x -timeout 30m

# Release archives for krew, named as krew-manifest.yaml expects:
# dist/kubectl-meshfed_<version>_<os>_<arch>.tar.gz and dist/SHA256SUMS.
DIST      := $(CURDIR)/dist
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

dist:
	rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  name=kubectl-meshfed_$(VERSION)_$${os}_$${arch}; stage=$(DIST)/$$name; mkdir -p $$stage; \
	  echo "building $$name"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$stage/kubectl-meshfed$$ext ./cmd/kubectl-meshfed; \
	  cp README.md $$stage/; tar -C $$stage -czf $(DIST)/$$name.tar.gz .; rm -rf $$stage; \
	done
	cd $(DIST) && sha256sum *.tar.gz > SHA256SUMS

clean:
	rm -rf $(BIN) $(DIST)

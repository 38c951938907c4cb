# kubectl-meshfed — the two commands a new machine needs are `make demo` and
# `make test`; both build whatever they are missing (the lab's binaries come
# from the Go module proxy into .bin/, cached by version).

GO        ?= go
BIN       := $(CURDIR)/.bin
PLUGIN    := $(BIN)/kubectl-meshfed
# A semantic version, as krew requires: the tag, or v0.0.0-g<commit> before
# the first tag. COMMIT is stamped too (GOFLAGS=-buildvcs=false leaves the
# binary's own build info without it).
# Both are computed once (:=), so one run never names two versions.
ifeq ($(origin VERSION),undefined)
VERSION   := $(shell v=$$(git describe --tags --always --dirty 2>/dev/null || echo dev); case $$v in (v[0-9]*) echo $$v;; (*) echo v0.0.0-g$$v;; esac)
endif
ifeq ($(origin COMMIT),undefined)
COMMIT    := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
endif
# grpcnotrace: gRPC (the xDS client, pkg/xds) without golang.org/x/net/trace,
# whose html/template turns off the linker's dead-method elimination: 70 MB
# instead of 30 (TestImportDiet in pkg/kube). Every build of the plugin passes it.
TAGS      := grpcnotrace
LDFLAGS   := -s -w -X github.com/meshfed/kubectl-meshfed/pkg/cmd.version=$(VERSION) -X github.com/meshfed/kubectl-meshfed/pkg/cmd.commit=$(COMMIT)
SCENARIO  ?= demo
CLUSTERS  ?= 3
export MESHFED_LAB_BIN := $(BIN)

.PHONY: all build tools test unit demo lint generate lab-up lab-down lab-list bench clean
.PHONY: dist release krew-check test-deps

all: build

# The same static binary `make dist` ships (cgo off): with cgo on, Go links
# the system's resolver and libc, and the binary is three times larger and
# starts with 70 MB more memory. Every benchmark figure is taken on this one.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(PLUGIN) ./cmd/kubectl-meshfed

tools:
	tools/build.sh >/dev/null

# Every test: unit tests and the end-to-end tests on the lab (needs root for
# the lab's network namespaces; without it the lab falls back to loopback).
# The end-to-end tests run the binary `make build` built (MESHFED_PLUGIN),
# the one that ships.
test: lint tools build krew-check test-deps fuzz
	MESHFED_PLUGIN=$(PLUGIN) $(GO) test -count=1 -timeout 30m ./...

# A short fuzz of every parser of untrusted input, FUZZ_EXECS inputs per
# target on top of the committed seed corpora (testdata/fuzz). A count, not
# a duration: go1.26's -fuzztime deadline can fail a clean run
# (golang/go#75804). Longer: make fuzz FUZZ_EXECS=1000000.
.PHONY: fuzz
FUZZ_EXECS   ?= 2000
FUZZ_TARGETS := pkg/pki:FuzzParseCertificates pkg/pki:FuzzParsePrivateKey \
                pkg/mesh:FuzzReadCA pkg/mesh:FuzzParseEntry pkg/mesh:FuzzMeshConfig \
                pkg/probe:FuzzParseClusterz pkg/probe:FuzzReadRegistry pkg/probe:FuzzParseNetworkz pkg/probe:FuzzParseMetrics pkg/aws/pca:FuzzDescribeResponse pkg/aws/network:FuzzDetect
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t ($(FUZZ_EXECS) inputs)"; \
	  $(GO) test ./$${t%%:*} -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZ_EXECS)x >/dev/null || \
	  { $(GO) test ./$${t%%:*} -run "^$${t#*:}$$" -count=1; exit 1; }; \
	done

# Unit tests only: no lab, seconds.
unit: test-deps
	$(GO) test -short ./...

# What the tests call besides Go: xmllint validates -o junit against the
# JUnit schema (Debian's libxml2-utils; CI runs as root).
test-deps:
	@command -v xmllint >/dev/null || (apt-get update && apt-get install -y libxml2-utils)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	@# No symbolic link is tracked: a worktree's .bin link to another
	@# checkout's lab binaries was committed once, and CI then used this
	@# machine's binaries through it instead of building its own.
	@out=$$(git ls-files -s | awk '$$1 == "120000" {print $$4}'); if [ -n "$$out" ]; then echo "tracked symbolic links:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

generate:
	$(GO) run ./internal/genfindings -o pkg/checks/findings_gen.go
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
# floor and istioctl analyze, on the binary `make build` makes: one run
# prints the paired ratios, each process's peak RSS and the machine's load
# (see test/bench/README.md). BENCH=Paired runs only that.
BENCH ?= Paired
bench: tools build
	tools/build.sh istioctl >/dev/null
	MESHFED_PLUGIN=$(PLUGIN) $(GO) test ./test/bench -run '^$$' -bench '$(BENCH)' -benchtime 7x -timeout 60m

# Release archives for krew: dist/kubectl-meshfed_<version>_<os>_<arch>.tar.gz,
# each the static binary, LICENSE and README.md (and, but on Windows,
# kubectl_complete-meshfed for kubectl's plugin completion), and dist/SHA256SUMS. Only
# what changed is rebuilt; archives of other versions are removed.
DIST      := $(CURDIR)/dist
PLATFORMS := linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64
ARCHIVES  := $(foreach p,$(PLATFORMS),$(DIST)/kubectl-meshfed_$(VERSION)_$(p).tar.gz)
SOURCES   := $(shell git ls-files -- cmd pkg go.mod go.sum ':!:*_test.go' ':!:*/testdata/*' 2>/dev/null) LICENSE README.md plugins/kubectl_complete-meshfed
MANIFEST  := $(DIST)/plugins/meshfed.yaml

dist: $(DIST)/SHA256SUMS

$(DIST)/kubectl-meshfed_$(VERSION)_%.tar.gz: $(SOURCES)
	@p=$*; os=$${p%_*}; arch=$${p#*_}; ext=; [ $$os = windows ] && ext=.exe; \
	stage=$(DIST)/.stage-$$p; rm -rf $$stage && mkdir -p $$stage; echo "building $(@F)"; \
	CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $$stage/kubectl-meshfed$$ext ./cmd/kubectl-meshfed && \
	cp LICENSE README.md $$stage/ && { [ $$os = windows ] || cp -p plugins/kubectl_complete-meshfed $$stage/; } && \
	tar -C $$stage -czf $@.tmp . && mv $@.tmp $@; \
	status=$$?; rm -rf $$stage $@.tmp; exit $$status

$(DIST)/SHA256SUMS: $(ARCHIVES)
	find $(DIST) -maxdepth 1 -name 'kubectl-meshfed_*.tar.gz' ! -name 'kubectl-meshfed_$(VERSION)_*' -delete
	cd $(DIST) && sha256sum $(notdir $(ARCHIVES)) > SHA256SUMS

# `make release VERSION=v0.2.0`: the archives, SHA256SUMS and the krew
# manifest with their real checksums and download URIs, at
# dist/plugins/meshfed.yaml (where krew-index keeps it). Upload the archives
# to the GitHub release of that tag; the manifest goes to krew-index.
release: $(MANIFEST)

$(MANIFEST): plugins/meshfed.yaml.tmpl $(DIST)/SHA256SUMS tools/krew/manifest.sh
	@mkdir -p $(@D)
	tools/krew/manifest.sh $(VERSION) $(DIST)/SHA256SUMS < plugins/meshfed.yaml.tmpl > $@.tmp && mv $@.tmp $@

# krew's own validator (sigs.k8s.io/krew, pinned in tools/krew) on the
# release's manifest, with its install test: every platform installed from
# the local archive, its checksum and LICENSE checked. Cached: it runs again
# only when the manifest or an archive changed.
krew-check: $(DIST)/krew-check.ok

$(DIST)/krew-check.ok: $(MANIFEST) $(ARCHIVES) tools/krew/check.sh tools/krew/go.mod tools/krew/go.sum
	tools/krew/check.sh $(MANIFEST) $(DIST)
	@touch $@

clean:
	rm -rf $(BIN) $(DIST)

# The README's commands. `make test` needs only Go (and gcc for -race).
GO ?= go
BIN ?= bin/imdsd
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# nethttpomithttp2: net/http without its bundled HTTP/2 (~0.5 MB of binary,
# ~0.4 MiB of idle VmRSS). Nothing here speaks HTTP/2: the listeners are
# plain HTTP/1.1 and STS answers over HTTP/1.1. docs/benchmarks.md, "Idle RSS".
TAGS ?= nethttpomithttp2

.PHONY: build install test soak race bench fuzz cross demo lint package image e2e-service e2e-docker

build:
	CGO_ENABLED=0 $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/imdsd

# The imdsd command into $(go env GOPATH)/bin.
install:
	$(GO) install -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' ./cmd/imdsd

# Unit and loopback integration tests; runnable by any user, no root, no docker.
test:
	$(GO) test -race -count=1 ./...

# Soak and load tests (opt-in): IMDSD_SOAK=1 the short run (~1 min),
# IMDSD_SOAK=30m the long one.
IMDSD_SOAK ?= 1
soak:
	IMDSD_SOAK=$(IMDSD_SOAK) $(GO) test -race -count=1 -timeout 60m -run 'Soak|UnderLoad' ./daemon/

demo:
	$(GO) run ./cmd/imdsd serve --demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./imds/ ./internal/audit/

# End-to-end benchmark against a plain net/http reference with wrk
# (installed from Debian if missing, as root); ~7 min. docs/benchmarks.md.
.PHONY: bench-full
bench-full:
	bash bench/run.sh $(BENCHFLAGS)

# Short bounded fuzzing (longer locally: make fuzz FUZZTIME=5m).
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzEC2Request -fuzztime $(FUZZTIME) ./imds/
	$(GO) test -run '^$$' -fuzz FuzzECSRequest -fuzztime $(FUZZTIME) ./imds/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./config/

cross:
	@for p in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do \
	  echo "build $$p"; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o /dev/null ./cmd/imdsd || exit 1; \
	done

lint:
	gofmt -l . && $(GO) vet ./... && staticcheck ./...

# .deb and .rpm into dist/ (installs nfpm with go install if missing);
# ARCHES="amd64 arm64" for both.
package:
	VERSION=$(VERSION) packaging/build-packages.sh

# Container image (FROM scratch): the static binary and the CA bundle.
IMAGE ?= imdsd:dev
image:
	rm -rf dist/image && mkdir -p dist/image/packaging
	CGO_ENABLED=0 GOOS=linux $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o dist/image/imdsd ./cmd/imdsd
	cp /etc/ssl/certs/ca-certificates.crt dist/image/packaging/ca-certificates.crt
	docker build -f packaging/Dockerfile -t $(IMAGE) dist/image

# End-to-end test of the service and the .deb under real systemd in a
# docker container (root; installs docker.io and debootstrap if missing).
e2e-service:
	bash test/e2e/service.sh

# Containers on a real docker engine on this host get credentials from
# imdsd (IMDS, ECS, the relay), a LAN neighbour does not (root; ~30 s).
e2e-docker:
	bash test/e2e/docker.sh

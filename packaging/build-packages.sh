#!/usr/bin/env bash
# Builds the .deb and .rpm into dist/ (make package). Needs Go; installs
# nfpm with `go install` if it is missing.
#   ARCHES="amd64 arm64" VERSION=1.2.3 packaging/build-packages.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM_VERSION=v2.45.0
ARCHES=${ARCHES:-$(go env GOARCH)}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

# Package versions must start with a digit: v1.2.3 -> 1.2.3, v1.2.3-4-gabc
# -> 1.2.3.4.gabc; an untagged build (a commit hash, which may well start
# with a digit) -> 0.0.0~git.<hash>, which sorts before any release.
pkgver=${VERSION#v}
if ! [[ $pkgver =~ ^[0-9]+\.[0-9]+ ]]; then
  pkgver="0.0.0~git.$pkgver"
fi
pkgver=${pkgver//-/.}

NFPM=$(command -v nfpm || true)
if [ -z "$NFPM" ]; then
  gobin=$(go env GOBIN)
  NFPM="${gobin:-$(go env GOPATH)/bin}/nfpm"
  if [ ! -x "$NFPM" ]; then
    echo "installing nfpm $NFPM_VERSION"
    GOFLAGS="" go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
  fi
fi

mkdir -p dist
for arch in $ARCHES; do
  bin="dist/linux-$arch/imdsd"
  echo "build $bin ($VERSION)"
  CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -tags nethttpomithttp2 -trimpath \
    -ldflags "-s -w -X main.version=$VERSION" -o "$bin" ./cmd/imdsd
  for fmt in deb rpm; do
    IMDSD_BINARY="$bin" GOARCH="$arch" VERSION="$pkgver" \
      "$NFPM" package --config packaging/nfpm.yaml --packager "$fmt" --target dist/
  done
done
ls -l dist/*.deb dist/*.rpm

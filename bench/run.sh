#!/usr/bin/env bash
# End-to-end benchmark of imdsd against a plain net/http reference, on
# loopback only (see docs/benchmarks.md). Installs wrk from Debian when it
# is missing and we are root; arguments go to the Go driver, e.g.
#   bash bench/run.sh -runs 3 -d 3s -out /tmp/bench.md
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "bench: installing wrk" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
	else
		echo "bench: wrk is needed (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk)" >&2
		exit 1
	fi
fi
exec go run ./bench "$@"

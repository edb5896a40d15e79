# shellcheck shell=bash
# Shared helpers for the end-to-end suites in test/e2e (source it; needs
# bash). It sets no shell options and traps EXIT, INT and TERM itself:
# suites register their cleanups with on_exit instead of trapping.
#
#   pass / fail / check NAME CMD... / fatal MSG [OUTPUT] / phase NAME / summary
#       PASS/FAIL lines; summary ends with exactly "N passed, M failed"
#       and the time each phase took.
#   wait_for SECONDS CMD...   poll CMD (4x a second) until it succeeds; the
#                             last try's output is shown when it never does
#   on_exit CMD               run CMD (a string, eval'd) at exit, newest first
#   ensure_packages CMD:PKG...  apt-get install the PKGs whose CMD is missing
#   ensure_docker             docker.io + iptables; starts dockerd if none
#                             answers and stops it at exit (only then)
#   ensure_rootfs_image       the Debian bookworm rootfs the suites share
#                             (systemd, python3-boto3, awscli...), built once
#                             with debootstrap, cached; sets IMAGE
#   free_port                 a TCP port nothing listens on
#   kill_wait PID [SECONDS]   SIGTERM, then SIGKILL after SECONDS (default 10)

export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

E2E_START=${E2E_START:-$(date +%s)}
E2E_CACHE=${IMDSD_E2E_CACHE:-/var/cache/imdsd-e2e}
PASSED=0 FAILED=0 FAILURES=()
E2E_PHASES=() E2E_PHASE_AT=()
E2E_CLEANUPS=()

elapsed() { echo "$(($(date +%s) - E2E_START))s"; }
pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); echo "FAIL: $1"; }

phase() {
	E2E_PHASES+=("$1")
	E2E_PHASE_AT+=("$(date +%s)")
	echo
	echo "== $1 [$(elapsed)]"
}

summary() {
	local i n=${#E2E_PHASES[@]} now end
	now=$(date +%s)
	echo
	echo "== summary [$(elapsed)]"
	for ((i = 0; i < n; i++)); do
		end=$now
		((i + 1 < n)) && end=${E2E_PHASE_AT[i + 1]}
		printf '  %4ss  %s\n' "$((end - E2E_PHASE_AT[i]))" "${E2E_PHASES[i]}"
	done
	for f in ${FAILURES[@]+"${FAILURES[@]}"}; do echo "  failed: $f"; done
	echo "$PASSED passed, $FAILED failed"
}

# fatal MSG [OUTPUT]: setup failed and nothing else can run.
fatal() {
	fail "$1"
	[ $# -gt 1 ] && printf '%s\n' "$2" | tail -30 | sed 's/^/    | /'
	summary
	exit 1
}

# check NAME CMD...: PASS if CMD exits 0; else FAIL with its output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name"
		printf '%s\n' "$out" | tail -25 | sed 's/^/    | /'
	fi
}

# wait_for SECONDS CMD...: polls CMD until it succeeds; the last try runs
# with its output shown, so a caller can print why it never did.
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 4; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.25
	done
	"$@"
}

on_exit() { E2E_CLEANUPS+=("$1"); }

e2e_cleanup() {
	local i
	trap - EXIT INT TERM
	for ((i = ${#E2E_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${E2E_CLEANUPS[i]}" >/dev/null 2>&1
	done
}
trap e2e_cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# kill_wait PID [SECONDS]: stops one process we started, bounded.
kill_wait() {
	local pid=$1 limit=${2:-10} i
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < limit * 4; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.25
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

# ensure_packages CMD:PKG...: installs the packages whose command is missing.
ensure_packages() {
	local need=() spec out
	for spec in "$@"; do
		command -v "${spec%%:*}" >/dev/null || need+=("${spec#*:}")
	done
	[ ${#need[@]} -gt 0 ] || return 0
	echo "installing ${need[*]}"
	out=$(timeout 600 apt-get update -qq 2>&1 &&
		DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${need[@]}" 2>&1) ||
		fatal "setup: apt-get install ${need[*]}" "$out"
}

# ensure_docker: a docker engine that answers. One we start is stopped at
# exit, unless another suite (sourcing this file) still uses it: each
# holds a shared lock on E2E_DOCKER_LOCK for its whole run, and the one that
# started dockerd stops it only if it can take the lock exclusively. One
# that was running already is left alone.
E2E_DOCKER_LOCK=${E2E_DOCKER_LOCK:-/run/imdsd-e2e-docker.lock}
ensure_docker() {
	ensure_packages dockerd:docker.io iptables:iptables flock:util-linux
	exec {E2E_DOCKER_LOCK_FD}>>"$E2E_DOCKER_LOCK"
	flock -s -w 60 "$E2E_DOCKER_LOCK_FD" || echo "warning: $E2E_DOCKER_LOCK stays locked; going on"
	timeout 20 docker info >/dev/null 2>&1 && return 0
	echo "starting dockerd"
	mkdir -p /var/log
	# Without the lock: a dockerd left running must not hold it.
	dockerd >/var/log/imdsd-e2e-dockerd.log 2>&1 {E2E_DOCKER_LOCK_FD}>&- &
	E2E_DOCKERD_PID=$!
	# Registered first, so it runs last: after the suite's containers go.
	on_exit e2e_stop_dockerd
	wait_for 60 timeout 10 docker info >/dev/null 2>&1 ||
		fatal "setup: dockerd did not come up" "$(tail -30 /var/log/imdsd-e2e-dockerd.log)"
}

e2e_stop_dockerd() {
	if flock -x -n "$E2E_DOCKER_LOCK_FD"; then
		kill_wait "$E2E_DOCKERD_PID" 30
	else
		echo "leaving dockerd (pid $E2E_DOCKERD_PID) running: another e2e suite uses it" >&2
	fi
}

# debian_mirror: the Debian mirror apt uses here (deb822 .sources, or
# one-line .list), else deb.debian.org.
debian_mirror() {
	local m
	m=$(awk 'BEGIN { RS = "" }
		{
			types = ""; uris = ""; suites = ""
			n = split($0, ls, "\n")
			for (i = 1; i <= n; i++) {
				l = ls[i]
				if (l ~ /^Types:/) { sub(/^Types:[ \t]*/, "", l); types = " " l " " }
				else if (l ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", l); uris = l }
				else if (l ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", l); suites = " " l " " }
			}
			if (types ~ / deb / && suites ~ / bookworm / && uris != "") { split(uris, u, /[ \t]+/); print u[1]; exit }
		}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
	if [ -z "$m" ]; then
		m=$(sed -e 's/\[[^]]*\]//' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

# The rootfs every suite shares. debootstrap does not resolve virtual
# packages: python3-cryptography (for awscli) needs python3-cffi-backend
# named. libpam-systemd gives users a systemd user manager. Changing this
# list (or the recipe below) changes the cache key: keep it in one place.
ROOTFS_INCLUDE=systemd,systemd-sysv,dbus,libpam-systemd,python3-boto3,awscli,python3-cffi-backend,iproute2,ca-certificates

# ensure_rootfs_image: sets IMAGE to imdsd-e2e-bookworm:KEY, importing it
# from the cached rootfs directory, or debootstrapping that first (a few
# minutes, once). KEY hashes the recipe, so a changed recipe builds anew.
ensure_rootfs_image() {
	local mirror key rootfs out lock
	mirror=$(debian_mirror)
	key=$(printf 'bookworm minbase %s %s v1' "$ROOTFS_INCLUDE" "$mirror" | sha256sum | cut -c1-12)
	IMAGE=imdsd-e2e-bookworm:$key
	rootfs=$E2E_CACHE/rootfs-$key
	if docker image inspect "$IMAGE" >/dev/null 2>&1; then
		pass "setup: rootfs image $IMAGE (cached)"
		return 0
	fi
	# One build at a time: a second suite waits for the first one's.
	mkdir -p "$E2E_CACHE"
	exec {lock}>>"$E2E_CACHE/.lock"
	flock -w 1500 "$lock" || fatal "setup: $E2E_CACHE/.lock is held by another build"
	if docker image inspect "$IMAGE" >/dev/null 2>&1; then
		exec {lock}>&-
		pass "setup: rootfs image $IMAGE (cached, built meanwhile)"
		return 0
	fi
	if [ ! -f "$rootfs/.complete" ]; then
		ensure_packages debootstrap:debootstrap
		echo "debootstrap bookworm from $mirror into $rootfs (takes a few minutes, once)"
		rm -rf "$rootfs" "$rootfs.tmp"
		out=$(timeout 1200 debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" bookworm "$rootfs.tmp" "$mirror" 2>&1) ||
			fatal "setup: debootstrap" "$out$(tail -20 "$rootfs.tmp/debootstrap/debootstrap.log" 2>/dev/null)"
		mv "$rootfs.tmp" "$rootfs" && touch "$rootfs/.complete"
	fi
	out=$(tar -C "$rootfs" --exclude=./.complete -c . | timeout 600 docker import - "$IMAGE" 2>&1) ||
		fatal "setup: docker import" "$out"
	exec {lock}>&-
	pass "setup: rootfs image $IMAGE (built)"
}

# free_port: a TCP port in 20000..59999 that nothing listens on now.
free_port() {
	local p used
	used=$(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		grep -qx "$p" <<<"$used" || {
			echo "$p"
			return 0
		}
	done
	return 1
}

#!/usr/bin/env bash
# End-to-end test of `imdsd service` and of the .deb, under real systemd.
#
# Boots a Debian bookworm container with systemd as PID 1 and without any
# network (--network none: every request below stays on the container's own
# loopback, where the fake STS runs too), and inside it checks that:
#   package  dpkg -i; imdsd service install --aws-user alice; start. The AWS
#            CLI and boto3, run by another user with no AWS variables and no
#            AWS files, get alice's assumed role from 169.254.169.254 through
#            the default chain; ECS answers on 169.254.170.2 (with the token
#            only); the daemon runs as alice with CAP_NET_BIND_SERVICE and
#            CAP_NET_ADMIN only; stop, restart and a crash; uninstall and
#            dpkg -r leave no unit and no 169.254 address behind.
#   binary   the same from the bare binary with imdsd service install, whose
#            unit and config equal the packaged ones.
#   user     imdsd service install --user under alice's systemd user manager.
#
# Needs root. Uses test/e2e/lib.sh (shared with docker.sh): installs
# docker.io, iptables and debootstrap with apt if they
# are missing and starts dockerd if none runs (and stops it again). The
# rootfs is built once with debootstrap from this machine's Debian mirror
# and cached, as a docker image and a directory, under a hash of its recipe.
# Prints PASS/FAIL per check and ends with "N passed, M failed".
set -uo pipefail
# Scripts for the container are single-quoted on purpose: they expand there.
# shellcheck disable=SC2016

cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=test/e2e/lib.sh
. test/e2e/lib.sh

STS_PORT=4599
STS=http://127.0.0.1:$STS_PORT
ROLE_ARN=arn:aws:iam::111122223333:role/e2e
WANT_ARN=arn:aws:sts::111122223333:assumed-role/e2e/
C=""

# in_c SCRIPT: runs a bash script in the container as root, bounded.
in_c() { timeout "${T:-120}" docker exec "$C" bash -c "$1"; }

# As bob, a user with no AWS files, and with no AWS variables.
as_bob() { in_c "runuser -u bob -- env -i PATH=/usr/bin:/bin HOME=/home/bob LANG=C.UTF-8 $1"; }

# ---------------------------------------------------------------- setup
phase "setup"
[ "$(id -u)" = 0 ] || fatal "setup: must run as root (it installs packages and runs docker)"
ensure_docker
pass "setup: docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
ensure_rootfs_image

WORK=$(mktemp -d /tmp/imdsd-e2e.XXXXXX)
on_exit "rm -rf '$WORK'"
out=$(make package 2>&1) || fatal "setup: make package" "$out"
DEB=$(ls -t dist/imdsd_*_"$(go env GOARCH)".deb | head -1)
out=$(CGO_ENABLED=0 go build -tags nethttpomithttp2 -trimpath -o "$WORK/imdsd" ./cmd/imdsd 2>&1 &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/fakests" ./test/fakests/cmd/fakests 2>&1) ||
	fatal "setup: go build" "$out"
pass "setup: built $DEB, the bare binary and fakests"

C=imdsd-e2e-$$
on_exit "docker rm -f $C"
out=$(docker run -d --name "$C" --hostname imdsd-e2e --network none \
	--cap-add SYS_ADMIN --cap-add NET_ADMIN \
	--cap-add SYS_PTRACE \
	--security-opt seccomp=unconfined --security-opt apparmor=unconfined \
	--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
	--tmpfs /run --tmpfs /run/lock \
	"$IMAGE" /lib/systemd/systemd 2>&1) || fatal "setup: docker run" "$out"
# systemctl answers once PID 1 has its socket up; then wait for boot.
wait_for 30 in_c 'test -S /run/systemd/private' >/dev/null
state=$(T=90 in_c 'systemctl is-system-running --wait' 2>&1)
case "$state" in
running | degraded) pass "setup: systemd booted in the container ($state)" ;;
*) fatal "setup: systemd did not boot" "$state$(docker logs "$C" 2>&1 | tail -20)" ;;
esac

{
	docker cp "$DEB" "$C:/tmp/imdsd.deb" &&
		docker cp "$WORK/imdsd" "$C:/tmp/imdsd-bare" &&
		docker cp "$WORK/fakests" "$C:/usr/local/bin/fakests" &&
		docker cp packaging/imdsd.service "$C:/tmp/expected.service" &&
		docker cp packaging/config.toml "$C:/tmp/expected-config.toml"
} >/dev/null || fatal "setup: docker cp"

# alice: the AWS user, whose role profile's source keys are the fake STS's
# user. bob: a client with no AWS files at all.
out=$(in_c "
set -e
useradd -m -s /bin/bash alice
useradd -m -s /bin/bash bob
systemd-run --unit fakests --quiet /usr/local/bin/fakests -listen 127.0.0.1:$STS_PORT \
  -user AKIAALICEFAKEEXAMPLE:aliceFAKESECRET:arn:aws:iam::111122223333:user/alice \
  -role '$ROLE_ARN,trust=arn:aws:iam::111122223333:user/alice'
runuser -u alice -- mkdir -m 700 /home/alice/.aws
cat > /home/alice/.aws/config <<EOF
[default]
region = us-east-1
role_arn = $ROLE_ARN
source_profile = base
services = fake

[profile base]
region = us-east-1
services = fake

[services fake]
sts =
  endpoint_url = $STS
EOF
cat > /home/alice/.aws/credentials <<EOF
[base]
aws_access_key_id = AKIAALICEFAKEEXAMPLE
aws_secret_access_key = aliceFAKESECRET
EOF
chown alice:alice /home/alice/.aws/config /home/alice/.aws/credentials
chmod 600 /home/alice/.aws/credentials
for i in \$(seq 40); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $STS_PORT), 1)' 2>/dev/null && exit 0; sleep 0.25; done
echo 'fake STS did not start'; journalctl -u fakests --no-pager | tail; exit 1
" 2>&1) || fatal "setup: users, AWS files and the fake STS" "$out"
pass "setup: alice's ~/.aws (role $ROLE_ARN via the fake STS on $STS)"

# ------------------------------------------------------------- checks
# The AWS CLI, as bob, with no AWS variables: only IMDS can answer.
cli_arn() {
	local out
	out=$(as_bob "aws sts get-caller-identity --endpoint-url $STS --region us-east-1 --query Arn --output text") || {
		echo "$out"
		return 1
	}
	[[ $out == "$WANT_ARN"* ]] || {
		echo "ARN: $out, want $WANT_ARN*"
		return 1
	}
}

# The AWS CLI's own account of where its credentials came from.
cli_source_is_imds() {
	local out
	out=$(as_bob "aws configure list") || {
		echo "$out"
		return 1
	}
	grep -Eq 'access_key +\*+[A-Z0-9]{4} +iam-role' <<<"$out" || {
		echo "$out"
		return 1
	}
}

# boto3's default chain, as bob with no AWS variables.
BOTO='import boto3, sys
s = boto3.Session(region_name="us-east-1")
c = s.get_credentials()
print(c.method, s.client("sts", endpoint_url=sys.argv[1]).get_caller_identity()["Arn"])'
boto3_arn() {
	local want_method=$1 extra_env=${2:-} out
	out=$(as_bob "$extra_env python3 -c '$BOTO' $STS") || {
		echo "$out"
		return 1
	}
	[[ $out == "$want_method $WANT_ARN"* ]] || {
		echo "got: $out, want: $want_method $WANT_ARN*"
		return 1
	}
}

# ECS on 169.254.170.2 with the relative URI and the token (bookworm's
# botocore predates AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE).
ecs_arn() {
	local out
	out=$(in_c "runuser -u bob -- env -i PATH=/usr/bin:/bin HOME=/home/bob LANG=C.UTF-8 \
		AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/creds \
		AWS_CONTAINER_AUTHORIZATION_TOKEN=\"\$(cat /home/alice/.config/imdsd/ecs-token)\" \
		python3 -c '$BOTO' $STS") || {
		echo "$out"
		return 1
	}
	[[ $out == "container-role $WANT_ARN"* ]] || {
		echo "got: $out"
		return 1
	}
}

# http_status METHOD URL [HEADER=VALUE]: the status code of one request.
http_status() {
	as_bob "python3 -c '
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[2], method=sys.argv[1])
for h in sys.argv[3:]:
    k, v = h.split(\"=\", 1); req.add_header(k, v)
try:
    print(urllib.request.urlopen(req, timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
' $*"
}
status_is() {
	local want=$1 got
	shift
	got=$(http_status "$@") || {
		echo "$got"
		return 1
	}
	[ "$got" = "$want" ] || {
		echo "$* -> $got, want $want"
		return 1
	}
}

# "ADDRESS/PREFIX LABEL" per IPv4 address of lo.
lo_addrs() { in_c "ip -4 addr show dev lo | awk '/ inet / {print \$2, \$NF}'"; }
addrs_present() {
	local out
	out=$(lo_addrs)
	grep -qx '169.254.169.254/32 lo:imdsd' <<<"$out" && grep -qx '169.254.170.2/32 lo:imdsd' <<<"$out" || {
		echo "lo: $out"
		return 1
	}
}
addrs_gone() {
	local out
	out=$(lo_addrs)
	! grep -q '169\.254\.' <<<"$out" || {
		echo "lo still has: $out"
		return 1
	}
}

status_exit() {
	local want=$1 out rc
	shift
	out=$(in_c "imdsd service status $*" 2>&1)
	rc=$?
	[ "$rc" = "$want" ] || {
		echo "exit $rc, want $want"
		echo "$out"
		return 1
	}
}
running_and_answering() {
	local out
	out=$(in_c "imdsd service status") || {
		echo "$out"
		return 1
	}
	[ "$(grep -c '(answering)' <<<"$out")" = 4 ] || {
		echo "$out"
		return 1
	}
}

# The daemon runs as alice with exactly CAP_NET_BIND_SERVICE (10) and
# CAP_NET_ADMIN (12): CapEff 0x1400.
least_privilege() {
	in_c '
pid=$(systemctl show -p MainPID --value imdsd)
[ "$pid" -gt 0 ] || { echo "no MainPID"; exit 1; }
uid=$(awk "/^Uid:/ {print \$2}" /proc/$pid/status)
cap=$(awk "/^CapEff:/ {print \$2}" /proc/$pid/status)
[ "$uid" = "$(id -u alice)" ] || { echo "runs as uid $uid, not alice"; exit 1; }
[ "$cap" = 0000000000001400 ] || { echo "CapEff $cap, want 0000000000001400"; exit 1; }
grep -q "^NoNewPrivs:[[:space:]]*1" /proc/$pid/status || { echo "NoNewPrivs not set"; exit 1; }'
}

# What the daemon costs, as private memory (RssAnon + RssShmem: what it
# alone holds; its binary's clean file pages are shared and reclaimable),
# under the unit's sandbox, after serving the clients above.
memory_small() {
	in_c '
pid=$(systemctl show -p MainPID --value imdsd)
[ "$pid" -gt 0 ] || { echo "no MainPID"; exit 1; }
priv=$(awk "/^RssAnon:|^RssShmem:/ {s += \$2} END {print s}" /proc/$pid/status)
echo "private ${priv} kB"
[ "$priv" -lt 8192 ]'
}

no_unit_left() {
	in_c '
left=$(systemctl list-unit-files --no-legend "imdsd*" 2>&1)
files=$(ls -d /etc/systemd/system/imdsd.service /etc/systemd/system/imdsd.service.d /lib/systemd/system/imdsd.service /usr/lib/systemd/system/imdsd.service 2>/dev/null)
procs=$(grep -lx imdsd /proc/[0-9]*/comm 2>/dev/null)
[ -z "$left$files$procs" ] || { echo "units: $left"; echo "files: $files"; echo "processes: $procs"; exit 1; }'
}

reload_works() {
	in_c 'systemctl reload imdsd' || return 1
	wait_for 10 in_c 'journalctl -u imdsd --no-pager -n 20 | grep -q "SIGHUP: reloading"' || {
		in_c 'journalctl -u imdsd --no-pager -n 10'
		return 1
	}
}

restart_serves() {
	in_c 'systemctl restart imdsd' || return 1
	wait_for 15 running_and_answering || return 1
	cli_arn
}

# A crash (SIGKILL, so no cleanup) is restarted by systemd; the new daemon
# adopts the addresses the dead one left.
main_pid() { in_c 'systemctl show -p MainPID --value imdsd'; }
pid_changed() {
	local new
	new=$(main_pid)
	[ -n "$new" ] && [ "$new" != 0 ] && [ "$new" != "$1" ]
}
crash_recovers() {
	local old
	old=$(main_pid)
	in_c 'systemctl kill -s KILL imdsd' || return 1
	wait_for 20 pid_changed "$old" || {
		echo "not restarted"
		return 1
	}
	wait_for 15 running_and_answering || return 1
	addrs_present && cli_arn
}

service_restart_serves() { in_c 'imdsd service restart' && cli_arn; }

# The daemon renews SSO sign-ins in the SDKs' token cache: inside the
# unit's sandbox (ProtectSystem=strict) alice can write there, though not
# elsewhere in ~/.aws; the directory exists, owned by alice. (Joining the
# service's mount namespace is why the container has SYS_PTRACE.)
sso_cache_writable() {
	in_c '
pid=$(systemctl show -p MainPID --value imdsd)
[ "$pid" -gt 0 ] || { echo "no MainPID"; exit 1; }
own=$(stat -c "%U %a" /home/alice/.aws/sso/cache) && [ "$own" = "alice 700" ] || { echo "cache directory: $own"; exit 1; }
in_sandbox() { nsenter --mount=/proc/$pid/ns/mnt -- setpriv --reuid alice --regid alice --clear-groups "$@"; }
in_sandbox touch /home/alice/.aws/.imdsd-probe 2>/dev/null && { rm -f /home/alice/.aws/.imdsd-probe; echo "the sandbox lets the service write ~/.aws: no sandbox to test"; exit 1; }
in_sandbox touch /home/alice/.aws/sso/cache/.imdsd-probe || { echo "alice cannot write the SSO cache inside the service sandbox"; exit 1; }
rm -f /home/alice/.aws/sso/cache/.imdsd-probe'
}

# As alice (the service's user), with no AWS variables.
as_alice() { in_c "runuser -u alice -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/alice LANG=C.UTF-8 $1"; }

# alice moves base's key out of ~/.aws/credentials into the file keyring;
# the service's daemon, sandboxed (ProtectSystem=strict, only
# ~/.config/imdsd writable), serves the role from the keyring's key once
# unlocked, writing its keyring overlay there itself.
keyring_serves() {
	as_alice 'IMDSD_KEYRING_PASSPHRASE=e2e-pass imdsd keys add base --from-credentials --yes --config /etc/imdsd/config.toml' || return 1
	in_c '! grep -q aliceFAKESECRET /home/alice/.aws/credentials' || {
		echo "the plaintext key is still in the credentials file"
		return 1
	}
	in_c 'rm -f /home/alice/.config/imdsd/keyring-profiles.ini'
	as_alice 'IMDSD_KEYRING_PASSPHRASE=e2e-pass imdsd unlock --config /etc/imdsd/config.toml' || return 1
	wait_for 10 cli_arn || return 1
	in_c '[ "$(stat -c "%U %a" /home/alice/.config/imdsd/keyring-profiles.ini)" = "alice 600" ]' || {
		echo "the daemon did not write its keyring overlay"
		return 1
	}
}

# Back to the plaintext key, for the phases after this one.
keyring_undone() {
	in_c "printf '[base]\\naws_access_key_id = AKIAALICEFAKEEXAMPLE\\naws_secret_access_key = aliceFAKESECRET\\n' > /home/alice/.aws/credentials &&
		chown alice:alice /home/alice/.aws/credentials && chmod 600 /home/alice/.aws/credentials" || return 1
	as_alice 'IMDSD_KEYRING_PASSPHRASE=e2e-pass imdsd keys remove base --config /etc/imdsd/config.toml' || return 1
	wait_for 10 cli_arn
}

# The system config run by hand, without CAP_NET_ADMIN: the error says how
# to fix it.
manual_run_explains() {
	local out rc
	out=$(in_c 'runuser -u bob -- timeout 20 imdsd serve --config /etc/imdsd/config.toml' 2>&1)
	rc=$?
	[ $rc -ne 0 ] && grep -q CAP_NET_ADMIN <<<"$out" && grep -Eq 'sudo ip addr add 169\.254\.(169\.254|170\.2)/32 dev lo' <<<"$out" || {
		echo "exit $rc: $out"
		return 1
	}
}

second_install_refused() {
	local out
	out=$(in_c 'imdsd service install --aws-user alice' 2>&1) && {
		echo "accepted: $out"
		return 1
	}
	grep -q 'service uninstall' <<<"$out" || {
		echo "$out"
		return 1
	}
}

# ------------------------------------------------------------- package
phase "package: $(basename "$DEB")"
check "package: dpkg -i installs the binary, the unit and the config" in_c '
dpkg -i /tmp/imdsd.deb && test -x /usr/bin/imdsd && test -f /lib/systemd/system/imdsd.service && test -f /etc/imdsd/config.toml'
check "package: status says not configured (exit 4) until an AWS user is named" status_exit 4
check "package: the unit refuses to start without the AWS user drop-in" in_c '! systemctl start imdsd 2>/dev/null && [ "$(systemctl is-active imdsd)" != active ]'
in_c 'systemctl reset-failed imdsd' >/dev/null 2>&1
check "package: imdsd service install --aws-user alice writes only the drop-in" in_c '
imdsd service install --aws-user alice && test -f /etc/systemd/system/imdsd.service.d/aws-user.conf && ! test -e /etc/systemd/system/imdsd.service &&
  [ "$(stat -c "%U %a" /home/alice/.config/imdsd)" = "alice 700" ] && systemctl is-enabled imdsd'
check "package: imdsd service start waits until it answers" in_c 'imdsd service start'
check "package: the service created its ECS token as alice, mode 0600" in_c '[ "$(stat -c "%U %a" /home/alice/.config/imdsd/ecs-token)" = "alice 600" ]'
check "package: status: running, 4 listeners answering" running_and_answering
check "package: the SSO token cache exists (alice, 0700) and is writable inside the sandbox" sso_cache_writable
check "package: 169.254.169.254/32 and 169.254.170.2/32 on lo, labelled lo:imdsd" addrs_present
check "package: runs as alice with CAP_NET_BIND_SERVICE+CAP_NET_ADMIN only, NoNewPrivileges" least_privilege
check "package: aws sts get-caller-identity (no AWS env, no AWS files) -> assumed role" cli_arn
check "package: the AWS CLI's credentials come from IMDS (iam-role)" cli_source_is_imds
check "package: boto3 default chain -> iam-role, assumed role" boto3_arn iam-role
check "package: ECS at 169.254.170.2 (relative URI + token) -> assumed role" ecs_arn
check "package: ECS without the token -> 401" status_is 401 GET http://169.254.170.2/creds
check "package: IMDSv1 (no token) -> 401" status_is 401 GET http://169.254.169.254/latest/meta-data/iam/security-credentials/
check "package: IMDSv2 token PUT -> 200" status_is 200 PUT http://169.254.169.254/latest/api/token X-aws-ec2-metadata-token-ttl-seconds=60
check "package: after serving those clients the daemon holds < 8 MiB of private memory" memory_small
check "package: systemctl reload imdsd -> the daemon reloads (SIGHUP)" reload_works
check "package: systemctl restart imdsd, serves again" restart_serves
check "package: killed (SIGKILL) -> restarted, serves again" crash_recovers
check "package: imdsd service stop" in_c 'imdsd service stop'
check "package: after stop, no 169.254 address on lo" addrs_gone
check "package: after stop, status exits 3" status_exit 3
check "package: a hand-run system config without CAP_NET_ADMIN says how to fix it" manual_run_explains
check "package: imdsd service uninstall: no drop-in, inactive, no address" in_c '
imdsd service uninstall && ! test -e /etc/systemd/system/imdsd.service.d && [ "$(systemctl is-active imdsd)" != active ] &&
  ! systemctl is-enabled imdsd 2>/dev/null && ! ip -4 addr show dev lo | grep -q 169.254'
check "package: reinstall and start" in_c 'imdsd service install --aws-user alice && imdsd service start'
check "package: serves after reinstall" cli_arn
check "package: dpkg -r imdsd" in_c 'dpkg -r imdsd'
check "package: after dpkg -r, no unit, no drop-in, no process" no_unit_left
check "package: after dpkg -r, no 169.254 address on lo" addrs_gone
check "package: dpkg -P removes /etc/imdsd" in_c 'dpkg -P imdsd && ! test -e /etc/imdsd'

# ------------------------------------------------------------- binary
phase "binary: imdsd service install from the bare binary"
in_c 'install -m 0755 /tmp/imdsd-bare /usr/local/bin/imdsd'
check "binary: imdsd service install --aws-user alice" in_c 'imdsd service install --aws-user alice'
check "binary: the unit equals packaging/imdsd.service (but for the binary's path)" in_c '
diff -u /tmp/expected.service <(sed "s#^ExecStart=/usr/local/bin/imdsd #ExecStart=/usr/bin/imdsd #" /etc/systemd/system/imdsd.service)'
check "binary: the config written equals packaging/config.toml" in_c 'diff -u /tmp/expected-config.toml /etc/imdsd/config.toml'
check "binary: a second install is refused with the fix" second_install_refused
check "binary: imdsd service start" in_c 'imdsd service start'
check "binary: status: running, 4 listeners answering" running_and_answering
check "binary: addresses on lo" addrs_present
check "binary: least privilege" least_privilege
check "binary: aws sts get-caller-identity -> assumed role" cli_arn
check "binary: boto3 default chain -> iam-role, assumed role" boto3_arn iam-role
check "binary: ECS at 169.254.170.2 -> assumed role" ecs_arn
check "binary: imdsd service restart, serves again" service_restart_serves
check "binary: killed (SIGKILL) -> restarted, serves again" crash_recovers
check "binary: keys add --from-credentials, unlock: the sandboxed service serves from the keyring" keyring_serves
check "binary: plaintext key back, keys remove: serves from the file again" keyring_undone
check "binary: imdsd service uninstall" in_c 'imdsd service uninstall'
check "binary: after uninstall, no unit, no drop-in, no process" no_unit_left
check "binary: after uninstall, no 169.254 address on lo" addrs_gone
check "binary: status exits 4 (not installed)" status_exit 4
check "binary: uninstall again is not an error" in_c 'imdsd service uninstall'

# ------------------------------------------------------------- user
phase "user: imdsd service install --user (systemd user manager)"
ALICE_UID=$(in_c 'id -u alice')
as_alice() { in_c "runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/$ALICE_UID HOME=/home/alice PATH=/usr/local/bin:/usr/bin:/bin $1"; }
user_manager_up() {
	in_c 'loginctl enable-linger alice' || return 1
	wait_for 30 in_c "systemctl is-active --quiet user@$ALICE_UID" || {
		in_c "systemctl status --no-pager user@$ALICE_UID"
		return 1
	}
}
user_status_answering() {
	local out
	out=$(as_alice 'imdsd service status --user') || {
		echo "$out"
		return 1
	}
	[ "$(grep -c '(answering)' <<<"$out")" = 2 ] || {
		echo "$out"
		return 1
	}
}
user_status_exit() {
	as_alice 'imdsd service status --user' >/dev/null 2>&1
	[ $? = "$1" ]
}
check "user: alice's user manager runs (loginctl enable-linger)" user_manager_up
check "user: imdsd service install --user" as_alice 'imdsd service install --user'
check "user: imdsd service start --user" as_alice 'imdsd service start --user'
check "user: status --user: running, 127.0.0.1:9911 and :9912 answering" user_status_answering
check "user: boto3 via AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/" boto3_arn iam-role AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/
check "user: a user service adds no address" addrs_gone
check "user: imdsd service uninstall --user" as_alice 'imdsd service uninstall --user && ! test -e /home/alice/.config/systemd/user/imdsd.service'
check "user: status --user exits 4" user_status_exit 4

summary
[ "$FAILED" = 0 ]

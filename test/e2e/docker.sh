#!/usr/bin/env bash
# End-to-end test of imdsd and containers on a real docker engine on this
# host (docs/docker.md). imdsd runs on the host, as root, with the system
# service's listen addresses (it adds 169.254.169.254 and 169.254.170.2 to
# lo itself) and the project's fake STS at 169.254.169.254:4599; then:
#   imds    containers with no AWS settings at all, a FROM-scratch image
#           with a static aws-sdk-go-v2 client (test/e2e/dockerclient) and
#           the Debian image with boto3, get the dev role from IMDS at
#           169.254.169.254 and sign sts:GetCallerIdentity with it: on the
#           default bridge and on a user-defined network (br-*, discovered
#           while the daemon runs).
#   ecs     with exactly what `imdsd env --docker --profile ops` prints, the
#           same clients get the ops role from 169.254.170.2; /role/nope is
#           404, no token is 401.
#   relay   `imdsd relay` in a FROM-scratch container at 169.254.170.2 on a
#           network with subnet 169.254.170.0/24, forwarding to the daemon
#           on the docker0 gateway: clients with only the relative URI (no
#           token) get the ops role.
#   lan     a "LAN neighbour" (a network namespace on a veth pair, routing
#           169.254.169.254 and 169.254.170.2 to this host) gets 403 from
#           both endpoints, never a token or credentials.
#   audit   imdsd sessions names each container that took credentials.
#   stop    imdsd stops on SIGTERM and takes its addresses off lo.
#
# Needs root. Installs docker.io, iptables (and debootstrap, jq, curl) with
# apt if missing, starts dockerd if none runs (and stops it again). The
# Debian image is test/e2e/service.sh's, built once and cached (lib.sh).
# Traffic stays on loopback, the docker networks made here and the netns.
# Prints PASS/FAIL per check and ends with "N passed, M failed".
#
# "A && B || { explain; return 1; }" is the idiom for checks here: the
# explanation is meant to run when any step fails.
# shellcheck disable=SC2015
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=test/e2e/lib.sh
. test/e2e/lib.sh

RUN=imdsd-e2e-$$                 # prefix of everything made here
NET=$RUN-net                     # a user-defined network (br-*)
RELAY_NET=imdsd-relay-$$         # subnet 169.254.170.0/24
NS=$RUN                          # the LAN neighbour's network namespace
VETH_H=ie2e$$h VETH_N=ie2e$$n    # never docker0 or br-*: not a docker bridge
LAN_H=10.231.0.1 LAN_N=10.231.0.2
IMDS_IP=169.254.169.254 ECS_IP=169.254.170.2
STS=http://$IMDS_IP:4599         # the fake STS, on an address the daemon holds
ACCT=111122223333
DEV_ARN=arn:aws:sts::$ACCT:assumed-role/dev/
OPS_ARN=arn:aws:sts::$ACCT:assumed-role/ops/
WORK="" IMDSD_PID="" STS_PID=""

# Containers, networks and images this run made (all named $RUN-* or
# $RELAY_NET), the netns and veth, then the daemon and the fake STS.
teardown() {
	docker ps -aq --filter "name=^/$RUN-" 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
	docker network rm "$NET" "$RELAY_NET" >/dev/null 2>&1
	docker rmi "$RUN-client" "$RUN-relay" >/dev/null 2>&1
	ip netns del "$NS" 2>/dev/null
	ip link del "$VETH_H" 2>/dev/null
	kill_wait "$STS_PID"
	kill_wait "$IMDSD_PID" 15
	return 0
}

# ---------------------------------------------------------------- setup
phase "setup"
[ "$(id -u)" = 0 ] || fatal "setup: must run as root (docker, port 80, addresses on lo, a netns)"
ensure_docker
ensure_packages curl:curl jq:jq ip:iproute2 ss:iproute2
command -v go >/dev/null || fatal "setup: needs Go (go.mod's version) on PATH"
on_exit teardown
# IMDSD_E2E_KEEP=1 keeps the daemon's and the fake STS's logs.
remove_work() {
	[ -n "$WORK" ] || return 0
	if [ -n "${IMDSD_E2E_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
on_exit remove_work
pass "setup: docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
ensure_rootfs_image

# lo_linklocal: "ADDRESS/PREFIX LABEL" per 169.254 address on lo.
lo_linklocal() { ip -4 addr show dev lo | awk '$1 == "inet" && $2 ~ /^169\.254\./ {print $2, $NF}'; }
held=$(lo_linklocal)
[ -z "$held" ] || fatal "setup: lo already holds link-local addresses (another imdsd running?): $held"
GW=$(ip -4 -o addr show dev docker0 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
[ -n "$GW" ] || fatal "setup: docker0 has no IPv4 address" "$(ip addr show docker0 2>&1)"
grep -Eq "^(0\.0\.0\.0|\*|\[::\]|$GW):9912$" <<<"$(ss -Htln | awk '{print $4}')" &&
	fatal "setup: $GW:9912 is taken" "$(ss -Htlnp | grep 9912)"
grep -q ' 10\.231\.0\.' <<<"$(ip -4 -o addr)" && fatal "setup: 10.231.0.0/30 is in use here" "$(ip -4 -o addr | grep 10.231.0.)"
IMDS_PORT=$(free_port) && ECS_PORT=$(free_port) || fatal "setup: no free port"

WORK=$(mktemp -d /tmp/imdsd-e2e-docker.XXXXXX)
mkdir -p "$WORK/client" "$WORK/relay" "$WORK/home/.aws"
out=$(CGO_ENABLED=0 go build -tags nethttpomithttp2 -trimpath -o "$WORK/imdsd" ./cmd/imdsd 2>&1 &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/fakests" ./test/fakests/cmd/fakests 2>&1 &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/client/client" ./test/e2e/dockerclient 2>&1) ||
	fatal "setup: go build" "$out"
cp "$WORK/imdsd" "$WORK/relay/imdsd"
printf 'FROM scratch\nCOPY client /client\n' >"$WORK/client/Dockerfile"
printf 'FROM scratch\nCOPY imdsd /imdsd\n' >"$WORK/relay/Dockerfile"
out=$({ docker build -q -t "$RUN-client" "$WORK/client" && docker build -q -t "$RUN-relay" "$WORK/relay"; } 2>&1) ||
	fatal "setup: docker build" "$out"
pass "setup: built imdsd, fakests and FROM-scratch images $RUN-client and $RUN-relay"

# The AWS user: base holds the fake STS user's keys; dev and ops are roles
# it may assume; every STS call goes to the fake STS through [services].
cat >"$WORK/home/.aws/config" <<EOF
[profile base]
region = us-east-1
services = fake

[profile dev]
region = us-east-1
role_arn = arn:aws:iam::$ACCT:role/dev
source_profile = base
services = fake

[profile ops]
region = us-east-1
role_arn = arn:aws:iam::$ACCT:role/ops
source_profile = base
services = fake

[services fake]
sts =
  endpoint_url = $STS
EOF
cat >"$WORK/home/.aws/credentials" <<EOF
[base]
aws_access_key_id = AKIAE2EDOCKERFAKE001
aws_secret_access_key = e2eDockerFAKEsecretKEY
EOF
chmod 600 "$WORK/home/.aws/credentials"
CFG=$WORK/config.toml
cat >"$CFG" <<EOF
profile = "dev"
control_socket = "$WORK/control.sock"

[imds]
listen = ["$IMDS_IP:80", "127.0.0.1:$IMDS_PORT"]

[ecs]
listen = ["$ECS_IP:80", "127.0.0.1:$ECS_PORT", "$GW:9912"]
token_file = "$WORK/ecs-token"
profiles = ["ops"]
EOF
imdsd() { timeout 20 "$WORK/imdsd" "$@"; }
ctl() { imdsd "$@" --socket "$WORK/control.sock"; }

# As root (port 80, CAP_NET_ADMIN for the addresses), with nothing from
# this shell's environment but PATH.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$WORK/home" \
	"$WORK/imdsd" serve --config "$CFG" >"$WORK/imdsd.log" 2>&1 &
IMDSD_PID=$!
wait_for 20 ctl sessions >/dev/null || fatal "setup: imdsd did not start" "$(tail -20 "$WORK/imdsd.log")"
addrs_added() {
	local out
	out=$(lo_linklocal)
	grep -qx "$IMDS_IP/32 lo:imdsd" <<<"$out" && grep -qx "$ECS_IP/32 lo:imdsd" <<<"$out" || {
		echo "lo: $out"
		return 1
	}
}
check "setup: imdsd added $IMDS_IP/32 and $ECS_IP/32 to lo (label lo:imdsd)" addrs_added

# The fake STS listens on an address the daemon just added: containers
# reach it through their default route like the metadata endpoints.
"$WORK/fakests" -listen "${STS#http://}" \
	-user "AKIAE2EDOCKERFAKE001:e2eDockerFAKEsecretKEY:arn:aws:iam::$ACCT:user/e2e" \
	-role "arn:aws:iam::$ACCT:role/dev,trust=arn:aws:iam::$ACCT:user/e2e" \
	-role "arn:aws:iam::$ACCT:role/ops,trust=arn:aws:iam::$ACCT:user/e2e" \
	-url-file "$WORK/sts.url" >/dev/null 2>"$WORK/fakests.log" &
STS_PID=$!
wait_for 10 test -s "$WORK/sts.url" || fatal "setup: fake STS did not start" "$(cat "$WORK/fakests.log")"
ctl refresh >/dev/null # no need to wait out the backoff

# The token as a curl header file: never on a command line or in the output.
printf 'Authorization: %s\n' "$(cat "$WORK/ecs-token")" >"$WORK/ecs-auth.hdr"
chmod 600 "$WORK/ecs-auth.hdr"
imds_serves_dev() {
	local t
	t=$(curl -fsS -m 3 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "http://127.0.0.1:$IMDS_PORT/latest/api/token") &&
		curl -fsS -m 3 -o /dev/null -H "X-aws-ec2-metadata-token: $t" "http://127.0.0.1:$IMDS_PORT/latest/meta-data/iam/security-credentials/dev"
}
ecs_serves_ops() { curl -fsS -m 3 -o /dev/null -H @"$WORK/ecs-auth.hdr" "http://127.0.0.1:$ECS_PORT/role/ops"; }
wait_for 30 imds_serves_dev && wait_for 30 ecs_serves_ops ||
	fatal "setup: imdsd has no credentials from the fake STS" "$(tail -20 "$WORK/imdsd.log")$(tail -5 "$WORK/fakests.log")"
pass "setup: imdsd serves dev (IMDS) and ops (ECS) from the fake STS at $STS"

# ------------------------------------------------------------- helpers
# app NAME IMAGE [docker run options...]: a long-lived container the
# clients then run in with docker exec (so every container keeps its own
# address for the audit; see WORKAROUND below).
app() {
	local name=$1 image=$2 cmd out
	shift 2
	if [ "$image" = "$RUN-client" ]; then cmd=(/client -sleep 15m); else cmd=(sleep 900); fi
	out=$(docker run -d --name "$name" "$@" "$image" "${cmd[@]}" 2>&1) || {
		echo "docker run $name: $out"
		return 1
	}
}
in_app() { timeout 60 docker exec "$1" "${@:2}"; }

# no_aws_env NAME...: the containers' environments have no AWS_ variable.
no_aws_env() {
	local env name
	for name; do
		env=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$name") || return 1
		! grep -q '^AWS_' <<<"$env" || {
			echo "$name has $(grep -o '^AWS_[A-Z_]*' <<<"$env" | tr '\n' ' ')"
			return 1
		}
	done
}

BOTO='import boto3, sys
s = boto3.Session(region_name="us-east-1")
c = s.get_credentials()
print(c.method, s.client("sts", endpoint_url=sys.argv[1]).get_caller_identity()["Arn"])'

# signs NAME KIND WANT: runs the client (KIND go or py) in container NAME;
# its output must be "WANT*" (the credential source and the role ARN).
signs() {
	local name=$1 kind=$2 want=$3 out
	if [ "$kind" = go ]; then
		out=$(in_app "$name" /client -sts "$STS" 2>&1)
	else
		out=$(in_app "$name" python3 -c "$BOTO" "$STS" 2>&1)
	fi || {
		echo "$out"
		return 1
	}
	[[ $out == "$want"* ]] || {
		echo "got: $out"
		echo "want: $want*"
		return 1
	}
}

# client_check NAME KIND NETWORK PROFILE FACE WANT [docker run options...]:
# a container NAME on NETWORK whose client gets WANT. Those that did are
# listed in $WORK/audited ("NAME PROFILE FACE"; check runs this in a
# subshell) for the audit.
client_check() {
	local name=$1 kind=$2 net=$3 profile=$4 face=$5 want=$6 image=$IMAGE
	shift 6
	[ "$kind" = go ] && image=$RUN-client
	app "$name" "$image" --network "$net" "$@" && signs "$name" "$kind" "$want" &&
		echo "$name $profile $face" >>"$WORK/audited"
}

# status_is WANT NAME -status ...: the HTTP status the Go client sees.
status_is() {
	local want=$1 name=$2 got
	shift 2
	got=$(in_app "$name" /client "$@" 2>&1) || {
		echo "$got"
		return 1
	}
	[ "$got" = "$want" ] || {
		echo "$* -> $got, want $want"
		return 1
	}
}

# ------------------------------------------------------------- imds
phase "imds: no AWS settings, 169.254.169.254 through the default route"
check "imds: FROM-scratch aws-sdk-go-v2 on the default bridge -> EC2RoleProvider, assumed-role/dev" \
	client_check "$RUN-imds-go" go bridge dev imds "EC2RoleProvider $DEV_ARN"
check "imds: Debian boto3 on the default bridge -> iam-role, assumed-role/dev" \
	client_check "$RUN-imds-py" py bridge dev imds "iam-role $DEV_ARN"
check "imds: neither container has an AWS_ variable" no_aws_env "$RUN-imds-go" "$RUN-imds-py"

out=$(docker network create "$NET" 2>&1) || fatal "imds: docker network create $NET" "$out"
SUBNET=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NET")
BR=br-$(docker network inspect -f '{{.Id}}' "$NET" | cut -c1-12)
# Both listeners list the new network among the clients they accept.
accepts_subnet() { [ "$(ctl status | grep -c "$IMDS_IP:80 .*$SUBNET\|$ECS_IP:80 .*$SUBNET")" = 2 ]; }
check "imds: user-defined network $NET ($BR, $SUBNET) discovered within 10 s" wait_for 10 accepts_subnet
check "imds: FROM-scratch aws-sdk-go-v2 on $NET -> EC2RoleProvider, assumed-role/dev" \
	client_check "$RUN-net-imds-go" go "$NET" dev imds "EC2RoleProvider $DEV_ARN"
check "imds: Debian boto3 on $NET -> iam-role, assumed-role/dev" \
	client_check "$RUN-net-imds-py" py "$NET" dev imds "iam-role $DEV_ARN"

# ------------------------------------------------------------- ecs
phase "ecs: imdsd env --docker --profile ops, 169.254.170.2"
ENV_OPS=()
# stdout only: the flags (a warning, e.g. that ops names no region, goes to stderr)
read -ra ENV_OPS <<<"$(imdsd env --docker --profile ops --config "$CFG" 2>"$WORK/env.err")"
env_flags_ok() {
	[ ${#ENV_OPS[@]} = 4 ] && [ "${ENV_OPS[0]}" = -e ] && [ "${ENV_OPS[1]}" = AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/role/ops ] &&
		[ "${ENV_OPS[2]}" = -e ] && [ "${ENV_OPS[3]}" = "AWS_CONTAINER_AUTHORIZATION_TOKEN=$(cat "$WORK/ecs-token")" ] || {
		echo "imdsd env --docker printed ${#ENV_OPS[@]} words, first: ${ENV_OPS[*]:0:2}"
		cat "$WORK/env.err"
		return 1
	}
}
check "ecs: imdsd env --docker --profile ops = -e RELATIVE_URI=/role/ops -e AUTHORIZATION_TOKEN=<the token file>" env_flags_ok
check "ecs: FROM-scratch aws-sdk-go-v2 with those flags, default bridge -> CredentialsEndpointProvider, assumed-role/ops" \
	client_check "$RUN-ecs-go" go bridge ops ecs "CredentialsEndpointProvider $OPS_ARN" "${ENV_OPS[@]}"
check "ecs: Debian boto3 with those flags, default bridge -> container-role, assumed-role/ops" \
	client_check "$RUN-ecs-py" py bridge ops ecs "container-role $OPS_ARN" "${ENV_OPS[@]}"
check "ecs: FROM-scratch aws-sdk-go-v2 with those flags on $NET -> assumed-role/ops" \
	client_check "$RUN-net-ecs-go" go "$NET" ops ecs "CredentialsEndpointProvider $OPS_ARN" "${ENV_OPS[@]}"
check "ecs: GET http://$ECS_IP/role/nope with the token -> 404" \
	status_is 404 "$RUN-ecs-go" -status GET -url "http://$ECS_IP/role/nope" -ecs-token
check "ecs: GET http://$ECS_IP/role/ops without the token -> 401" \
	status_is 401 "$RUN-ecs-go" -status GET -url "http://$ECS_IP/role/ops"

# ------------------------------------------------------------- relay
phase "relay: imdsd relay at $ECS_IP on $RELAY_NET (169.254.170.0/24)"
# WORKAROUND (a limitation of the relay on a Linux engine, not of the test):
# here the host itself holds 169.254.170.2 on lo, which collides with a
# relay network in two ways:
#  - the host answers ARP for 169.254.170.2 on the relay network's bridge
#    (arp_ignore=0 answers for any local address), so clients may talk to
#    the host's ECS listener instead of the relay, which refuses their
#    link-local source address (403 "client address not allowed");
#  - the relay's own requests to the daemon leave with source 169.254.170.2,
#    a local address of the host, which drops them as martians (502 from
#    the relay, "i/o timeout").
# So the relay network's bridge answers ARP only for its own addresses
# (arp_ignore=1 on that one bridge, gone with it), and the relay is also on
# the default bridge, whence it reaches the daemon at $GW:9912 from a
# 172.17.x address. On Docker Desktop, colima and OrbStack, the relay's
# home, the VM holds no 169.254.170.2 and neither step is needed; on a
# Linux engine containers reach 169.254.170.2 without the relay anyway.
relay_up() {
	local out
	out=$(docker network create --subnet 169.254.170.0/24 "$RELAY_NET" 2>&1) || {
		echo "$out"
		return 1
	}
	RELAY_BR=br-$(docker network inspect -f '{{.Id}}' "$RELAY_NET" | cut -c1-12)
	sysctl -qw "net.ipv4.conf.$RELAY_BR.arp_ignore=1" || return 1
	out=$(docker run -d --name "$RUN-relay" --network "$RELAY_NET" --ip "$ECS_IP" \
		-v "$WORK/ecs-token:/run/imdsd/ecs-token:ro" "$RUN-relay" \
		/imdsd relay --listen "$ECS_IP:80" --upstream "http://$GW:9912" --token-file /run/imdsd/ecs-token 2>&1) &&
		out=$(docker network connect bridge "$RUN-relay" 2>&1) || {
		echo "$out"
		return 1
	}
	# A plain client on the relay network, to probe it.
	app "$RUN-relay-probe" "$RUN-client" --network "$RELAY_NET" &&
		wait_for 10 status_is 200 "$RUN-relay-probe" -status GET -url "http://$ECS_IP/healthz"
}
check "relay: network $RELAY_NET, the relay container at $ECS_IP (upstream http://$GW:9912), /healthz answers" relay_up
check "relay: FROM-scratch aws-sdk-go-v2 with only RELATIVE_URI=/role/ops -> CredentialsEndpointProvider, assumed-role/ops" \
	client_check "$RUN-relay-go" go "$RELAY_NET" ops ecs "CredentialsEndpointProvider $OPS_ARN" \
	-e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/role/ops
check "relay: Debian boto3 with only RELATIVE_URI=/role/ops -> container-role, assumed-role/ops" \
	client_check "$RUN-relay-py" py "$RELAY_NET" ops ecs "container-role $OPS_ARN" \
	-e AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/role/ops
check "relay: GET /role/nope through the relay -> 404" \
	status_is 404 "$RUN-relay-probe" -status GET -url "http://$ECS_IP/role/nope"
relay_logged() {
	local n
	n=$(docker logs "$RUN-relay" 2>&1 | grep -c 'msg=relay .*path=/role/ops')
	[ "$n" -ge 2 ] || {
		echo "relay log: $n /role/ops requests"
		docker logs "$RUN-relay" 2>&1 | tail -5
		return 1
	}
}
check "relay: the relay's log shows the clients' /role/ops requests" relay_logged

# ------------------------------------------------------------- lan
phase "lan: a LAN neighbour routing the metadata addresses to this host"
lan_up() {
	ip netns add "$NS" &&
		ip link add "$VETH_H" type veth peer name "$VETH_N" &&
		ip link set "$VETH_N" netns "$NS" &&
		ip addr add "$LAN_H/30" dev "$VETH_H" && ip link set "$VETH_H" up &&
		ip -n "$NS" addr add "$LAN_N/30" dev "$VETH_N" && ip -n "$NS" link set "$VETH_N" up &&
		ip -n "$NS" link set lo up &&
		ip -n "$NS" route add "$IMDS_IP/32" via "$LAN_H" &&
		ip -n "$NS" route add "$ECS_IP/32" via "$LAN_H"
}
in_ns() { timeout 20 ip netns exec "$NS" "$@"; }
# The neighbour does reach this host's link-local addresses: the fake STS
# answers it (an unsigned call: MissingAuthenticationToken).
lan_reaches_host() {
	local out
	out=$(in_ns curl -sS -m 5 "$STS/?Action=GetCallerIdentity" 2>&1)
	grep -q MissingAuthenticationToken <<<"$out" || {
		echo "$out"
		return 1
	}
}
# lan_refused CURL-ARGS...: 403 or no connection; never a token or
# credentials in the body.
lan_refused() {
	local code
	rm -f "$WORK/lan.body"
	code=$(in_ns curl -s -m 5 -o "$WORK/lan.body" -w '%{http_code}' "$@" 2>/dev/null)
	case "$code" in
	403) ;;
	000) echo "(no connection)" ;;
	*)
		echo "HTTP $code: $(head -c 300 "$WORK/lan.body" | sed 's/"\(SecretAccessKey\|Token\)" *: *"[^"]*"/"\1":"<hidden>"/g')"
		return 1
		;;
	esac
	! grep -q 'AccessKeyId\|SecretAccessKey' "$WORK/lan.body" 2>/dev/null || {
		echo "credentials in the answer"
		return 1
	}
}
host_imds_token() {
	curl -fsS -m 3 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "http://127.0.0.1:$IMDS_PORT/latest/api/token"
}
check "lan: netns $NS ($LAN_N) on veth $VETH_H ($LAN_H), routes to $IMDS_IP and $ECS_IP via this host" lan_up
check "lan: the neighbour reaches this host's link-local addresses (the fake STS at $STS answers)" lan_reaches_host
check "lan: PUT http://$IMDS_IP/latest/api/token -> 403" \
	lan_refused -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "http://$IMDS_IP/latest/api/token"
check "lan: GET IMDS credentials with a valid token (minted on the host) -> 403" \
	lan_refused -H "X-aws-ec2-metadata-token: $(host_imds_token)" "http://$IMDS_IP/latest/meta-data/iam/security-credentials/dev"
check "lan: GET http://$ECS_IP/role/ops with the right ECS token -> 403" \
	lan_refused -H @"$WORK/ecs-auth.hdr" "http://$ECS_IP/role/ops"
check "lan: GET http://$ECS_IP/creds with the right ECS token -> 403" \
	lan_refused -H @"$WORK/ecs-auth.hdr" "http://$ECS_IP/creds"
lan_never_vended() {
	# (grep -q would end the pipe early: with pipefail, a failure.)
	! grep 'credentials vended' "$WORK/imdsd.log" | grep "client=$LAN_N:" >/dev/null || {
		grep 'credentials vended' "$WORK/imdsd.log" | grep "client=$LAN_N:"
		return 1
	}
}
check "lan: the daemon vended nothing to $LAN_N" lan_never_vended

# ------------------------------------------------------------- audit
phase "audit: imdsd sessions names the containers"
# Each client takes credentials once more, right after the others: the
# daemon must name every container from a fresh look at docker, not from a
# stale cache.
touch "$WORK/audited"
while read -r name _; do
	case "$name" in
	*-go) in_app "$name" /client -sts "$STS" </dev/null >/dev/null 2>&1 ;;
	*) in_app "$name" python3 -c "$BOTO" "$STS" </dev/null >/dev/null 2>&1 ;;
	esac
done <"$WORK/audited"
sleep 1 # the audit records vends on its own goroutine, after the answer
SESSIONS=$(ctl sessions --json 2>&1)
# named NAME PROFILE FACE: imdsd sessions has a consumer "NAME (ID12)" of
# PROFILE over FACE, and the log a "credentials vended" line for it.
named() {
	local name=$1 profile=$2 face=$3 id want
	id=$(docker inspect -f '{{.Id}}' "$name" | cut -c1-12)
	want="$name ($id)"
	jq -e --arg c "$want" --arg p "$profile" --arg f "$face" \
		'any(.[]; .container == $c and .profile == $p and .face == $f)' <<<"$SESSIONS" >/dev/null &&
		grep 'credentials vended' "$WORK/imdsd.log" | grep -F "container=\"$want\" profile=$profile" >/dev/null || {
		echo "want container \"$want\" ($profile over $face); its log lines:"
		grep -F "container=\"$want\"" "$WORK/imdsd.log" | sed 's/.*level=INFO //'
		echo "sessions:"
		jq -r '.[] | "  \(.profile) \(.face) \(.who)"' <<<"$SESSIONS" 2>/dev/null || echo "$SESSIONS"
		return 1
	}
}
while read -r name profile face; do
	# Relay clients are the relay container to the daemon.
	[[ $name == "$RUN-relay-"* ]] && continue
	check "audit: $name took $profile over $face" named "$name" "$profile" "$face" </dev/null
done <"$WORK/audited"
check "audit: requests through the relay are the relay container's ($RUN-relay)" named "$RUN-relay" ops ecs
# Nothing is attributed to a container of this run that did not ask.
misnamed() {
	local bad
	bad=$(jq -r --arg run "$RUN-" '.[] | select(.container != null and (.container | startswith($run))) | .container' <<<"$SESSIONS" |
		while read -r c _; do
			grep -q "^$c " "$WORK/audited" || [ "$c" = "$RUN-relay" ] || echo "$c"
		done)
	[ -z "$bad" ] || {
		echo "attributed to containers that took nothing: $bad"
		return 1
	}
}
check "audit: no credentials attributed to a container that did not take any" misnamed

# ------------------------------------------------------------- stop
phase "stop"
kill_wait "$STS_PID"
STS_PID=""
# Here, not under check: only this shell can wait for its child.
kill -TERM "$IMDSD_PID"
for _ in $(seq 60); do kill -0 "$IMDSD_PID" 2>/dev/null || break; sleep 0.25; done
if kill -0 "$IMDSD_PID" 2>/dev/null; then
	STOPPED="still running 15 s after SIGTERM"
else
	wait "$IMDSD_PID"
	STOPPED="exit status $?"
	IMDSD_PID=""
fi
stopped_cleanly() {
	[ "$STOPPED" = "exit status 0" ] || {
		echo "$STOPPED"
		tail -5 "$WORK/imdsd.log"
		return 1
	}
}
check "stop: imdsd exits 0 on SIGTERM" stopped_cleanly
addrs_gone() {
	local out
	out=$(lo_linklocal)
	[ -z "$out" ] || {
		echo "lo still has: $out"
		return 1
	}
}
check "stop: $IMDS_IP and $ECS_IP are gone from lo" addrs_gone

teardown
left() {
	local out
	out=$(docker ps -aq --filter "name=^/$RUN-")$(docker network ls -q --filter "name=^$RUN-" --filter "name=^$RELAY_NET\$")
	out+=$(ip netns list | awk -v ns="$NS" '$1 == ns')$(ip -o link show "$VETH_H" 2>/dev/null)
	[ -z "$out" ] || {
		echo "left: $out"
		return 1
	}
}
check "stop: no container, network, netns or veth of this run is left" left

summary
[ "$FAILED" = 0 ]

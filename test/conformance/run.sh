#!/usr/bin/env bash
# imdsd conformance suite: real AWS SDKs and CLIs, unmodified, resolve
# credentials from a real imdsd (built from ./cmd/imdsd) backed by the
# project's fake STS, then sign sts:GetCallerIdentity with them. The suite
# checks the ARN the fake STS returns (and, for the refresh checks, which
# access keys signed which call in the fake STS's own log).
#
#   bash test/conformance/run.sh        (root on a fresh machine: apt-get)
#
# Paths, per client (see docs/conformance.md):
#   imdsv2          AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT/
#   imdsv1          same, against an imdsd with tokens = "optional", through a
#                   proxy that refuses the token PUT (403): the SDK must fall
#                   back to IMDSv1 GETs (checked in the proxy's log)
#   ecs-token       AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN
#   ecs-token-file  AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
#   profile-chain   config profile: role_arn = role/second, credential_source =
#                   Ec2InstanceMetadata, ec2_metadata_service_endpoint = imdsd
#   refresh         IMDS, STS credentials living CONFORMANCE_REFRESH_LIFETIME s, imdsd
#                   refresh_before = "1m": one process signs, sleeps past the
#                   first key's expiry, signs again with a different key
#   refresh-ecs     the same through the ECS endpoint
#
# Nothing leaves loopback: every client gets the fake STS endpoint, a
# region, and HTTP(S)_PROXY pointing at a guard that refuses and logs any
# non-loopback request (NO_PROXY covers loopback); Node ignores proxies, so
# it runs with a preloaded guard (js/loopback-guard.cjs) instead.
#
# Environment knobs:
#   CONFORMANCE_KEEP=1             keep the work directory (logs) after the run
#   CONFORMANCE_CLIENTS="go-v2 js" run only these clients
#   CONFORMANCE_REFRESH_LIFETIME   STS credential lifetime for refresh checks (s, default 20)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export PATH="$PATH:/usr/local/go/bin"
START_TIME=$(date +%s)

ACCOUNT=111122223333
DEV_ROLE="arn:aws:iam::$ACCOUNT:role/dev"
SECOND_ROLE="arn:aws:iam::$ACCOUNT:role/second"
BASE_USER="arn:aws:iam::$ACCOUNT:user/conformance"
BASE_AKID=AKIAIMDSDCONFORMANCE
# A fake long-term secret known only to the fake STS and imdsd; never printed.
BASE_SECRET=conformanceFAKEsecretNOTforAWSuse0000000
REGION=eu-west-1
LIFETIME=${CONFORMANCE_REFRESH_LIFETIME:-20}
REFRESH_SLEEP=$((LIFETIME + 6))
CELL_TIMEOUT=$((2 * LIFETIME + 60))

ALL_CLIENTS=(go-v2 go-v1 boto3-pip boto3-debian cli-v1 cli-v2 js-v3)
PATHS=(imdsv2 imdsv1 ecs-token ecs-token-file profile-chain refresh refresh-ecs)
read -r -a CLIENTS <<<"${CONFORMANCE_CLIENTS:-${ALL_CLIENTS[*]}}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/imdsd-conformance.XXXXXX")
BIN="$WORK/bin"
RES="$WORK/results"
mkdir -p "$BIN" "$RES" "$WORK/cells"
: >"$WORK/pids"

log() { printf '%s\n' "$*" >&2; }
die() { log "conformance: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup

stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# tree_of PID...: the given live pids and all their descendants, from one
# pass over /proc (no procps needed, no fork per process).
tree_of() {
  local f stat rest pid
  local -a fields queue=("$@")
  local -A kids=()
  for f in /proc/[0-9]*/stat; do
    { IFS= read -r stat <"$f"; } 2>/dev/null || continue
    rest=${stat##*) } # the command name may contain spaces and parens
    read -r -a fields <<<"$rest"
    pid=${f#/proc/}
    kids[${fields[1]}]+=" ${pid%/stat}"
  done
  while [ "${#queue[@]}" -gt 0 ]; do
    pid=${queue[0]}
    queue=("${queue[@]:1}")
    if [ -d "/proc/$pid" ]; then
      echo "$pid"
      # shellcheck disable=SC2206 # space-separated pid list
      queue+=(${kids[$pid]:-})
    fi
  done
}

cleanup() {
  local status=$? round i
  local -a started=() all=()
  trap - EXIT INT TERM
  # Everything this script started (servers, cell jobs) and whatever those
  # are running; twice, in case a cell job started something meanwhile.
  if [ -s "$WORK/pids" ]; then mapfile -t started <"$WORK/pids"; fi
  for round in 1 2; do
    [ "${#started[@]}" -gt 0 ] || break
    mapfile -t all < <(tree_of "${started[@]}")
    [ "${#all[@]}" -gt 0 ] || break
    kill "${all[@]}" 2>/dev/null || true
    for i in $(seq 50); do
      kill -0 "${all[@]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "${all[@]}" 2>/dev/null || true
    [ "$round" = 2 ] || sleep 0.2
  done
  if [ "${CONFORMANCE_KEEP:-}" = 1 ]; then
    log "conformance: work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg OUT ERR CMD... starts CMD in the background, records its pid for
# the cleanup trap and leaves it in BG_PID.
start_bg() {
  local out=$1 err=$2
  shift 2
  "$@" >"$out" 2>"$err" </dev/null &
  BG_PID=$!
  echo "$BG_PID" >>"$WORK/pids"
}

# wait_line FILE REGEX [SECONDS]: wait until FILE has a line matching REGEX.
wait_line() {
  local file=$1 re=$2 tries=$((${3:-20} * 10))
  while [ "$tries" -gt 0 ]; do
    if grep -Eq -- "$re" "$file" 2>/dev/null; then return 0; fi
    sleep 0.1
    tries=$((tries - 1))
  done
  return 1
}

# start_url_server DIR NAME CMD...: a helper that prints its URL first on
# stdout; sets SRV_URL and SRV_PID.
start_url_server() {
  local dir=$1 name=$2
  shift 2
  start_bg "$dir/$name.out" "$dir/$name.err" "$@"
  SRV_PID=$BG_PID
  if ! wait_line "$dir/$name.out" '^http://127\.0\.0\.1:[0-9]+$' 20; then
    log "conformance: $name did not start:"
    cat "$dir/$name.err" >&2 || true
    return 1
  fi
  SRV_URL=$(head -n1 "$dir/$name.out")
}

# ---------------------------------------------------------------- install

need_apt=()
for pkg in awscli python3-boto3; do
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    need_apt+=("$pkg")
  fi
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${need_apt[*]} and no apt-get: install them by hand"
  [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}: run as root (apt-get) or install them first"
  log "== installing ${need_apt[*]} (apt-get)"
  apt-get update -qq >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get update failed"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends awscli python3-boto3 \
    >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get install failed"; }
fi

log "== building imdsd, fakests and the Go clients"
(cd "$ROOT" && go build -tags nethttpomithttp2 -o "$BIN/imdsd" ./cmd/imdsd && go build -o "$BIN/fakests" ./test/fakests/cmd/fakests) ||
  die "building imdsd/fakests failed"
(cd "$HERE/goclients" && go build -o "$BIN/" ./...) || die "building the Go clients failed"

JS_OK=0
if command -v node >/dev/null && command -v npm >/dev/null; then
  if cmp -s "$HERE/js/package-lock.json" "$HERE/js/node_modules/.conformance-lock" 2>/dev/null; then
    JS_OK=1
  else
    log "== npm ci (test/conformance/js)"
    if (cd "$HERE/js" && npm ci --no-audit --no-fund) >"$WORK/npm.log" 2>&1; then
      cp "$HERE/js/package-lock.json" "$HERE/js/node_modules/.conformance-lock"
      JS_OK=1
    else
      cat "$WORK/npm.log" >&2
    fi
  fi
fi

# ---------------------------------------------------------------- clients

# Per client: VERSION, CMD (argv prefix), SRC (source dirs for feature
# probes), or MISSING (why it cannot run).
declare -A VERSION SHORT MISSING SRC
declare -A CMD_STR # argv joined by \x1f; read back with client_cmd

set_cmd() { local c=$1; shift; local IFS=$'\x1f'; CMD_STR[$c]="$*"; }
client_cmd() { local IFS=$'\x1f'; read -r -a CMD <<<"${CMD_STR[$1]}"; }

gomod_dir() { (cd "$HERE/goclients" && go list -m -f '{{.Dir}}' "$1"); }
gomod_ver() { (cd "$HERE/goclients" && go list -m -f '{{.Version}}' "$1"); }

# pip's Python: the python3 on PATH (pyenv shims resolved to the real
# interpreter, since clients run with a private HOME).
PY_PIP=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
PY_PIP_INFO=""
if [ -n "$PY_PIP" ]; then
  PY_PIP_INFO=$("$PY_PIP" "$HERE/python/client.py" --versions 2>/dev/null || true)
fi
PY_DEB_INFO=$(env -i PATH=/usr/bin:/bin /usr/bin/python3 -s "$HERE/python/client.py" --versions 2>/dev/null || true)
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

for c in "${CLIENTS[@]}"; do
  case $c in
  go-v2)
    VERSION[$c]="aws-sdk-go-v2 config $(gomod_ver github.com/aws/aws-sdk-go-v2/config), sts $(gomod_ver github.com/aws/aws-sdk-go-v2/service/sts)"
    SHORT[$c]="config $(gomod_ver github.com/aws/aws-sdk-go-v2/config)"
    SRC[$c]="$(gomod_dir github.com/aws/aws-sdk-go-v2/config) $(gomod_dir github.com/aws/aws-sdk-go-v2/credentials)"
    set_cmd "$c" "$BIN/sdkv2"
    ;;
  go-v1)
    VERSION[$c]="aws-sdk-go $(gomod_ver github.com/aws/aws-sdk-go)"
    SHORT[$c]=$(gomod_ver github.com/aws/aws-sdk-go)
    SRC[$c]="$(gomod_dir github.com/aws/aws-sdk-go)/aws"
    set_cmd "$c" "$BIN/sdkv1"
    ;;
  boto3-pip)
    bc=$(field botocore_path "$PY_PIP_INFO")
    if [ -z "$bc" ] || [[ $bc == /usr/lib/python3/* ]]; then
      MISSING[$c]="no pip-installed boto3 for python3 on PATH ($PY_PIP)"
    else
      VERSION[$c]="boto3 $(field boto3 "$PY_PIP_INFO"), botocore $(field botocore "$PY_PIP_INFO") (pip, $PY_PIP)"
      SHORT[$c]="$(field boto3 "$PY_PIP_INFO")"
      SRC[$c]=$(dirname "$bc")
      set_cmd "$c" "$PY_PIP" "$HERE/python/client.py"
    fi
    ;;
  boto3-debian)
    bc=$(field botocore_path "$PY_DEB_INFO")
    if [[ $bc != /usr/lib/python3/dist-packages/* ]]; then
      MISSING[$c]="Debian python3-boto3 not importable by /usr/bin/python3"
    else
      VERSION[$c]="boto3 $(field boto3 "$PY_DEB_INFO"), botocore $(field botocore "$PY_DEB_INFO") (Debian, /usr/bin/python3)"
      SHORT[$c]="$(field boto3 "$PY_DEB_INFO")"
      SRC[$c]=$(dirname "$bc")
      set_cmd "$c" /usr/bin/python3 -s "$HERE/python/client.py"
    fi
    ;;
  cli-v1)
    aws1=""
    if [ -n "$PY_PIP" ]; then
      aws1="$("$PY_PIP" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/aws"
    fi
    v=""
    if [ -x "$aws1" ]; then v=$("$aws1" --version 2>&1 || true); fi
    if [[ $v != aws-cli/1.* ]]; then
      MISSING[$c]="no AWS CLI v1 next to pip's python3 (${aws1:-none})"
    else
      VERSION[$c]="$(cut -d' ' -f1 <<<"$v") ($(grep -o 'botocore/[^ ]*' <<<"$v"), pip)"
      SHORT[$c]=$(cut -d' ' -f1 <<<"$v" | cut -d/ -f2)
      SRC[$c]=$(dirname "$(field botocore_path "$PY_PIP_INFO")")
      set_cmd "$c" "$aws1"
    fi
    ;;
  cli-v2)
    v=""
    if [ -x /usr/bin/aws ]; then v=$(/usr/bin/aws --version 2>&1 || true); fi
    if [[ $v != aws-cli/2.* ]]; then
      MISSING[$c]="/usr/bin/aws (Debian awscli) is not AWS CLI v2: ${v:-missing}"
    else
      VERSION[$c]="$(cut -d' ' -f1 <<<"$v") (Debian awscli $(dpkg-query -W -f='${Version}' awscli))"
      SHORT[$c]=$(cut -d' ' -f1 <<<"$v" | cut -d/ -f2)
      SRC[$c]=/usr/lib/python3/dist-packages/awscli/botocore
      set_cmd "$c" /usr/bin/aws
    fi
    ;;
  js-v3)
    if [ "$JS_OK" != 1 ]; then
      MISSING[$c]="node/npm missing or npm ci failed"
    else
      jv() { node -p "require('$HERE/js/node_modules/$1/package.json').version"; }
      VERSION[$c]="@aws-sdk/client-sts $(jv @aws-sdk/client-sts), credential-providers $(jv @aws-sdk/credential-providers) (node $(node --version))"
      SHORT[$c]=$(jv @aws-sdk/client-sts)
      SRC[$c]="$HERE/js/node_modules/@aws-sdk $HERE/js/node_modules/@smithy"
      set_cmd "$c" "$(command -v node)" --require "$HERE/js/loopback-guard.cjs" "$HERE/js/client.mjs"
    fi
    ;;
  *) die "unknown client $c (known: ${ALL_CLIENTS[*]})" ;;
  esac
done

# has FEATURE CLIENT: does the client's source mention the feature?
has() {
  local pat
  case $1 in
  token-file) pat=AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ;;
  endpoint-env) pat=AWS_ENDPOINT_URL ;;
  imds-extension) pat=_evaluate_expiration ;; # botocore's IMDS static stability
  esac
  # shellcheck disable=SC2086 # SRC holds a space-separated list of dirs
  grep -rqs --include='*.py' --include='*.go' --include='*.js' -- "$pat" ${SRC[$2]}
}

is_cli() { [[ $1 == cli-* ]]; }
is_botocore() { [[ $1 == boto3-* || $1 == cli-* ]]; }

# ---------------------------------------------------------------- servers

# start_fakests DIR [ARGS...]: sets STS_URL.
start_fakests() {
  local dir=$1
  shift
  start_url_server "$dir" fakests "$BIN/fakests" \
    -user "$BASE_AKID:$BASE_SECRET:$BASE_USER" \
    -role "$DEV_ROLE,trust=$BASE_USER" \
    -role "$SECOND_ROLE,trust=$DEV_ROLE" "$@" || return 1
  STS_URL=$SRV_URL
}

# start_imdsd DIR STS_URL TOKENS REFRESH_BEFORE: sets IMDS_URL, ECS_URL,
# ECS_TOKEN_FILE. imdsd has its own HOME and AWS files: profile dev assumes
# role/dev from the long-term keys of profile base.
start_imdsd() {
  local dir=$1 sts=$2 tokens=$3 before=$4 err ports
  mkdir -p "$dir/home"
  cat >"$dir/aws-config" <<EOF
[profile dev]
role_arn = $DEV_ROLE
source_profile = base
region = $REGION
EOF
  (umask 077 && cat >"$dir/aws-credentials" <<EOF
[base]
aws_access_key_id = $BASE_AKID
aws_secret_access_key = $BASE_SECRET
EOF
  )
  cat >"$dir/imdsd.toml" <<EOF
profile = "dev"
refresh_before = "$before"
[imds]
listen = ["127.0.0.1:0"]
tokens = "$tokens"
[ecs]
listen = ["127.0.0.1:0"]
token_file = "$dir/ecs-token"
EOF
  err="$dir/imdsd.err"
  start_bg "$dir/imdsd.out" "$err" env -i PATH=/usr/bin:/bin HOME="$dir/home" \
    AWS_CONFIG_FILE="$dir/aws-config" AWS_SHARED_CREDENTIALS_FILE="$dir/aws-credentials" \
    AWS_ENDPOINT_URL_STS="$sts" "$BIN/imdsd" serve --config "$dir/imdsd.toml"
  if ! wait_line "$err" 'msg=serving .*listeners=' 20 || ! wait_line "$err" 'msg="credentials refreshed"' 20; then
    log "conformance: imdsd in $dir did not start serving credentials:"
    cat "$err" >&2
    return 1
  fi
  ports=$(grep -m1 -o 'listeners="\[[^]]*\]"' "$err")
  IMDS_URL="http://$(grep -o 'imds 127\.0\.0\.1:[0-9]*' <<<"$ports" | cut -d' ' -f2)"
  ECS_URL="http://$(grep -o 'ecs 127\.0\.0\.1:[0-9]*' <<<"$ports" | cut -d' ' -f2)"
  ECS_TOKEN_FILE="$dir/ecs-token"
}

# ---------------------------------------------------------------- cells

# run_client CLIENT DIR CALLS SLEEP ENV...: runs one client process (two for
# the CLIs when CALLS=2) with exactly ENV, writing normalized result lines
# ("call=N result=ok|error akid=... arn=...|error=...") to DIR/out.
run_client() {
  local c=$1 dir=$2 calls=$3 sleep_s=$4 i arn rc=0
  shift 4
  local -a envv=(env -i "$@") extra=()
  client_cmd "$c"
  # Old botocore / CLI ignore AWS_ENDPOINT_URL_STS: tell them explicitly.
  if is_botocore "$c" && ! has endpoint-env "$c"; then
    extra=(--endpoint-url "$STS_CELL")
  fi
  if is_cli "$c"; then
    : >"$dir/out"
    for ((i = 1; i <= calls; i++)); do
      [ "$i" = 1 ] || sleep "$sleep_s"
      if arn=$(timeout --foreground "$CELL_TIMEOUT" "${envv[@]}" "${CMD[@]}" sts get-caller-identity \
        --output text --query Arn "${extra[@]}" 2>>"$dir/err"); then
        echo "call=$i result=ok akid=- arn=$arn" >>"$dir/out"
      else
        echo "call=$i result=error akid=- error=\"$(tail -n1 "$dir/err")\"" >>"$dir/out"
        rc=1
      fi
    done
    return "$rc"
  fi
  timeout --foreground "$CELL_TIMEOUT" "${envv[@]}" "${CMD[@]}" "${extra[@]}" \
    --calls "$calls" --sleep "$sleep_s" >"$dir/out" 2>>"$dir/err"
}

# result CLIENT PATH VERDICT DETAIL
result() { printf '%s\t%s\n' "$3" "$4" >"$RES/$1.$2"; }

# check_arns OUT CALLS ROLE: all CALLS calls succeeded as ROLE. Sets WHY.
check_arns() {
  local out=$1 calls=$2 role=$3 n bad
  n=$(grep -c '^call=[0-9]* result=ok ' "$out" || true)
  if [ "$n" != "$calls" ]; then
    WHY="$n of $calls calls succeeded: $(grep -m1 'result=error' "$out" | cut -c1-300)"
    return 1
  fi
  bad=$(grep '^call=' "$out" | grep -v " arn=arn:aws:sts::$ACCOUNT:assumed-role/$role/" | head -n1 || true)
  if [ -n "$bad" ]; then
    WHY="expected assumed-role/$role, got: $(cut -c1-200 <<<"$bad")"
    return 1
  fi
  return 0
}

# client_env CLIENT DIR: the environment every client starts from (no
# credentials, no profile, private HOME and AWS files, fake STS, region,
# guard proxy). Sets CENV.
client_env() {
  local c=$1 dir=$2
  mkdir -p "$dir/home"
  : >"$dir/aws-config"
  : >"$dir/aws-credentials"
  CENV=(PATH=/usr/local/bin:/usr/bin:/bin HOME="$dir/home" LANG=C.UTF-8
    AWS_CONFIG_FILE="$dir/aws-config" AWS_SHARED_CREDENTIALS_FILE="$dir/aws-credentials"
    AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION" AWS_ENDPOINT_URL_STS="$STS_CELL"
    AWS_PAGER= AWS_CLI_AUTO_PROMPT=off AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
    HTTP_PROXY="$GUARD_URL" HTTPS_PROXY="$GUARD_URL" http_proxy="$GUARD_URL" https_proxy="$GUARD_URL"
    "NO_PROXY=127.0.0.1,localhost,::1" "no_proxy=127.0.0.1,localhost,::1")
}

# guard_hosts DIR: what the client tried to reach off loopback.
guard_hosts() {
  {
    sed -n 's/^guardproxy: blocked .*host=\(.*\)$/\1/p' "$1/guard.err"
    sed -n 's/.*loopback-guard: refused connection to non-loopback host \([^ "\\]*\).*/\1/p' "$1/out" "$1/err"
  } 2>/dev/null | sort -u | paste -sd, -
}

# cell CLIENT PATH: one client x one path. Writes RES/CLIENT.PATH.
cell() {
  local c=$1 p=$2 dir="$WORK/cells/$1.$2" calls=1 sleep_s=0 role=dev rc=0 left
  local -a penv=()
  mkdir -p "$dir"
  : >"$dir/err"
  if [ -n "${MISSING[$c]:-}" ]; then
    result "$c" "$p" FAIL "client not available: ${MISSING[$c]}"
    return
  fi
  STS_CELL=$STS_MAIN
  if ! start_url_server "$dir" guard "$BIN/guardproxy"; then
    result "$c" "$p" FAIL "harness: guard proxy did not start"
    return
  fi
  GUARD_URL=$SRV_URL
  local pids=("$SRV_PID")
  case $p in
  imdsv2)
    penv=(AWS_EC2_METADATA_SERVICE_ENDPOINT="$IMDS_MAIN/")
    ;;
  imdsv1)
    if ! start_url_server "$dir" v1proxy "$BIN/imdsv1proxy" -target "$IMDS_OPT"; then
      result "$c" "$p" FAIL "harness: imdsv1proxy did not start"
      return
    fi
    pids+=("$SRV_PID")
    penv=(AWS_EC2_METADATA_SERVICE_ENDPOINT="$SRV_URL/")
    ;;
  ecs-token)
    # IMDS pointed at a dead loopback port: success can only come from ECS.
    penv=(AWS_CONTAINER_CREDENTIALS_FULL_URI="$ECS_MAIN/creds"
      AWS_CONTAINER_AUTHORIZATION_TOKEN="$(cat "$ECS_TOKEN_MAIN")"
      AWS_EC2_METADATA_SERVICE_ENDPOINT="$DEAD_URL/")
    ;;
  ecs-token-file)
    penv=(AWS_CONTAINER_CREDENTIALS_FULL_URI="$ECS_MAIN/creds"
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$ECS_TOKEN_MAIN"
      AWS_EC2_METADATA_SERVICE_ENDPOINT="$DEAD_URL/")
    ;;
  profile-chain)
    role=second
    penv=(AWS_PROFILE=chain)
    ;;
  refresh | refresh-ecs)
    calls=2
    sleep_s=$REFRESH_SLEEP
    if ! { start_fakests "$dir" -lifetime "${LIFETIME}s" && pids+=("$SRV_PID") &&
      start_imdsd "$dir/imdsd" "$STS_URL" required 1m; }; then
      result "$c" "$p" FAIL "harness: refresh stack did not start"
      return
    fi
    pids+=("$BG_PID") # imdsd; the fake STS was started first
    STS_CELL=$STS_URL
    if [ "$p" = refresh ]; then
      penv=(AWS_EC2_METADATA_SERVICE_ENDPOINT="$IMDS_URL/")
    else
      penv=(AWS_CONTAINER_CREDENTIALS_FULL_URI="$ECS_URL/creds" AWS_EC2_METADATA_SERVICE_ENDPOINT="$DEAD_URL/")
      if has token-file "$c"; then
        penv+=(AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$ECS_TOKEN_FILE")
      else
        penv+=(AWS_CONTAINER_AUTHORIZATION_TOKEN="$(cat "$ECS_TOKEN_FILE")")
      fi
    fi
    ;;
  esac
  client_env "$c" "$dir"
  if [ "$p" = profile-chain ]; then
    cat >"$dir/aws-config" <<EOF
[profile chain]
role_arn = $SECOND_ROLE
credential_source = Ec2InstanceMetadata
ec2_metadata_service_endpoint = $IMDS_MAIN/
region = $REGION
EOF
  fi

  run_client "$c" "$dir" "$calls" "$sleep_s" "${CENV[@]}" "${penv[@]}" || rc=$?
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  left=$(guard_hosts "$dir")

  WHY=""
  if [ "$rc" = 0 ] && check_arns "$dir/out" "$calls" "$role" && verify_path "$c" "$p" "$dir"; then
    if [ -n "$left" ]; then
      result "$c" "$p" FAIL "succeeded, but tried to leave loopback: $left"
    else
      result "$c" "$p" PASS "${WHY:-}"
    fi
    return
  fi
  [ -n "$WHY" ] || WHY="exit status $rc: $(tail -n1 "$dir/out" 2>/dev/null | cut -c1-300)"
  not_applicable "$c" "$p" "$dir" "$left" && return
  [ -z "$left" ] || WHY="$WHY; tried to leave loopback: $left"
  result "$c" "$p" FAIL "$WHY"
}

# verify_path CLIENT PATH DIR: the path-specific evidence, beyond the ARN.
verify_path() {
  local c=$1 p=$2 dir=$3 lines k1 k2 n
  case $p in
  imdsv1)
    if ! grep -q 'method=PUT path=/latest/api/token .*status=403' "$dir/v1proxy.err"; then
      WHY="the client never asked for an IMDSv2 token"
      return 1
    fi
    if grep -q 'method=GET .*token=true' "$dir/v1proxy.err"; then
      WHY="the client sent a token on a metadata GET (not IMDSv1)"
      return 1
    fi
    if ! grep -q 'method=GET path=/latest/meta-data/iam/security-credentials/dev token=false status=200' "$dir/v1proxy.err"; then
      WHY="no IMDSv1 GET of the credentials in the proxy log"
      return 1
    fi
    WHY="token PUT refused, credentials fetched with IMDSv1 GETs"
    ;;
  refresh | refresh-ecs)
    # The fake STS's log of this cell's own stack is the ground truth.
    lines=$(grep 'action="GetCallerIdentity"' "$dir/fakests.err" || true)
    n=$(grep -c . <<<"$lines" || true)
    if [ "$n" != 2 ] || grep -qv 'status=200' <<<"$lines"; then
      WHY="fake STS saw $n GetCallerIdentity calls, not 2 accepted ones: $(tr '\n' ' ' <<<"$lines" | cut -c1-300)"
      return 1
    fi
    k1=$(sed -n '1s/.*akid="\([^"]*\)".*/\1/p' <<<"$lines")
    k2=$(sed -n '2s/.*akid="\([^"]*\)".*/\1/p' <<<"$lines")
    if [ "$k1" = "$k2" ]; then
      WHY="both calls signed with $k1"
      return 1
    fi
    WHY="signed with $k1, then ${REFRESH_SLEEP}s later with $k2 (${LIFETIME}s credentials)"
    if is_cli "$c"; then WHY="$WHY; two CLI processes: shows imdsd's refresh, not the CLI's"; fi
    ;;
  esac
  return 0
}

# not_applicable CLIENT PATH DIR LEFT: the client failed; if that is the
# documented lack of a feature, verified both in its source and in the way
# it failed, record N-A and succeed.
not_applicable() {
  local c=$1 p=$2 dir=$3 left=$4
  case $p in
  ecs-token-file)
    if ! has token-file "$c" && grep -q '401' "$dir/out" "$dir/err" 2>/dev/null; then
      result "$c" "$p" N-A "no AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE support (not in its source; it sent no token and got 401); use AWS_CONTAINER_AUTHORIZATION_TOKEN"
      return 0
    fi
    ;;
  profile-chain)
    if ! has endpoint-env "$c" && [[ $left == sts*amazonaws.com* ]]; then
      result "$c" "$p" N-A "no AWS_ENDPOINT_URL_STS support: the profile's AssumeRole goes to $left (refused by the guard); cannot be tested without real AWS"
      return 0
    fi
    ;;
  refresh)
    local k1 k2
    k1=$(sed -n 's/^call=1 result=ok akid=\([^ ]*\) .*/\1/p' "$dir/out")
    k2=$(sed -n 's/^call=2 result=error akid=\([^ ]*\) .*ExpiredToken.*/\1/p' "$dir/out")
    if is_botocore "$c" && ! is_cli "$c" && has imds-extension "$c" && [ -n "$k1" ] && [ "$k1" = "$k2" ]; then
      result "$c" "$p" N-A "by design botocore treats IMDS credentials with under 17-25 min left as a service outage and extends them in-process (static stability), so it re-signed with $k1 after it expired (ExpiredToken); safe only while imdsd serves keys with > 10 min left (refresh_before >= 10m, the default is 15m); see refresh-ecs and docs/conformance.md"
      return 0
    fi
    ;;
  esac
  return 1
}

# ---------------------------------------------------------------- main

log "== starting the fake STS and imdsd (tokens required; and tokens optional for IMDSv1)"
mkdir -p "$WORK/main"
start_fakests "$WORK/main" || die "fake STS did not start"
STS_MAIN=$STS_URL
start_imdsd "$WORK/main/required" "$STS_MAIN" required 15m || die "imdsd did not start"
IMDS_MAIN=$IMDS_URL ECS_MAIN=$ECS_URL ECS_TOKEN_MAIN=$ECS_TOKEN_FILE
start_imdsd "$WORK/main/optional" "$STS_MAIN" optional 15m || die "imdsd (tokens optional) did not start"
IMDS_OPT=$IMDS_URL
# A loopback port with nothing listening (bound, then closed).
DEAD_URL="http://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

log "== clients"
for c in "${CLIENTS[@]}"; do
  log "   $c: ${VERSION[$c]:-MISSING: ${MISSING[$c]}}"
done

log "== running ${#CLIENTS[@]} clients x ${#PATHS[@]} paths (refresh checks sleep ${REFRESH_SLEEP}s, in parallel)"
jobs_pids=()
for c in "${CLIENTS[@]}"; do
  for p in refresh refresh-ecs; do
    cell "$c" "$p" &
    jobs_pids+=($!)
    echo "$!" >>"$WORK/pids"
  done
done
for c in "${CLIENTS[@]}"; do
  (for p in imdsv2 imdsv1 ecs-token ecs-token-file profile-chain; do cell "$c" "$p"; done) &
  jobs_pids+=($!)
  echo "$!" >>"$WORK/pids"
done

# Harness controls: each must FAIL for the suite to be able to fail.
controls() {
  local dir="$WORK/cells/control" rc
  mkdir -p "$dir"
  STS_CELL=$STS_MAIN
  start_url_server "$dir" guard "$BIN/guardproxy" || return 0
  GUARD_URL=$SRV_URL
  client_env go-v2 "$dir"
  # 1. a wrong role expectation is caught
  rc=0
  env -i "${CENV[@]}" AWS_EC2_METADATA_SERVICE_ENDPOINT="$IMDS_MAIN/" "$BIN/sdkv2" >"$dir/c1.out" 2>&1 || rc=$?
  if [ "$rc" = 0 ] && check_arns "$dir/c1.out" 1 dev && ! check_arns "$dir/c1.out" 1 second; then
    echo "PASS	expecting role/second for an IMDS (role/dev) client is reported as a failure" >"$RES/control.1"
  else
    echo "FAIL	wrong-role control: $(head -c 300 "$dir/c1.out")" >"$RES/control.1"
  fi
  # 2. the IMDSv1 path needs tokens = "optional": the same proxy in front of
  #    the tokens-required imdsd must not yield credentials
  start_url_server "$dir" v1proxy "$BIN/imdsv1proxy" -target "$IMDS_MAIN" || return 0
  if env -i "${CENV[@]}" AWS_EC2_METADATA_SERVICE_ENDPOINT="$SRV_URL/" "$BIN/sdkv2" >"$dir/c2.out" 2>&1; then
    echo "FAIL	IMDSv1 against tokens = \"required\" succeeded: $(head -c 300 "$dir/c2.out")" >"$RES/control.2"
  elif grep -q 'token=false status=401' "$dir/v1proxy.err"; then
    echo "PASS	IMDSv1 GETs to a tokens = \"required\" imdsd get 401 and the client fails" >"$RES/control.2"
  else
    echo "FAIL	IMDSv1 control failed for another reason: $(head -c 300 "$dir/c2.out")" >"$RES/control.2"
  fi
  stop_pid "$SRV_PID"
  # 3. the ECS endpoint checks the token
  if env -i "${CENV[@]}" AWS_CONTAINER_CREDENTIALS_FULL_URI="$ECS_MAIN/creds" \
    AWS_CONTAINER_AUTHORIZATION_TOKEN=not-the-token AWS_EC2_METADATA_SERVICE_ENDPOINT="$DEAD_URL/" \
    "$BIN/sdkv2" >"$dir/c3.out" 2>&1; then
    echo "FAIL	ECS with a wrong token succeeded" >"$RES/control.3"
  else
    echo "PASS	ECS with a wrong token fails" >"$RES/control.3"
  fi
}
controls

for pid in "${jobs_pids[@]}"; do wait "$pid" || true; done

# ---------------------------------------------------------------- report

passed=0 failed=0 skipped=0
notes=()
header=$(printf '%-28s' "client version")
for p in "${PATHS[@]}"; do header+=$(printf ' %-14s' "$p"); done
echo
echo "== conformance matrix"
echo "$header"
for c in "${CLIENTS[@]}"; do
  row=$(printf '%-28s' "$c ${SHORT[$c]:-?}")
  for p in "${PATHS[@]}"; do
    if [ -f "$RES/$c.$p" ]; then
      IFS=$'\t' read -r verdict detail <"$RES/$c.$p"
    else
      verdict=FAIL detail="harness: no result recorded"
    fi
    case $verdict in
    PASS) passed=$((passed + 1)) ;;
    N-A) skipped=$((skipped + 1)) ;;
    *) verdict=FAIL failed=$((failed + 1)) ;;
    esac
    if [ -n "$detail" ]; then notes+=("$c $p: $verdict: $detail"); fi
    row+=$(printf ' %-14s' "$verdict")
  done
  echo "$row"
done
echo
echo "== client versions"
for c in "${CLIENTS[@]}"; do printf '%-14s %s\n' "$c" "${VERSION[$c]:-not available: ${MISSING[$c]:-}}"; done
echo
echo "== harness controls"
for i in 1 2 3; do
  if [ -f "$RES/control.$i" ]; then
    IFS=$'\t' read -r verdict detail <"$RES/control.$i"
  else
    verdict=FAIL detail="control did not run"
  fi
  if [ "$verdict" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  echo "control $i: $verdict: $detail"
done
if [ "${#notes[@]}" -gt 0 ]; then
  echo
  echo "== details (evidence for PASS, reasons for N-A and FAIL)"
  printf '%s\n' "${notes[@]}"
fi
if [ "$failed" -gt 0 ]; then
  echo
  echo "logs of failed cells (stderr tails):"
  for c in "${CLIENTS[@]}"; do
    for p in "${PATHS[@]}"; do
      if [ -f "$RES/$c.$p" ] && [[ $(cut -f1 "$RES/$c.$p") == FAIL ]]; then
        echo "--- $c $p"
        tail -n 15 "$WORK/cells/$c.$p/err" 2>/dev/null || true
      fi
    done
  done
fi
echo
echo "runtime: $(($(date +%s) - START_TIME))s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]

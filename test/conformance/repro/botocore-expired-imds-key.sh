#!/usr/bin/env bash
# Reproduction (not part of the suite; ~3 min): with an imdsd config that
# imdsd accepts (refresh_before = "1m"), boto3 signs with an EXPIRED key.
#
# imdsd refreshes when less than refresh_before is left, so with "1m" it
# serves credentials with as little as 1 min of life. botocore treats IMDS
# credentials with under 17-25 min left as an IMDS outage: it extends them
# in-process to now + 17-25 min (utils.py InstanceMetadataFetcher.
# _evaluate_expiration) and only asks IMDS again 2-10 min later. Any key
# served with under 2 min left is therefore used after it expired.
#
# Real STS credentials live >= 15 min; the fake STS's -lifetime 3m only
# shortens the wait (with 1h credentials the same happens in the last 2 min
# of each key). Expected: call 2 signed with a fresh key. Actual: call 2 is
# signed with call 1's key and STS answers ExpiredToken.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
W=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$W"' EXIT
(cd "$ROOT" && go build -o "$W/" ./cmd/imdsd ./test/fakests/cmd/fakests)

"$W/fakests" -lifetime 3m -url-file "$W/sts.url" \
  -user 'AKIAREPROREPROREPRO1:reproFAKEsecret000000000000000000000000:arn:aws:iam::111122223333:user/repro' \
  -role 'arn:aws:iam::111122223333:role/dev,trust=arn:aws:iam::111122223333:user/repro' >/dev/null 2>"$W/sts.log" &
pids+=($!)
until [ -s "$W/sts.url" ]; do sleep 0.1; done
STS=$(cat "$W/sts.url")
printf '[profile dev]\nrole_arn = arn:aws:iam::111122223333:role/dev\nsource_profile = base\n' >"$W/config"
printf '[base]\naws_access_key_id = AKIAREPROREPROREPRO1\naws_secret_access_key = reproFAKEsecret000000000000000000000000\n' >"$W/credentials"
printf 'profile = "dev"\nrefresh_before = "1m"\n[imds]\nlisten = ["127.0.0.1:0"]\n[ecs]\nlisten = []\n' >"$W/imdsd.toml"
env -i PATH=/usr/bin:/bin HOME="$W" AWS_CONFIG_FILE="$W/config" AWS_SHARED_CREDENTIALS_FILE="$W/credentials" \
  AWS_ENDPOINT_URL_STS="$STS" "$W/imdsd" serve --config "$W/imdsd.toml" 2>"$W/imdsd.log" &
pids+=($!)
until grep -q 'msg="credentials refreshed"' "$W/imdsd.log" 2>/dev/null; do sleep 0.1; done
PORT=$(grep -o 'imds 127.0.0.1:[0-9]*' "$W/imdsd.log" | head -n1 | cut -d: -f2)
echo "imdsd serves 3-minute credentials, refresh_before = 1m; waiting 70 s so the served key has < 2 min left"
sleep 70
python3 - "$PORT" "$STS" <<'PY'
import sys, time, boto3
port, sts_url = sys.argv[1], sys.argv[2]
import os
os.environ.update(AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:%s/" % port,
                  AWS_DEFAULT_REGION="eu-west-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(k, None)
sts = boto3.Session().client("sts", endpoint_url=sts_url)
def call(n):
    key = sts._request_signer._credentials.get_frozen_credentials().access_key
    try:
        print("call %d signed with %s: %s" % (n, key, sts.get_caller_identity()["Arn"]), flush=True)
        return key, None
    except Exception as e:
        print("call %d signed with %s: %s" % (n, key, e), flush=True)
        return key, e
k1, _ = call(1)
print("sleeping 115 s: past the expiry of call 1's key", flush=True)
time.sleep(115)
k2, err = call(2)
if err is not None and k1 == k2 and "ExpiredToken" in str(err):
    print("REPRODUCED: botocore re-signed with the expired key %s" % k1)
else:
    print("NOT REPRODUCED")
PY
echo "imdsd log:"; grep -o 'msg="credentials refreshed".*' "$W/imdsd.log"

"""boto3 conformance client for imdsd (test/conformance/run.sh).

Resolves credentials the way an unmodified boto3 program does
(boto3.Session(): environment, shared config, ECS container endpoint, EC2
IMDS) and signs sts:GetCallerIdentity with them, --calls times, --sleep
seconds apart, in one process, so botocore's own credential refresh is what
is exercised. Prints one line per call: the access key id that signed it
(read from the Authorization header as sent) and the returned ARN. Never
prints secrets or session tokens.

Runs on any Python 3 botocore supports; the suite runs it with pip's boto3
and with Debian's python3-boto3 (/usr/bin/python3 -s, no PYTHONPATH).
"""

import argparse
import sys
import time

import boto3
import botocore


def access_key_id(authorization):
    if isinstance(authorization, bytes):
        authorization = authorization.decode("ascii", "replace")
    if not authorization or "Credential=" not in authorization:
        return "-"
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=1)
    p.add_argument("--sleep", type=float, default=0)
    # botocore < 1.31.68 ignores AWS_ENDPOINT_URL_STS: the suite passes the
    # endpoint explicitly to those.
    p.add_argument("--endpoint-url")
    p.add_argument("--versions", action="store_true",
                   help="print boto3/botocore versions and paths, then exit")
    args = p.parse_args()
    if args.versions:
        print("python=%s boto3=%s botocore=%s botocore_path=%s" % (
            sys.executable, boto3.__version__, botocore.__version__,
            botocore.__file__))
        return 0

    sent = {}

    def record(request, **_):
        sent["akid"] = access_key_id(request.headers.get("Authorization"))

    sts = None
    failed = False
    for i in range(1, args.calls + 1):
        if i > 1:
            time.sleep(args.sleep)
        sent["akid"] = "-"
        try:
            if sts is None:
                # Creating the client resolves credentials: it can fail too.
                kwargs = {}
                if args.endpoint_url:
                    kwargs["endpoint_url"] = args.endpoint_url
                sts = boto3.Session().client("sts", **kwargs)
                sts.meta.events.register(
                    "before-send.sts.GetCallerIdentity", record)
            arn = sts.get_caller_identity()["Arn"]
        except Exception as e:  # report any failure as a result line
            msg = "%s: %s" % (type(e).__name__, e)
            print("call=%d result=error akid=%s error=%r" % (i, sent["akid"], msg), flush=True)
            failed = True
            continue
        print("call=%d result=ok akid=%s arn=%s" % (i, sent["akid"], arn), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

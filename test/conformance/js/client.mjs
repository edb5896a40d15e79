// AWS SDK for JavaScript v3 conformance client for imdsd
// (test/conformance/run.sh).
//
// Resolves credentials with fromNodeProviderChain() - the chain an STSClient
// uses when given no credentials: environment, shared config (incl. role_arn
// + credential_source), ECS container endpoint (fromHttp), EC2 IMDS - and
// signs sts:GetCallerIdentity with them, --calls times, --sleep seconds
// apart, in one process, so the SDK's own credential refresh is exercised.
// Region and the STS endpoint come from AWS_REGION and AWS_ENDPOINT_URL_STS.
// Prints the access key id that signed each call (read from the
// Authorization header as sent) and the returned ARN; never secrets.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "1" },
    sleep: { type: "string", default: "0" },
  },
});
const calls = Number(values.calls);
const sleepMs = Number(values.sleep) * 1000;

const client = new STSClient({ credentials: fromNodeProviderChain() });
let akid = "-";
// The deserialize step runs after signing, just before the request is sent.
client.middlewareStack.add(
  (next) => async (args) => {
    const auth = args.request?.headers?.authorization ?? args.request?.headers?.Authorization ?? "";
    const m = /Credential=([^/]+)\//.exec(auth);
    akid = m ? m[1] : "-";
    return next(args);
  },
  { step: "deserialize", name: "conformanceSignedKey", priority: "low" },
);

let failed = false;
for (let i = 1; i <= calls; i++) {
  if (i > 1) await new Promise((r) => setTimeout(r, sleepMs));
  akid = "-";
  try {
    const out = await client.send(new GetCallerIdentityCommand({}));
    console.log(`call=${i} result=ok akid=${akid} arn=${out.Arn}`);
  } catch (e) {
    const msg = `${e.name}: ${e.message}`;
    console.log(`call=${i} result=error akid=${akid} error=${JSON.stringify(msg)}`);
    failed = true;
  }
}
process.exitCode = failed ? 1 : 0;

package daemon

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"

	"github.com/imdsd/imdsd/config"
	"github.com/imdsd/imdsd/internal/iamops"
	"github.com/imdsd/imdsd/internal/keyops"
	"github.com/imdsd/imdsd/internal/keystore"
	"github.com/imdsd/imdsd/test/fakests"
)

const (
	keyringPass = "correct horse battery staple"
	otherKeyID  = "AKIAFAKEOTHER0000001"
	otherKey    = "FAKEotherSECRETkeyFAKEotherSECRETkey0001"
	otherARN    = "arn:aws:iam::" + account + ":user/bob"
	chainRole   = "arn:aws:iam::" + account + ":role/chained"
	mfaRoleKR   = "arn:aws:iam::" + account + ":role/admin"
)

// The credentials file before the move: base's keys between two other
// sections, which must come out byte for byte.
const credsBefore = "# keys of bob\n[other]\naws_access_key_id = " + otherKeyID + "\naws_secret_access_key = " + otherKey + "\n\n" +
	baseAWSCreds + "\n; the end\n[empty]\n"

const credsAfter = "# keys of bob\n[other]\naws_access_key_id = " + otherKeyID + "\naws_secret_access_key = " + otherKey + "\n\n" +
	"\n; the end\n[empty]\n"

// TestKeyringEndToEnd: base's keys move from ~/.aws/credentials into the
// file keyring (verified at STS, the plaintext section removed with the
// rest of the file untouched); then every way of using base works from
// the keyring's key — on its own with GetSessionToken, as a role's source,
// through a chain of roles, with MFA — while a daemon without the
// passphrase serves the other profiles and says how to unlock; lock drops
// everything, a wrong passphrase is refused, the right one restores.
func TestKeyringEndToEnd(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{
		awsConfig: "\n[profile other]\nregion = eu-west-1\n\n[profile chain]\nrole_arn = " + chainRole + "\nsource_profile = dev\n" +
			"\n[profile admin]\nrole_arn = " + mfaRoleKR + "\nsource_profile = base\nmfa_serial = " + mfaSerial + "\n",
		awsCreds: credsBefore,
		ecsTOML: `profiles = ["base", "other", "chain", "admin"]
[profiles.admin]
mfa_process = "echo 123456"`,
	})
	e.sts.AddUser(otherKeyID, otherKey, otherARN)
	e.sts.AddRole(chainRole, fakests.RoleOptions{TrustedPrincipals: []string{"arn:aws:sts::" + account + ":assumed-role/dev/*"}})
	e.sts.AddRole(mfaRoleKR, fakests.RoleOptions{TrustedPrincipals: []string{userARN}, RequireMFA: true})
	e.sts.SetMFA(mfaSerial, "123456")
	ctx := context.Background()
	e.d.Refresh() // the fetches before the users and roles above existed failed

	// 1. Move base's keys into the keyring.
	o := keyops.Options{
		Keyring:    config.Keyring{Backend: "file", FileDir: filepath.Join(e.dir, "keyring")},
		Passphrase: func(string, bool) (string, error) { return keyringPass, nil },
		Files:      config.AWSFiles{Config: []string{e.awsCfg}, Credentials: []string{e.awsCreds}},
		HTTPClient: loopbackOnlyHTTP,
		StateDir:   filepath.Join(e.dir, "state"),
	}
	added, err := keyops.Import(ctx, o, "base")
	if err != nil {
		t.Fatal(err)
	}
	if added.AccessKeyID != baseKeyID || added.ARN != userARN {
		t.Fatalf("import = %+v", added)
	}
	if n := e.sts.CallCount("GetCallerIdentity"); n != 1 {
		t.Fatalf("the key was checked at STS %d times, want once", n)
	}
	must(t, keyops.RemovePlaintext(o, "base"))
	if b, _ := os.ReadFile(e.awsCreds); string(b) != credsAfter {
		t.Fatalf("credentials file after the move:\n%q\nwant\n%q", b, credsAfter)
	}
	list, err := keyops.List(o)
	if err != nil || len(list) != 1 || list[0].Profile != "base" || list[0].AccessKeyID != baseKeyID || list[0].Created.IsZero() {
		t.Fatalf("keys list = %+v, %v", list, err)
	}

	// 2. The daemon has no passphrase: the keyring's profiles wait for
	// it, the others are served.
	must(t, e.d.Reload(ctx))
	st, err := e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.KeyringLocked {
		t.Fatal("status does not say the keyring is locked")
	}
	for _, p := range st.Profiles {
		if p.Name == "other" {
			continue
		}
		if p.Keyring != "base" || !strings.Contains(p.LastError, "imdsd unlock") {
			t.Errorf("status of %s: keyring %q, last error %q; want base and how to unlock", p.Name, p.Keyring, p.LastError)
		}
	}
	code, body := e.get(e.imdsURL+"/latest/meta-data/iam/security-credentials/dev", map[string]string{"X-aws-ec2-metadata-token": e.imdsToken()})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "imdsd unlock") {
		t.Fatalf("IMDS for dev with the keyring locked: %d %q", code, body)
	}
	if c, err := e.ecsCreds(ctx, "/role/other"); err != nil {
		t.Fatalf("other (keys in the file) while the keyring is locked: %v", err)
	} else if iss, _ := e.sts.Issued(c.AccessKeyID); iss.SourceAccessKeyID != otherKeyID {
		t.Fatalf("other served %+v", iss)
	}

	// 3. A wrong passphrase is refused and changes nothing.
	if _, err := e.client().UnlockWith(ctx, "not-the-passphrase-9c1f"); err == nil || !strings.Contains(err.Error(), "wrong keyring passphrase") {
		t.Fatalf("unlock with a wrong passphrase: %v", err)
	}
	if st, _ := e.client().Status(ctx); !st.KeyringLocked {
		t.Fatal("a wrong passphrase unlocked the keyring")
	}

	// 4. The right one serves every use of base's key.
	if _, err := e.client().UnlockWith(ctx, keyringPass); err != nil {
		t.Fatal(err)
	}
	checkKeyringServed(t, e)

	// 5. Lock drops the keys and the passphrase: clients get the locked
	// answer, and a plain unlock serves only the file's profiles.
	if _, err := e.client().Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if g := e.d.gen.Load(); len(g.brokers) != 0 || len(g.keyringKeys) != 0 || e.d.keyring.get() != "" {
		t.Fatal("lock left keys, brokers or the passphrase in memory")
	}
	if code, body := e.get(e.ecsURL+"/role/base", map[string]string{"Authorization": e.token}); code != http.StatusServiceUnavailable || !strings.Contains(body, "locked") {
		t.Fatalf("ECS base while locked: %d %q", code, body)
	}
	if _, err := e.client().Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ecsCreds(ctx, "/role/other"); err != nil {
		t.Fatalf("other after unlock: %v", err)
	}
	if code, body := e.get(e.ecsURL+"/role/base", map[string]string{"Authorization": e.token}); code != http.StatusServiceUnavailable || !strings.Contains(body, "imdsd unlock") {
		t.Fatalf("ECS base after unlock without the passphrase: %d %q", code, body)
	}
	if _, err := e.client().UnlockWith(ctx, keyringPass); err != nil {
		t.Fatal(err)
	}
	checkKeyringServed(t, e)

	// 6. Without the key, profiles that need it are invalid, as with keys
	// deleted from the credentials file: the reload says which, and the
	// last good config keeps serving.
	must(t, keyops.Remove(o, "base"))
	if list, err := keyops.List(o); err != nil || len(list) != 0 {
		t.Fatalf("keys list after remove = %+v, %v", list, err)
	}
	if err := e.d.Reload(ctx); err == nil || !strings.Contains(err.Error(), "source_profile") {
		t.Fatalf("reload without base's key: %v; want the source_profile error", err)
	}
	// Neither the passphrase nor the key's secret reached the log.
	for what, secret := range map[string]string{"the keyring passphrase": keyringPass, "base's secret key": baseKey, "the wrong passphrase": "not-the-passphrase-9c1f"} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log shows %s", what)
		}
	}
}

// checkKeyringServed: each profile rooted in base's keyring key is served
// with credentials STS issued from that key, never the key itself.
func checkKeyringServed(t *testing.T, e *testEnv) {
	t.Helper()
	ctx := context.Background()
	// dev: AssumeRole signed with the keyring's key.
	c, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatalf("dev from the keyring: %v", err)
	}
	if iss, _ := e.sts.Issued(c.AccessKeyID); iss.RoleArn != devRole || iss.SourceAccessKeyID != baseKeyID {
		t.Fatalf("dev served %+v; want the dev role assumed with %s", iss, baseKeyID)
	}
	if arn, err := e.callerARN(ctx, c); err != nil || !strings.Contains(arn, "assumed-role/dev/") {
		t.Fatalf("dev's credentials at STS: %q, %v", arn, err)
	}
	// base on its own: GetSessionToken, never the long-term key.
	b, err := e.ecsCreds(ctx, "/role/base")
	if err != nil {
		t.Fatalf("base from the keyring: %v", err)
	}
	if iss, _ := e.sts.Issued(b.AccessKeyID); b.AccessKeyID == baseKeyID || iss.RoleArn != "" || iss.SourceAccessKeyID != baseKeyID || b.SessionToken == "" {
		t.Fatalf("base served %s %+v; want a GetSessionToken session of %s", b.AccessKeyID, iss, baseKeyID)
	}
	// chain: chained -> dev -> base's keyring key.
	ch, err := e.ecsCreds(ctx, "/role/chain")
	if err != nil {
		t.Fatalf("chain from the keyring: %v", err)
	}
	iss, _ := e.sts.Issued(ch.AccessKeyID)
	hop, _ := e.sts.Issued(iss.SourceAccessKeyID)
	if iss.RoleArn != chainRole || hop.RoleArn != devRole || hop.SourceAccessKeyID != baseKeyID {
		t.Fatalf("chain served %+v from %+v; want chained assumed with dev assumed with %s", iss, hop, baseKeyID)
	}
	// admin: MFA session of the keyring's key, then the role.
	var a aws.Credentials
	waitFor(t, patience, func() bool {
		a, err = e.ecsCreds(ctx, "/role/admin")
		return err == nil
	}, "admin (MFA) was not served from the keyring")
	iss, _ = e.sts.Issued(a.AccessKeyID)
	sess, _ := e.sts.Issued(iss.SourceAccessKeyID)
	if iss.RoleArn != mfaRoleKR || !iss.MFA || !sess.MFA || sess.SourceAccessKeyID != baseKeyID {
		t.Fatalf("admin served %+v from %+v; want the admin role via an MFA session of %s", iss, sess, baseKeyID)
	}
	st, err := e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Profiles {
		if p.Name != "other" && (p.KeyringKeyID != baseKeyID || p.KeyringCreated.IsZero() || p.LastError != "") {
			t.Errorf("status of %s: key %q created %v, error %q", p.Name, p.KeyringKeyID, p.KeyringCreated, p.LastError)
		}
	}
	if st.KeyringLocked {
		t.Error("status says the keyring is locked while it serves")
	}
}

// A daemon whose user never stored a key does not open a desktop keyring
// (which might ask to unlock it) at every reload: the kwallet backend,
// absent here, would otherwise show up as a warning.
func TestUnusedKeyringIsNotOpened(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{keyringBackend: "kwallet"})
	ctx := context.Background()
	must(t, e.d.Reload(ctx))
	st, err := e.client().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range st.Warnings {
		if strings.Contains(w, "keyring") {
			t.Fatalf("the unused keyring was opened: %s", w)
		}
	}
	if _, err := e.ec2Creds(ctx); err != nil {
		t.Fatal(err)
	}
	// Once `imdsd keys` has noted keyring profiles, the daemon looks, and
	// says when the keyring cannot be opened.
	if _, err := config.WithKeyringOverlay(config.AWSFiles{}, filepath.Join(e.dir, "state"), []string{"base"}); err != nil {
		t.Fatal(err)
	}
	must(t, e.d.Reload(ctx))
	st, _ = e.client().Status(ctx)
	if !strings.Contains(strings.Join(st.Warnings, "\n"), `keyring backend "kwallet" cannot be opened here`) {
		t.Fatalf("warnings = %q; want the kwallet keyring named", st.Warnings)
	}
	if _, err := e.ec2Creds(ctx); err != nil {
		t.Fatalf("profiles with keys in the files stopped with the keyring unavailable: %v", err)
	}
	if !config.KeyringInUse(filepath.Join(e.dir, "state")) {
		t.Fatal("a keyring that could not be opened made the daemon forget it is in use")
	}
}

// `imdsd revoke` of a role whose source's key is in the keyring calls IAM
// with that key (the SDK's loader alone would try the overlay's marker).
func TestRevokeWithKeyringSource(t *testing.T) {
	e := revokeEnv(t, envOptions{}, "iam:PutRolePolicy")
	ctx := context.Background()
	s, err := keystore.Open(config.Keyring{Backend: "file", FileDir: filepath.Join(e.dir, "keyring")}, func(string) (string, error) { return keyringPass, nil })
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.Set("base", keystore.Keys{AccessKeyID: baseKeyID, SecretAccessKey: baseKey}))
	must(t, os.WriteFile(e.awsCreds, nil, 0o600))
	if _, err := e.client().UnlockWith(ctx, keyringPass); err != nil {
		t.Fatal(err)
	}
	old, err := e.ec2Creds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if iss, _ := e.sts.Issued(old.AccessKeyID); iss.SourceAccessKeyID != baseKeyID {
		t.Fatalf("dev served %+v, want it assumed with the keyring's %s", iss, baseKeyID)
	}
	res, err := e.client().Revoke(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.sts.RolePolicy(devRole, iamops.RevokePolicyName); !ok || res.AccessKeyID == old.AccessKeyID {
		t.Fatalf("revoke answered %+v; the role has the policy: %v", res, ok)
	}
	wantDenied(t, "credentials served before the revoke", e.keyInfo(ctx, old))
}

// `imdsd exec` of a profile whose key is in the keyring: its command gets
// credentials STS issued from the keyring's key, never the key itself.
func TestExecOfAKeyringProfile(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx := context.Background()
	s, err := keystore.Open(config.Keyring{Backend: "file", FileDir: filepath.Join(e.dir, "keyring")}, func(string) (string, error) { return keyringPass, nil })
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.Set("base", keystore.Keys{AccessKeyID: baseKeyID, SecretAccessKey: baseKey}))
	must(t, os.WriteFile(e.awsCreds, nil, 0o600)) // the key is only in the keyring now
	if _, err := e.client().UnlockWith(ctx, keyringPass); err != nil {
		t.Fatal(err)
	}
	sess, hold, err := e.client().Exec(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	p := endpointcreds.New(sess.URL, func(o *endpointcreds.Options) { o.AuthorizationToken = sess.Token; o.HTTPClient = e.hc })
	c, err := p.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID == baseKeyID || c.SessionToken == "" {
		t.Fatal("exec handed out the long-term key")
	}
	if iss, _ := e.sts.Issued(c.AccessKeyID); iss.SourceAccessKeyID != baseKeyID {
		t.Fatalf("exec credentials %+v, want a session of the keyring's %s", iss, baseKeyID)
	}
}

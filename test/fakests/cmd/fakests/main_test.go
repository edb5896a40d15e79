package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/imdsd/imdsd/test/fakests"
)

// Obviously fake fixtures.
const (
	aliceKey    = "AKIAALICEFAKEEXAMPLE"
	aliceSecret = "aliceFAKESECRETwJalrXUtnFEMIK7MDENGEXAMPLE"
	aliceArn    = "arn:aws:iam::111122223333:user/alice"
	bobKey      = "AKIABOBFAKEEXAMPLE01"
	bobSecret   = "bobFAKESECRETwJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLE"
	bobArn      = "arn:aws:iam::111122223333:user/bob"
)

// lockedBuffer is an io.Writer safe for the server's handler goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestParseUser(t *testing.T) {
	u, err := parseUser(aliceKey + ":" + aliceSecret + ":" + aliceArn)
	if err != nil || u.AccessKeyID != aliceKey || u.SecretAccessKey != aliceSecret || u.ARN != aliceArn {
		t.Fatalf("parseUser = %+v, %v", u, err)
	}
	for _, bad := range []string{"", aliceKey, aliceKey + ":" + aliceSecret, ":" + aliceSecret + ":" + aliceArn, aliceKey + ":" + aliceSecret + ":alice"} {
		if _, err := parseUser(bad); err == nil {
			t.Errorf("parseUser(%q) succeeded", bad)
		}
	}
}

func TestParseRole(t *testing.T) {
	r, err := parseRole("arn:aws:iam::111122223333:role/deploy,external_id=fake-ext,require_mfa,max_session=2h,trust=" + aliceArn + "|" + bobArn)
	if err != nil {
		t.Fatal(err)
	}
	if r.ARN != "arn:aws:iam::111122223333:role/deploy" || r.ExternalID != "fake-ext" || !r.RequireMFA ||
		time.Duration(r.MaxSessionDuration) != 2*time.Hour || len(r.TrustedPrincipals) != 2 || r.TrustedPrincipals[1] != bobArn {
		t.Errorf("parseRole = %+v", r)
	}
	for _, bad := range []string{"arn:aws:iam::1:role/x,bogus=1", "arn:aws:iam::1:role/x,max_session=forever"} {
		if _, err := parseRole(bad); err == nil {
			t.Errorf("parseRole(%q) succeeded", bad)
		}
	}
}

func TestParseFlagsErrors(t *testing.T) {
	dir := t.TempDir()
	badJSON := filepath.Join(dir, "users.json")
	if err := os.WriteFile(badJSON, []byte(`[{"access_key_id":"AKIAFAKE","secret":"typo"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-fault", "meltdown"},
		{"-mfa", "no-code"},
		{"-role", "arn:aws:iam::111122223333:user/not-a-role"},
		{"-users", badJSON},
		{"-users", filepath.Join(dir, "missing.json")},
		{"stray-arg"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
	cfg, err := parseFlags([]string{"-fault", "THROTTLE", "-fault-count", "2", "-mfa", "arn:aws:iam::111122223333:mfa/alice:123456"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.fault.Mode != fakests.FaultThrottle || cfg.fault.Count != 2 || !cfg.hasFault ||
		cfg.mfa[0] != [2]string{"arn:aws:iam::111122223333:mfa/alice", "123456"} {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestRunRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		err := run(context.Background(), []string{"-listen", addr}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "only loopback") {
			t.Errorf("-listen %s: err = %v", addr, err)
		}
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.json")
	rolesFile := filepath.Join(dir, "roles.json")
	urlFile := filepath.Join(dir, "url")
	portFile := filepath.Join(dir, "port")
	if err := os.WriteFile(usersFile, []byte(`[{"access_key_id":"`+bobKey+`","secret_access_key":"`+bobSecret+`","arn":"`+bobArn+`"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rolesFile, []byte(`[{"arn":"arn:aws:iam::111122223333:role/ci","trusted_principals":["`+bobArn+`"],"max_session_duration":7200}]`), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-listen", "127.0.0.1:0",
			"-user", aliceKey + ":" + aliceSecret + ":" + aliceArn,
			"-users", usersFile,
			"-role", "arn:aws:iam::111122223333:role/deploy,external_id=fake-ext,trust=" + aliceArn,
			"-roles", rolesFile,
			"-lifetime", "0",
			"-url-file", urlFile,
			"-port-file", portFile,
		}, outW, stderr)
		outW.Close()
	}()

	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("reading URL line: %v (stderr: %s)", err, stderr.String())
	}
	base := strings.TrimSpace(line)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("first stdout line = %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	if b, _ := os.ReadFile(urlFile); strings.TrimSpace(string(b)) != base {
		t.Errorf("url-file = %q, want %q", b, base)
	}
	if b, _ := os.ReadFile(portFile); !strings.HasSuffix(base, ":"+strings.TrimSpace(string(b))) {
		t.Errorf("port-file = %q for %s", b, base)
	}

	client := func(key, secret string) *sts.Client {
		return sts.New(sts.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(base), Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		})
	}
	callCtx, callCancel := context.WithTimeout(ctx, 20*time.Second)
	defer callCancel()

	_, err = client(aliceKey, aliceSecret).AssumeRole(callCtx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::111122223333:role/deploy"), RoleSessionName: aws.String("e2e"),
	})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
		t.Errorf("AssumeRole without external id: %v", err)
	}
	out, err := client(aliceKey, aliceSecret).AssumeRole(callCtx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::111122223333:role/deploy"), RoleSessionName: aws.String("e2e"),
		ExternalId: aws.String("fake-ext"),
	})
	if err != nil {
		t.Fatalf("AssumeRole via -role: %v", err)
	}
	if _, err := client(bobKey, bobSecret).AssumeRole(callCtx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::111122223333:role/ci"), RoleSessionName: aws.String("e2e"),
		DurationSeconds: aws.Int32(7200),
	}); err != nil {
		t.Fatalf("AssumeRole via -roles file: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop after cancel")
	}

	logs := stderr.String()
	if !strings.Contains(logs, aliceKey) || !strings.Contains(logs, `action="AssumeRole"`) {
		t.Errorf("stderr should log calls by access key id:\n%s", logs)
	}
	for _, secret := range []string{aliceSecret, bobSecret, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)} {
		if strings.Contains(logs, secret) {
			t.Fatalf("stderr leaks a secret:\n%s", logs)
		}
	}
}

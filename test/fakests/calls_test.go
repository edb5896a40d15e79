package fakests

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestConcurrentAssumeRole(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{TrustedPrincipals: []string{aliceArn}})
	alice := newClient(u, aliceKey, aliceSecret, "")
	ctx := testCtx(t)

	const n = 100
	var wg sync.WaitGroup
	keys := make([]string, n)
	errs := make([]error, n)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // concurrent readers exercise the accessors under -race
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = s.Calls()
				_ = s.CallCount("AssumeRole")
				s.SetFault(Fault{})
			}
		}
	}()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := assume(ctx, alice, deployRole, fmt.Sprintf("worker-%d", i))
			if err != nil {
				errs[i] = err
				return
			}
			keys[i] = aws.ToString(out.Credentials.AccessKeyId)
			_, errs[i] = credClient(u, out.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()

	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if seen[keys[i]] {
			t.Fatalf("duplicate access key %s", keys[i])
		}
		seen[keys[i]] = true
		iss, ok := s.Issued(keys[i])
		if !ok || iss.SessionName != fmt.Sprintf("worker-%d", i) {
			t.Fatalf("Issued(%s) = %+v, %v", keys[i], iss, ok)
		}
	}
	if got := s.CallCount("AssumeRole"); got != n {
		t.Errorf("CallCount(AssumeRole) = %d, want %d", got, n)
	}
	if got := s.CallCount(""); got != 2*n {
		t.Errorf("CallCount() = %d, want %d", got, 2*n)
	}
}

func TestCallsRecorded(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	ctx := testCtx(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	t0 := time.Now()

	if _, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	_, _ = assume(ctx, newClient(u, aliceKey, "badFAKESECRETwJalrXUtnFEMIK7MDENGEXAMPLE", ""), deployRole, "rejected")
	if _, err := assume(ctx, alice, deployRole, "accepted", withDuration(900)); err != nil {
		t.Fatal(err)
	}

	calls := s.Calls()
	if len(calls) != 3 {
		t.Fatalf("got %d calls, want 3", len(calls))
	}
	want := []struct {
		action, caller, session string
		status                  int
	}{
		{"GetCallerIdentity", aliceArn, "", 200},
		{"AssumeRole", "", "rejected", 403},
		{"AssumeRole", aliceArn, "accepted", 200},
	}
	for i, w := range want {
		c := calls[i]
		if c.Action != w.action || c.Caller != w.caller || c.Status != w.status || c.AccessKeyID != aliceKey ||
			c.Params.Get("RoleSessionName") != w.session || c.Params.Get("Version") != "2011-06-15" {
			t.Errorf("call %d = %+v, want %+v", i, c, w)
		}
		if c.Time.Before(t0) || (i > 0 && c.Time.Before(calls[i-1].Time)) {
			t.Errorf("call %d time %v out of order", i, c.Time)
		}
	}
	if calls[2].Params.Get("RoleArn") != deployRole || calls[2].Params.Get("DurationSeconds") != "900" {
		t.Errorf("params = %v", calls[2].Params)
	}
	// Calls returns copies.
	calls[0].Params.Set("Action", "Mutated")
	if s.Calls()[0].Params.Get("Action") != "GetCallerIdentity" {
		t.Error("Calls exposes internal state")
	}
	if s.CallCount("") != 3 || s.CallCount("AssumeRole") != 2 || s.CallCount("GetSessionToken") != 0 {
		t.Errorf("CallCount = %d/%d/%d", s.CallCount(""), s.CallCount("AssumeRole"), s.CallCount("GetSessionToken"))
	}
}

func TestLogsOmitSecrets(t *testing.T) {
	s, u := startFake(t)
	s.AddRole(deployRole, RoleOptions{})
	var mu sync.Mutex
	var logs strings.Builder
	s.SetLogf(func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&logs, format+"\n", args...)
	})
	ctx := testCtx(t)
	out, err := assume(ctx, newClient(u, aliceKey, aliceSecret, ""), deployRole, "sess")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := credClient(u, out.Credentials).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	s.SetLogf(nil)
	mu.Lock()
	got := logs.String()
	mu.Unlock()
	if !strings.Contains(got, aliceKey) || !strings.Contains(got, aws.ToString(out.Credentials.AccessKeyId)) {
		t.Errorf("logs should name access key ids:\n%s", got)
	}
	for _, secret := range []string{aliceSecret, aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)} {
		if strings.Contains(got, secret) {
			t.Fatalf("logs leak a secret:\n%s", got)
		}
	}
}

func TestStartOnRejectsNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0"} {
		if _, err := New().StartOn(addr); err == nil {
			t.Errorf("StartOn(%q) succeeded", addr)
		}
	}
	s := New()
	u, err := s.StartOn("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("localhost URL = %q", u)
	}
	if _, err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
}

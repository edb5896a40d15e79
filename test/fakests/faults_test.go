package fakests

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func TestFaultModes(t *testing.T) {
	cases := []struct {
		mode   FaultMode
		code   string
		status int
	}{
		{Fault500, "InternalFailure", 500},
		{FaultThrottle, "Throttling", 400},
		{FaultAccessDenied, "AccessDenied", 403},
		{FaultExpiredToken, "ExpiredToken", 403},
		{FaultInvalidToken, "InvalidClientTokenId", 403},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String(), func(t *testing.T) {
			s, u := startFake(t)
			alice := newClient(u, aliceKey, aliceSecret, "")
			s.SetFault(Fault{Mode: tc.mode})
			for range 3 {
				_, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{})
				wantAPIError(t, err, tc.code, tc.status)
			}
			if lc := lastCall(t, s); lc.Status != tc.status || lc.Caller != "" || lc.Action != "GetCallerIdentity" {
				t.Errorf("faulted call = %+v", lc)
			}
			s.SetFault(Fault{})
			if _, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{}); err != nil {
				t.Fatalf("after clearing fault: %v", err)
			}
		})
	}
}

func TestFaultCount(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	ctx := testCtx(t)
	s.SetFault(Fault{Mode: Fault500, Count: 2})
	for i := range 2 {
		_, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err == nil {
			t.Fatalf("call %d: fault not applied", i+1)
		}
		wantAPIError(t, err, "InternalFailure", 500)
	}
	for i := range 2 {
		if _, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("call %d after Count exhausted: %v", i+3, err)
		}
	}
	if n := s.CallCount("GetCallerIdentity"); n != 4 {
		t.Errorf("CallCount = %d, want 4", n)
	}

	// The SDK's standard retryer rides out a short outage.
	s.SetFault(Fault{Mode: FaultThrottle, Count: 2})
	retrying := newClient(u, aliceKey, aliceSecret, "", func(o *sts.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	})
	if _, err := retrying.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("retrying client: %v", err)
	}
	if n := s.CallCount(""); n != 7 {
		t.Errorf("CallCount after retries = %d, want 7", n)
	}
}

func TestFaultHang(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	s.SetFault(Fault{Mode: FaultHang, Count: 1})

	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: err = %v, want context deadline exceeded", err)
	}
	if elapsed < 300*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("hang returned after %v", elapsed)
	}
	// No response was ever written for the hung call.
	if c := s.Calls()[0]; c.Status != 0 || c.Action != "GetCallerIdentity" {
		t.Errorf("hung call = %+v", c)
	}
	if _, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("after Count=1 hang: %v", err)
	}
}

func TestCloseReleasesHang(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	s.SetFault(Fault{Mode: FaultHang})
	done := make(chan error, 1)
	go func() {
		_, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{})
		done <- err
	}()
	for s.CallCount("") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("hung call succeeded after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a hanging call")
	}
}

func TestFaultDown(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	s.SetFault(Fault{Mode: FaultDown, Count: 1})
	_, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{})
	if err == nil {
		t.Fatal("down: call succeeded")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		t.Fatalf("down: got an API response (%v), want a transport error", err)
	}
	if c := lastCall(t, s); c.Status != 0 {
		t.Errorf("down call status = %d, want 0", c.Status)
	}
	if _, err := alice.GetCallerIdentity(testCtx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("after Count=1 down: %v", err)
	}
}

func TestFaultDelay(t *testing.T) {
	s, u := startFake(t)
	alice := newClient(u, aliceKey, aliceSecret, "")
	ctx := testCtx(t)
	s.SetFault(Fault{Delay: 300 * time.Millisecond, Count: 1})

	start := time.Now()
	if _, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("slow call: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("slow call took %v, want >= 300ms", d)
	}
	start = time.Now()
	if _, err := alice.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 300*time.Millisecond {
		t.Errorf("call after Count exhausted took %v", d)
	}

	// Delay combines with a mode, and a client deadline cuts it short.
	s.SetFault(Fault{Mode: Fault500, Delay: 2 * time.Second})
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err := alice.GetCallerIdentity(tctx, &sts.GetCallerIdentityInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed 500 under short deadline: %v", err)
	}
}

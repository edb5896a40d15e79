package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"strings"
	"time"

	"github.com/imdsd/imdsd/imds"
)

// demoAccount is the account id of demo credentials; it is not a real
// account (the same one LocalStack and moto use by default).
const demoAccount = "000000000000"

// NewDemo is a broker of generated dummy credentials for profile.
func NewDemo(profile string, bo Options, log *slog.Logger) *Broker {
	return New(profile, demoFetch(profile), bo, log)
}

// demoFetch makes dummy credentials locally: the wiring can be tried with
// no AWS account, and local emulators accept them.
func demoFetch(profile string) Fetch {
	return func(ctx context.Context) (imds.Credentials, error) {
		now := time.Now()
		return imds.Credentials{
			AccessKeyID:     "ASIADEMO" + randAlnum(12),
			SecretAccessKey: "demo" + randAlnum(36),
			SessionToken:    "demo-session-token-" + base64.RawURLEncoding.EncodeToString(randBytes(96)),
			Expires:         now.Add(time.Hour),
			LastUpdated:     now,
			AccountID:       demoAccount,
			RoleArn:         "arn:aws:iam::" + demoAccount + ":role/imdsd-demo-" + profile,
		}, nil
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	return b
}

func randAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var sb strings.Builder
	for _, c := range randBytes(n) {
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}

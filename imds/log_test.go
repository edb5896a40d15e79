package imds

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Request logs are debug only and never carry secrets or bearer tokens.
func TestLogsNoSecrets(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		var buf bytes.Buffer
		o := Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))}
		c := testCreds()
		e := NewEC2(staticSource(c, "dev"), ec2Settings(), o)
		e.now = newClock().Now
		ecs := NewECS(staticSource(c, "dev"), ecsSettings(), o)
		ecs.now = e.now
		tok := token(t, e, "300")
		serve(e, req("GET", credsPath+"/dev", map[string]string{tokenHeader: tok}))
		serve(e, req("GET", credsExtPath+"/dev", map[string]string{tokenHeader: tok}))
		serve(e, req("GET", credsPath+"/dev", map[string]string{tokenHeader: tok + "x"}))
		serve(ecs, ecsReq("GET", "/creds", ecsToken))
		serve(ecs, ecsReq("GET", "/creds", ecsToken+"x"))
		out := buf.String()
		if level == slog.LevelInfo {
			if out != "" {
				t.Errorf("info level logged requests:\n%s", out)
			}
			continue
		}
		if !strings.Contains(out, "imds credentials served") || !strings.Contains(out, "ecs credentials served") {
			t.Errorf("debug log lacks the vends:\n%s", out)
		}
		for _, secret := range []string{c.SecretAccessKey, "FwoGZXIvYXdzE", tok, ecsToken} {
			if strings.Contains(out, secret) {
				t.Errorf("log contains %q:\n%s", secret, out)
			}
		}
	}
}

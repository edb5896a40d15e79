package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The overlay lets the SDK's loader resolve a chain rooted in a keyring
// profile, and records the chain for the broker; it is private and holds
// no secret.
func TestKeyringOverlayResolvesChains(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("[profile base]\nregion = eu-west-1\n\n[profile dev]\nrole_arn = arn:aws:iam::111122223333:role/dev\nsource_profile = base\nexternal_id = x1\nduration_seconds = 1800\n\n"+
		"[profile chain]\nrole_arn = arn:aws:iam::111122223333:role/chained\nsource_profile = dev\n"), 0o600)
	files := AWSFiles{Config: []string{cfg}, Credentials: []string{filepath.Join(dir, "credentials")}}
	ctx := context.Background()
	if _, err := ResolveProfile(ctx, files, "chain"); err == nil || !strings.Contains(err.Error(), "source_profile") {
		t.Fatalf("without the overlay: %v; want the source_profile error", err)
	}
	state := filepath.Join(dir, "state")
	with, err := WithKeyringOverlay(files, state, []string{"base"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ResolveProfile(ctx, with, "chain")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindAssumeRole || p.Keyring != "base" || len(p.Hops) != 2 || p.Hops[0].Profile != "chain" || p.Hops[1].RoleARN != "arn:aws:iam::111122223333:role/dev" ||
		p.Hops[1].ExternalID != "x1" || p.Hops[1].Duration != 30*time.Minute {
		t.Fatalf("chain resolved as %+v", p)
	}
	if b, err := ResolveProfile(ctx, with, "base"); err != nil || b.Kind != KindSessionToken || b.Keyring != "base" || b.Region != "eu-west-1" {
		t.Fatalf("base resolved as %+v, %v", b, err)
	}
	fi, err := os.Stat(with.Config[1])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("overlay: %v %v, want mode 0600", fi, err)
	}
	if di, _ := os.Stat(state); di.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v, want 0700", di.Mode().Perm())
	}
	if !KeyringInUse(state) {
		t.Fatal("KeyringInUse is false with an overlay")
	}
	// No keyring profiles: no overlay, and the files as they were.
	if again, err := WithKeyringOverlay(files, state, nil); err != nil || len(again.Config) != 1 || KeyringInUse(state) {
		t.Fatalf("without keyring profiles: %+v %v", again, err)
	}
}

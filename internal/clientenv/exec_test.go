package clientenv

import (
	"slices"
	"strings"
	"testing"
)

func TestExecEnvLeavesOnlyTheEndpoint(t *testing.T) {
	t.Parallel()
	in := []string{
		"PATH=/usr/bin", "HOME=/home/a", "AWS_ACCESS_KEY_ID=AKIAOLD", "AWS_SECRET_ACCESS_KEY=old",
		"AWS_PROFILE=prod", "AWS_REGION=us-west-2", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/x",
		"no_proxy=example.com", "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9911/",
	}
	got := ExecEnv(in, "dev", "http://127.0.0.1:9912/role/dev", "tok", "eu-west-1")
	want := []string{
		"PATH=/usr/bin", "HOME=/home/a", "no_proxy=example.com,127.0.0.1",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9912/role/dev", "AWS_CONTAINER_AUTHORIZATION_TOKEN=tok",
		"IMDSD_PROFILE=dev", "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1", "NO_PROXY=127.0.0.1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("env:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(in[:2], []string{"PATH=/usr/bin", "HOME=/home/a"}) || len(in) != 9 {
		t.Fatal("ExecEnv changed its input")
	}
}

//go:build unix

package service

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestMkdirOwned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	base := t.TempDir()
	acct := &awsAccount{name: "nobody", uid: 65534, gid: 65534}
	dir := filepath.Join(base, "home", ".config", "imdsd")
	if err := mkdirOwned(dir, acct); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "home"), filepath.Join(base, "home", ".config"), dir} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %o", d, fi.Mode().Perm())
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s: owner %d:%d, want 65534:65534", d, st.Uid, st.Gid)
		}
	}
	// An existing directory keeps its owner.
	fi, _ := os.Stat(base)
	if err := mkdirOwned(base, acct); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(base); fi2.Mode() != fi.Mode() {
		t.Error("existing directory changed")
	}
}

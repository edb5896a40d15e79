package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/imdsd/imdsd/"

// layers says which of imdsd's own packages each package may import: the
// layering is a test, not a convention. cmd -> daemon -> the rest; imds
// and config import none of imdsd's packages; the control client the CLI
// uses never pulls in the daemon.
var layers = map[string][]string{
	"cmd/imdsd":                  {"config", "daemon", "internal/clientenv", "internal/control", "internal/keyops", "internal/relay", "internal/service", "internal/ssologin", "internal/ssosession"},
	"daemon":                     {"config", "imds", "internal/audit", "internal/broker", "internal/control", "internal/hostnet", "internal/iamops", "internal/keyrotate", "internal/keystore", "internal/ssosession"},
	"imds":                       {},
	"config":                     {},
	"internal/broker":            {"config", "imds"},
	"internal/audit":             {"imds"},
	"internal/control":           {"config", "imds", "internal/audit"},
	"internal/hostnet":           {},
	"internal/service":           {"config", "internal/hostnet"},
	"internal/relay":             {"config", "imds"},
	"internal/clientenv":         {"config"},
	"internal/iamops":            {},
	"internal/ssologin":          {"config"},
	"internal/keystore":          {"config", "internal/keystore/busguard"},
	"internal/keystore/busguard": {},
	"internal/keyops":            {"config", "internal/broker", "internal/keyrotate", "internal/keystore"},
	"internal/keyrotate":         {"internal/broker", "internal/iamops", "internal/keystore"},
	"internal/ssosession":        {"config", "internal/ssologin"},
}

// stsUser is the one package of the program that may call STS, iamUser
// the one that may call IAM.
const (
	stsUser = "internal/broker"
	iamUser = "internal/iamops"
	// keyringUser is the one package that opens the OS keyring.
	keyringUser = "internal/keystore"
)

type listed struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Doc        string
}

func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportLayering(t *testing.T) {
	pkgs := goList(t, "./cmd/...", "./daemon/...", "./imds/...", "./config/...", "./internal/...")
	seen := map[string]bool{}
	for _, p := range pkgs {
		name := strings.TrimPrefix(p.ImportPath, module)
		seen[name] = true
		allowed, ok := layers[name]
		if !ok {
			t.Errorf("package %s has no entry in layers: say what it may import", name)
			continue
		}
		if p.Doc == "" {
			t.Errorf("package %s has no package doc comment saying its job", name)
		}
		for _, imp := range p.Imports {
			if own, ok := strings.CutPrefix(imp, module); ok && !slices.Contains(allowed, own) {
				t.Errorf("%s imports %s, which the layering does not allow", name, own)
			}
			if imp == "github.com/aws/aws-sdk-go-v2/service/sts" && name != stsUser {
				t.Errorf("%s imports service/sts: only %s calls STS", name, stsUser)
			}
			if imp == "github.com/aws/aws-sdk-go-v2/service/iam" && name != iamUser {
				t.Errorf("%s imports service/iam: only %s calls IAM", name, iamUser)
			}
			if strings.HasPrefix(imp, "github.com/99designs/keyring") && name != keyringUser {
				t.Errorf("%s imports %s: only %s opens the keyring", name, imp, keyringUser)
			}
		}
	}
	for name := range layers {
		if !seen[name] {
			t.Errorf("layers names %s, which no longer exists", name)
		}
	}
}

// The binary is built from the program's packages only: no test fakes, and
// the CLI's wiring stays free of SDK and HTTP logic of its own.
func TestBinaryDependencies(t *testing.T) {
	p := goList(t, "./cmd/imdsd")[0]
	for _, dep := range p.Deps {
		if strings.HasPrefix(dep, module+"test/") || strings.HasPrefix(dep, module+"bench") {
			t.Errorf("the imdsd binary depends on %s", dep)
		}
	}
	for _, imp := range p.Imports {
		if strings.HasPrefix(imp, "github.com/aws/") {
			t.Errorf("cmd/imdsd imports %s directly: SDK use belongs in a package with that job", imp)
		}
	}
}

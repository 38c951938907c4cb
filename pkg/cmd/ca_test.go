package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

func TestCAInitWritesARootAndNeverItsKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	r := run(t, Backend{}, "ca", "init", "--out-dir", dir, "-o", "json")
	r.expect(t, ExitOK, "")
	var res CAInitResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	certPEM, _ := os.ReadFile(filepath.Join(dir, RootCertFile))
	keyPEM, _ := os.ReadFile(filepath.Join(dir, RootKeyFile))
	certs, err := pki.ParseCertificates(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	root := certs[0]
	if !key.Matches(root) || !pki.SelfSigned(root) || !root.IsCA {
		t.Error("want a self-signed CA matching its key")
	}
	if res.Fingerprint != fullFingerprint(root) || res.Subject != "CN=meshfed root CA,O=meshfed" || res.Key != "ECDSA P-384" {
		t.Errorf("result %+v", res)
	}
	for name, want := range map[string]os.FileMode{RootCertFile: 0o644, RootKeyFile: 0o600, "": 0o700} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", name, st.Mode().Perm(), err, want)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Error("the key was printed")
	}

	// Never overwrite; the existing files stay as they were.
	again := run(t, Backend{}, "ca", "init", "--out-dir", dir)
	again.expect(t, ExitFailed, "never overwrites")
	if now, _ := os.ReadFile(filepath.Join(dir, RootKeyFile)); string(now) != string(keyPEM) {
		t.Error("the key file changed")
	}
}

func TestCAInitFlags(t *testing.T) {
	dir := t.TempDir()
	r := run(t, Backend{}, "ca", "init", "--out-dir", dir, "--subject-cn", "corp mesh root", "--subject-org", "corp", "--days", "30", "--key-algorithm", "rsa-3072")
	r.expect(t, ExitOK, "")
	for _, want := range []string{`"CN=corp mesh root,O=corp"`, "RSA 3072", "as doctor shows it", "fix --root-cert " + filepath.Join(dir, RootCertFile)} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	certPEM, _ := os.ReadFile(filepath.Join(dir, RootCertFile))
	certs, _ := pki.ParseCertificates(certPEM)
	if d := certs[0].NotAfter.Sub(certs[0].NotBefore).Hours() / 24; d < 30 || d > 30.01 {
		t.Errorf("valid %.2f days, want 30", d)
	}
	run(t, Backend{}, "ca", "init").expect(t, ExitFailed, "--out-dir is required")
	run(t, Backend{}, "ca", "init", "--out-dir", t.TempDir(), "--key-algorithm", "dsa").expect(t, ExitFailed, "unknown key algorithm")
	run(t, Backend{}, "ca", "init", "--out-dir", t.TempDir(), "--days", "0").expect(t, ExitFailed, "--days")
}

package fix

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// TestFixTrust repairs each trust fault lab as a user would: doctor finds
// trust errors; `ca init` makes a new root; fix refuses to move the clusters
// to it without --allow-root-change and changes nothing; with it, --apply
// writes every primary's cacerts; the user restarts the istiods as the plan
// says; then doctor finds no trust error, every pair of clusters trusts each
// other, and fix has nothing left to do. No private key is ever printed, and
// the keys kept with --intermediate-key-dir are 0600.
func TestFixTrust(t *testing.T) {
	for _, scenario := range []string{"different-roots", "self-signed", "expired-intermediate", "chain-not-to-root"} {
		t.Run(scenario, func(t *testing.T) {
			l := labtest.Start(t, scenario, 2)
			ctxs := strings.Join(l.Contexts(), ",")
			var outputs []string
			run := func(args ...string) (string, int) {
				t.Helper()
				out, stderr, code := labtest.Run(t, l, append(args, "--contexts", ctxs)...)
				outputs = append(outputs, out, stderr)
				if strings.Contains(out+stderr, "PRIVATE KEY") {
					t.Fatalf("%v printed a private key", args)
				}
				return out + stderr, code
			}
			runPlain := func(args ...string) (string, int) {
				t.Helper()
				out, stderr, code := labtest.Run(t, l, args...)
				outputs = append(outputs, out, stderr)
				return out + stderr, code
			}

			if errs := labtest.TrustErrors(t, l); len(errs) == 0 {
				t.Fatal("doctor finds no trust error on a trust fault lab")
			}

			dir := t.TempDir()
			rootDir := filepath.Join(dir, "root")
			if out, code := runPlain("ca", "init", "--out-dir", rootDir); code != 0 {
				t.Fatalf("ca init: exit %d\n%s", code, out)
			}
			rootFlags := []string{"--root-cert", filepath.Join(rootDir, "root-cert.pem"), "--root-key", filepath.Join(rootDir, "root-key.pem")}

			// Without --allow-root-change: refused, with the migration
			// explained, and nothing changes, --apply or not.
			before := cacertsVersions(t, l)
			out, code := run(append([]string{"fix"}, rootFlags...)...)
			if code != 0 || !strings.Contains(out, "# nothing to do") || strings.Count(out, "# NOT FIXED") != len(l.Primaries()) ||
				!strings.Contains(out, "--allow-root-change") || !strings.Contains(out, "multi-root migration") {
				t.Fatalf("fix without --allow-root-change: exit %d, want 0 with a refusal per primary\n%s", code, out)
			}
			if out, code := run(append([]string{"fix", "--apply"}, rootFlags...)...); code != 0 || !strings.Contains(out, "# NOT FIXED") {
				t.Fatalf("fix --apply without --allow-root-change: exit %d\n%s", code, out)
			}
			if after := cacertsVersions(t, l); !equalMaps(before, after) {
				t.Fatalf("a refused fix changed cacerts: %v → %v", before, after)
			}

			// A server-side dry run validates the new cacerts and leaves
			// nothing behind: no change, no key file.
			keyDir := filepath.Join(dir, "intermediate-keys")
			if out, code := run(append([]string{"fix", "--dry-run=server", "--allow-root-change", "--intermediate-key-dir", keyDir}, rootFlags...)...); code != 0 {
				t.Fatalf("fix --dry-run=server: exit %d\n%s", code, out)
			}
			if entries, _ := os.ReadDir(keyDir); len(entries) > 0 || !equalMaps(before, cacertsVersions(t, l)) {
				t.Fatalf("a server-side dry run wrote %d key files or changed cacerts", len(entries))
			}

			// With it: every primary's cacerts are written.
			out, code = run(append([]string{"fix", "--apply", "--allow-root-change", "--intermediate-key-dir", keyDir}, rootFlags...)...)
			if code != 0 {
				t.Fatalf("fix --apply --allow-root-change: exit %d\n%s", code, out)
			}
			after := cacertsVersions(t, l)
			for _, c := range l.Primaries() {
				if after[c] == "" || after[c] == before[c] {
					t.Errorf("%s: cacerts not written (resourceVersion %q → %q)\n%s", c, before[c], after[c], out)
				}
			}
			checkKeyDir(t, l, keyDir)

			// The user follows the note: restart each istiod.
			for _, c := range l.Primaries() {
				if err := l.RestartIstiod(context.Background(), c); err != nil {
					t.Fatalf("restarting istiod in %s: %v", c, err)
				}
			}
			if errs := labtest.TrustErrors(t, l); len(errs) > 0 {
				t.Fatalf("trust errors after the fix and the restarts: %v", errs)
			}

			// Nothing left to do, and --apply changes nothing.
			if out, code := run(append([]string{"fix"}, rootFlags...)...); code != 0 || !strings.Contains(out, "# nothing to do") || strings.Contains(out, "NOT FIXED") {
				t.Errorf("fix after the repair: exit %d\n%s", code, out)
			}
			if out, code := run(append([]string{"fix", "--apply", "--allow-root-change"}, rootFlags...)...); code != 0 || !equalMaps(after, cacertsVersions(t, l)) {
				t.Errorf("fix --apply after the repair changed cacerts (exit %d)\n%s", code, out)
			}

			for _, o := range outputs {
				if strings.Contains(o, "PRIVATE KEY") {
					t.Error("a private key was printed")
				}
			}
		})
	}
}

// cacertsVersions is the resourceVersion of every primary's cacerts ("" when
// it has none).
func cacertsVersions(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range l.Primaries() {
		s, err := l.Client(c).CoreV1().Secrets("istio-system").Get(context.Background(), "cacerts", metav1.GetOptions{})
		if err == nil {
			out[c] = s.ResourceVersion
		} else {
			out[c] = ""
		}
	}
	return out
}

// checkKeyDir: one key (0600) per primary, each the key of the
// intermediate now in that cluster's cacerts.
func checkKeyDir(t *testing.T, l *lab.Lab, dir string) {
	t.Helper()
	for _, c := range l.Primaries() {
		s, err := l.Client(c).CoreV1().Secrets("istio-system").Get(context.Background(), "cacerts", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		certs, err := pki.ParseCertificates(s.Data["ca-cert.pem"])
		if err != nil {
			t.Fatalf("%s: ca-cert.pem: %v", c, err)
		}
		name := filepath.Join(dir, c+"-"+strings.NewReplacer("sha256 ", "", ":", "").Replace(pki.Fingerprint(certs[0].Raw))+"-ca-key.pem")
		st, err := os.Stat(name)
		if err != nil {
			t.Fatalf("%s: the kept key: %v", c, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, st.Mode().Perm())
		}
		b, _ := os.ReadFile(name)
		if key, err := pki.ParsePrivateKey(b); err != nil || !key.Matches(certs[0]) || string(b) != string(s.Data["ca-key.pem"]) {
			t.Errorf("%s: the kept key is not the key in cacerts (%v)", c, err)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

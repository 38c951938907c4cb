package cmd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real backend against clusters that cannot answer: one refuses, one
// accepts and never says a word. doctor must report both, exit 3 (nothing
// reachable) within --timeout plus a second, and never print the token.
func TestDefaultBackendUnreachable(t *testing.T) {
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold the connection open, say nothing
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	const token = "tok-3f9a-never-print-me"
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: refused
  cluster: {server: "https://%s", insecure-skip-tls-verify: true}
- name: hang
  cluster: {server: "https://%s", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: %q}
contexts:
- name: refused
  context: {cluster: refused, user: admin}
- name: hang
  context: {cluster: hang, user: admin}
current-context: refused
`, refusedAddr, hang.Addr(), token)), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, output := range []string{"text", "json"} {
		start := time.Now()
		r := run(t, DefaultBackend(), "--kubeconfig", kubeconfig, "doctor", "--all-contexts", "--timeout", "1s", "-o", output)
		elapsed := time.Since(start)
		r.expect(t, ExitFailed, "no cluster could be reached")
		if elapsed > 2*time.Second {
			t.Errorf("-o %s took %s, want within --timeout + 1s", output, elapsed)
		}
		for _, name := range []string{"refused", "hang"} {
			if !strings.Contains(r.stdout, name) {
				t.Errorf("-o %s: the report does not name context %s:\n%s", output, name, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "MF0001") {
			t.Errorf("-o %s: no MF0001 finding:\n%s", output, r.stdout)
		}
		if strings.Contains(r.stdout+r.stderr+r.err.Error(), token) {
			t.Errorf("-o %s: the kubeconfig token was printed", output)
		}
	}
}

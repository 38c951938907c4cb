package fleet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// kubeconfig writes a kubeconfig with one context per server.
func kubeconfig(t *testing.T, servers map[string]string) *genericclioptions.ConfigFlags {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for name, server := range servers {
		b.WriteString("- name: " + name + "\n  cluster:\n    server: " + server + "\n    insecure-skip-tls-verify: true\n")
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: test-token-never-shown\ncontexts:\n")
	for name := range servers {
		b.WriteString("- name: " + name + "\n  context:\n    cluster: " + name + "\n    user: u\n")
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &path
	return flags
}

// TestCollectBoundsDeadClusters: a refused and a hung server each end with a
// reason within the per-cluster timeout, and neither delays the other.
func TestCollectBoundsDeadClusters(t *testing.T) {
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	release := make(chan struct{})
	hung := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // accepts, handshakes, never answers
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)

	flags := kubeconfig(t, map[string]string{"refused": "https://" + refusedAddr, "hung": hung.URL})
	const timeout = 2 * time.Second
	start := time.Now()
	f := Collect(context.Background(), flags, []string{"refused", "hung", "missing"}, Options{Timeout: timeout})
	elapsed := time.Since(start)
	if elapsed > timeout+time.Second {
		t.Errorf("Collect took %s with a %s timeout", elapsed, timeout)
	}
	want := map[string]string{"refused": "connection refused", "hung": "no answer within 2s", "missing": "not in the kubeconfig"}
	for _, c := range f.Clusters {
		if c.Reachable {
			t.Errorf("%s: reachable", c.Context)
		}
		if !strings.Contains(c.Error, want[c.Context]) {
			t.Errorf("%s: error %q, want it to say %q", c.Context, c.Error, want[c.Context])
		}
		if strings.Contains(c.Error, "test-token-never-shown") {
			t.Errorf("%s: the error shows the token", c.Context)
		}
	}
}

func TestNormalizeServer(t *testing.T) {
	for in, want := range map[string]string{
		"https://API.example.com":       "api.example.com:443",
		"https://api.example.com:443/":  "api.example.com:443",
		"https://10.0.0.1:6443":         "10.0.0.1:6443",
		"https://10.0.0.1:6443/prefix/": "10.0.0.1:6443/prefix",
	} {
		if got := normalizeServer(in); got != want {
			t.Errorf("normalizeServer(%q) = %q, want %q", in, got, want)
		}
	}
}

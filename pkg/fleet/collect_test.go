package fleet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// kubeconfig writes a kubeconfig with one context per server.
func kubeconfig(t *testing.T, servers map[string]string) *kube.Flags {
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
	flags := kube.ForKubeconfig(path)
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

// TestCollectLatestSkipsTheWatchCache: by default every LIST asks for the
// watch cache (resourceVersion 0); a Latest read, which follows a write,
// asks for the newest state (no resourceVersion) in every LIST.
func TestCollectLatestSkipsTheWatchCache(t *testing.T) {
	var mu sync.Mutex
	var versions []string // resourceVersion of each LIST, "<unset>" without one
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("limit") { // eachPage's LISTs
			mu.Lock()
			v := "<unset>"
			if q.Has("resourceVersion") {
				v = q.Get("resourceVersion")
			}
			versions = append(versions, v)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/namespaces" {
			_, _ = w.Write([]byte(`{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[]}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	defer server.Close()
	flags := kubeconfig(t, map[string]string{"one": server.URL})

	for _, tc := range []struct {
		latest bool
		want   string
	}{{false, "0"}, {true, "<unset>"}} {
		mu.Lock()
		versions = nil
		mu.Unlock()
		f := Collect(context.Background(), flags, []string{"one"}, Options{Timeout: 5 * time.Second, Latest: tc.latest})
		if !f.Clusters[0].Reachable {
			t.Fatalf("latest=%v: not reachable: %s", tc.latest, f.Clusters[0].Error)
		}
		mu.Lock()
		got := append([]string(nil), versions...)
		mu.Unlock()
		// Every kind LISTs but the Istio APIs, read from discovery.
		if lists := len(model.AllKinds) - 1; len(got) < lists {
			t.Errorf("latest=%v: %d LISTs, want at least one per listed kind (%d)", tc.latest, len(got), lists)
		}
		for i, v := range got {
			if v != tc.want {
				t.Errorf("latest=%v: LIST %d asked for resourceVersion %s, want %s", tc.latest, i, v, tc.want)
			}
		}
	}
}

// TestCollectReturnsWhenAnExecPluginHangs: client-go runs a kubeconfig's
// exec credential plugin without a deadline; the read still ends by its
// deadline (plus the backstop's grace) and says the cluster did not answer.
func TestCollectReturnsWhenAnExecPluginHangs(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "hang.sh")
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\nexec sleep 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: "` + plugin + `", interactiveMode: Never}
contexts:
- name: hung-exec
  context: {cluster: c, user: u}
`
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := kube.ForKubeconfig(path)
	const timeout = time.Second
	start := time.Now()
	f := Collect(context.Background(), flags, []string{"hung-exec"}, Options{Timeout: timeout, Deadline: start.Add(timeout)})
	took := time.Since(start)
	if took > timeout+backstopGrace+300*time.Millisecond {
		t.Errorf("Collect took %s with a hung exec plugin, want about %s", took, timeout+backstopGrace)
	}
	c := f.Clusters[0]
	if c.Reachable || !strings.Contains(c.Error, "no answer within") {
		t.Errorf("cluster %+v: want unreachable, no answer within the deadline", c)
	}
}

// TestCollectDeadlineEndsLaterRounds: Options.Deadline ends a read that
// starts late (a later round of following the mesh) by the run's deadline,
// not by its own start + Timeout.
func TestCollectDeadlineEndsLaterRounds(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(release)
	flags := kubeconfig(t, map[string]string{"hung": hung.URL})
	start := time.Now()
	f := Collect(context.Background(), flags, []string{"hung"}, Options{Timeout: 10 * time.Second, Deadline: start.Add(time.Second)})
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("read took %s, want it ended by the 1s deadline", took)
	}
	if c := f.Clusters[0]; c.Reachable || !strings.Contains(c.Error, "no answer within 1s") {
		t.Errorf("cluster error %q, want no answer within 1s", c.Error)
	}
}

// TestEarlyViewBeforeTheLargeKinds: Options.Early gets a cluster's early
// kinds (here its Secrets) while its Services are still being read, once,
// and the view holds nothing of the kinds not yet read.
func TestEarlyViewBeforeTheLargeKinds(t *testing.T) {
	release := make(chan struct{})
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/namespaces":
			_, _ = w.Write([]byte(`{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[{"metadata":{"name":"istio-system"}}]}`))
		case "/api/v1/namespaces/istio-system/secrets":
			_, _ = w.Write([]byte(`{"kind":"SecretList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"namespace":"istio-system","name":"cacerts"}}]}`))
		case "/api/v1/secrets": // remote secrets elsewhere: none
			_, _ = w.Write([]byte(`{"kind":"SecretList","apiVersion":"v1","metadata":{},"items":[]}`))
		case "/api/v1/pods":
			_, _ = w.Write([]byte(`{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}`))
		case "/api/v1/services":
			select { // the large kind: answers only once the view has been seen
			case <-release:
				_, _ = w.Write([]byte(`{"kind":"ServiceList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"namespace":"default","name":"a"}}]}`))
			case <-r.Context().Done():
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
		}
	}))
	defer server.Close()
	flags := kubeconfig(t, map[string]string{"one": server.URL})
	var views []*model.Cluster
	var mu sync.Mutex
	f := Collect(context.Background(), flags, []string{"one"}, Options{Timeout: 10 * time.Second, Early: func(ctx context.Context, v *model.Cluster) {
		mu.Lock()
		defer mu.Unlock()
		views = append(views, v)
		if len(views) == 1 {
			close(release)
		}
	}})
	c := f.Clusters[0]
	if !c.Reachable || len(c.Services) != 1 {
		t.Fatalf("cluster: reachable %v, error %q, %d services (the Services were never released: no early view)", c.Reachable, c.Error, len(c.Services))
	}
	if len(views) != 1 {
		t.Fatalf("%d early views, want 1", len(views))
	}
	v := views[0]
	if v.Context != "one" || !v.Reachable || len(v.Secrets) != 1 || len(v.Namespaces) != 1 || len(v.Services) != 0 {
		t.Errorf("view: %s reachable %v, %d secrets, %d namespaces, %d services", v.Context, v.Reachable, len(v.Secrets), len(v.Namespaces), len(v.Services))
	}
	if ok, _ := v.Readable(model.KindSecrets, model.KindPods); !ok {
		t.Errorf("view: secrets or pods not readable: %v", v.Failures)
	}
	if ok, _ := v.Readable(model.KindDeployments); ok {
		t.Errorf("view: deployments (404 here) readable")
	}
}

package lab

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestOlderCRDs: the crd-version-skew scenario's west gets the pinned
// WorkloadEntry CRD cut down to an older release's versions, v1alpha3
// stored and v1beta1 served, with no v1; the other CRDs are untouched and
// the shared parsed CRDs are not changed.
func TestOlderCRDs(t *testing.T) {
	sc, err := LoadScenario("crd-version-skew")
	if err != nil {
		t.Fatal(err)
	}
	crds, err := istioCRDs()
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{scenario: sc, log: testWriter{t}}
	got, err := l.olderCRDs(&cluster{name: "west"}, crds)
	if err != nil {
		t.Fatal(err)
	}
	versions := func(u *unstructured.Unstructured) (out []string, storage string) {
		vs, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
		for _, v := range vs {
			m := v.(map[string]any)
			if m["served"] == true {
				out = append(out, m["name"].(string))
			}
			if m["storage"] == true {
				storage = m["name"].(string)
			}
		}
		return out, storage
	}
	for i, u := range got {
		if u.GetName() != "workloadentries.networking.istio.io" {
			if u != crds[i] {
				t.Errorf("%s was changed", u.GetName())
			}
			continue
		}
		if v, st := versions(u); len(v) != 2 || v[0] != "v1alpha3" || v[1] != "v1beta1" || st != "v1alpha3" {
			t.Errorf("west's WorkloadEntry CRD serves %v (storage %s), want v1alpha3 (stored), v1beta1", v, st)
		}
		if v, _ := versions(crds[i]); len(v) != 3 {
			t.Errorf("the pinned CRD was changed: serves %v", v)
		}
	}
	if same, _ := l.olderCRDs(&cluster{name: "east"}, crds); len(same) != len(crds) || same[0] != crds[0] {
		t.Error("east's CRDs were changed")
	}
	for _, bad := range []string{"workloadentries.networking.istio.io", "=v1", "nope.networking.istio.io=v1", "workloadentries.networking.istio.io=v9"} {
		l := &Lab{scenario: &Scenario{Faults: []Fault{{Type: FaultCRDVersions, Cluster: "west", Value: bad}}}, log: testWriter{t}}
		if _, err := l.olderCRDs(&cluster{name: "west"}, crds); err == nil {
			t.Errorf("value %q accepted", bad)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestContainerLogs: the node agent serves a pod's log as the kubelet
// does for pods/log: the last tailLines lines, cut at limitBytes; 404 for
// a pod it does not run.
func TestContainerLogs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "istiod.log")
	if err := os.WriteFile(file, []byte("one\ntwo\nthree\nfour\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &nodeAgent{logs: map[string]func() string{"istio-system/istiod-x": func() string { return file }}, release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.containerLogs)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for path, want := range map[string]string{
		"/containerLogs/istio-system/istiod-x/discovery":                          "one\ntwo\nthree\nfour\n",
		"/containerLogs/istio-system/istiod-x/discovery?tailLines=2":              "three\nfour\n",
		"/containerLogs/istio-system/istiod-x/discovery?tailLines=2&limitBytes=8": "three\nfo",
	} {
		if code, got := get(path); code != 200 || got != want {
			t.Errorf("%s: %d %q, want %q", path, code, got, want)
		}
	}
	if code, _ := get("/containerLogs/istio-system/other/discovery"); code != http.StatusNotFound {
		t.Errorf("another pod: %d, want 404", code)
	}
}

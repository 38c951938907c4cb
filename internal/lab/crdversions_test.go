package lab

import (
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

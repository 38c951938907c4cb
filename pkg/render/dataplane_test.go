package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

// The header shows a DATA PLANE column only when some cluster runs ambient:
// a sidecar mesh's header is as it was.
func TestTextHeaderShowsTheDataPlaneOnlyWithAmbient(t *testing.T) {
	header := func(modes ...string) string {
		r := &checks.Report{Findings: []checks.Finding{}}
		for i, m := range modes {
			r.Clusters = append(r.Clusters, checks.ClusterSummary{Context: []string{"east", "west"}[i], ClusterID: "c", Network: "n", Role: "primary", DataPlane: m, Reachable: true})
		}
		var b bytes.Buffer
		if err := Text(&b, r, mustCatalog(t), plainStyles()); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if h := header("sidecar", "sidecar"); strings.Contains(h, "DATA PLANE") {
		t.Errorf("a sidecar mesh's header has a data-plane column:\n%s", h)
	}
	h := header("ambient", "mixed")
	for _, want := range []string{"DATA PLANE", "ambient", "mixed"} {
		if !strings.Contains(h, want) {
			t.Errorf("an ambient mesh's header does not say %q:\n%s", want, h)
		}
	}
	if got := topology.Describe(topology.Cluster{Role: "primary", ClusterID: "east", DataPlane: "ambient", Reachable: true}); !strings.Contains(got, "ambient data plane") {
		t.Errorf("topology describes an ambient cluster as %q", got)
	}
	if got := topology.Describe(topology.Cluster{Role: "primary", ClusterID: "east", DataPlane: "sidecar", Reachable: true}); strings.Contains(got, "data plane") {
		t.Errorf("topology describes a sidecar cluster as %q", got)
	}
}

package discovery

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	checksall "github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// planSelectors runs the real checks over one of MF4032's fixtures, with
// the mesh config of a cluster replaced, and plans the label fix.
func planSelectors(t *testing.T, name, context, meshConfig string) fix.Plan {
	t.Helper()
	f, err := fleet.LoadDir(filepath.Join("..", "..", "checks", "all", "testdata", "MF4032", name), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	if meshConfig != "" {
		c := f.Cluster(context)
		for i := range c.ConfigMaps {
			if c.ConfigMaps[i].Name == "istio" {
				c.ConfigMaps[i].Data = map[string]string{"mesh": meshConfig}
			}
		}
	}
	res := checks.Run(f, checksall.Registry(), checks.Selection{Only: []string{"MF4032"}})
	p, err := fix.Build([]fix.Fixer{SelectorLabels{}}, fix.Input{Fleet: f, Findings: res.Findings})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSelectorLabelsLabelTheDroppedNamespaces(t *testing.T) {
	p := planSelectors(t, "fail-peer-namespaces-unlabelled", "", "")
	if len(p.Refused) != 0 || len(p.Changes) != 2 {
		t.Fatalf("plan: %d changes, refused %+v", len(p.Changes), p.Refused)
	}
	got := map[string]bool{}
	for _, c := range p.Changes {
		got[fix.KeyOf(c).String()] = true
		if l := c.Object.GetLabels(); len(l) != 1 || l["env"] != "prod" {
			t.Errorf("%s: labels %v, want only env=prod (server-side apply then owns nothing else)", fix.KeyOf(c), l)
		}
		if c.Phase != fix.PhasePrepare || !strings.Contains(c.Reason, "istio/istio#54402") || !strings.Contains(c.Reason, "discoverySelectors[0] env=prod") {
			t.Errorf("%s: phase %d reason %q", fix.KeyOf(c), c.Phase, c.Reason)
		}
	}
	for _, want := range []string{"Namespace sample in west", "Namespace istio-system in west"} {
		if !got[want] {
			t.Errorf("no change %q among %v", want, got)
		}
	}
}

// A label the namespace already has with another value, or one that
// another primary's selectors exclude, is refused, never overwritten.
func TestSelectorLabelsRefuseWhatIsNotSafe(t *testing.T) {
	p := planSelectors(t, "fail-peer-namespaces-unlabelled", "west", `
defaultConfig: {meshId: mesh1}
discoverySelectors: [{matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}]
`)
	// west's selectors now exclude env=prod, so west drops east's
	// namespaces too: nothing to add makes them match (refused as well).
	if len(p.Changes) != 0 || len(p.Refused) != 4 {
		t.Fatalf("plan: changes %d, refused %+v", len(p.Changes), p.Refused)
	}
	for _, r := range p.Refused {
		want := map[string]string{"west": "would make west's istiod drop it", "east": "no label added can make west's discoverySelectors"}[r.Context]
		if want == "" || !strings.Contains(r.Reason, want) {
			t.Errorf("refusal %+v, want one saying %q", r, want)
		}
	}
}

package discovery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	checksall "github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

const revisionFixture = "../../checks/all/testdata/MF4040/fail-revision-service-named-istiod"

func planRemoteIstiodService(t *testing.T, f *model.Fleet) fix.Plan {
	t.Helper()
	res := checks.Run(f, checksall.Registry(), checks.Selection{Only: []string{"MF4040"}})
	p, err := fix.Build([]fix.Fixer{RemoteIstiodService{}}, fix.Input{Fleet: f, Findings: res.Findings})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRemoteIstiodServiceIsTheChartsAndConverges: on a revisioned remote
// whose Service is named istiod, fix creates istiod-canary and its
// EndpointSlice as the remote chart writes them, at the address the
// existing Service leads to; with them in the cluster, MF4040 and MF3015
// pass.
func TestRemoteIstiodServiceIsTheChartsAndConverges(t *testing.T) {
	f, err := fleet.LoadDir(revisionFixture, "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	p := planRemoteIstiodService(t, f)
	if len(p.Refused) != 0 || len(p.Changes) != 2 {
		t.Fatalf("plan: %d changes, refused %+v", len(p.Changes), p.Refused)
	}
	for _, c := range p.Changes {
		if c.Context != "west" || c.Object.GetName() != "istiod-canary" || c.Object.GetNamespace() != "istio-system" || (c.Object.GetKind() == "Service" && c.Object.GetLabels()["istio.io/rev"] != "canary") {
			t.Errorf("change %s in %s: %v", fix.KeyOf(c), c.Context, c.Object.Object)
		}
		if !strings.Contains(c.Reason, "192.0.2.1") || !strings.Contains(c.Reason, "the endpoint of Service istio-system/istiod in west") {
			t.Errorf("%s: reason %q does not say where the address comes from", fix.KeyOf(c), c.Reason)
		}
	}

	// Apply the plan to a copy of the fixture, read it back, judge again.
	dir := t.TempDir()
	for _, ctx := range []string{"east", "west"} {
		b, err := os.ReadFile(filepath.Join(revisionFixture, ctx, "objects.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if ctx == "west" {
			for _, c := range p.Changes {
				j, _ := json.Marshal(c.Object.Object)
				b = append(b, []byte("\n---\n"+string(j)+"\n")...)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, ctx), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ctx, "objects.yaml"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	after, err := fleet.LoadDir(dir, "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(after, checksall.Registry(), checks.Selection{Only: []string{"MF3015", "MF4040", "MF4041"}})
	if len(res.Findings) != 0 {
		t.Errorf("after the fix: %+v", res.Findings)
	}
	for _, c := range res.Checks {
		if c.Status != checks.StatusPass {
			t.Errorf("after the fix %s is %s", c.ID, c.Status)
		}
	}
	if again := planRemoteIstiodService(t, after); len(again.Changes)+len(again.Refused) != 0 {
		t.Errorf("the plan does not converge: %+v", again)
	}
}

// The address is never guessed: two addresses, or a primary, are refused.
func TestRemoteIstiodServiceRefusesWhatIsNotSafe(t *testing.T) {
	f, err := fleet.LoadDir(revisionFixture, "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	w := f.Cluster("west")
	w.EndpointSlices[0].Addresses = append(w.EndpointSlices[0].Addresses, "192.0.2.99")
	p := planRemoteIstiodService(t, f)
	if len(p.Changes) != 0 || len(p.Refused) != 1 || !strings.Contains(p.Refused[0].Reason, "192.0.2.1, 192.0.2.99") {
		t.Errorf("two addresses: plan %+v", p)
	}
}

package locality

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	checksall "github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// planFixture runs the real checks over one of MF5002's fixtures, with
// extra manifests for east, and plans the fix.
func planFixture(t *testing.T, name, extraEast string) fix.Plan {
	t.Helper()
	f, err := fleet.LoadDir(filepath.Join("..", "..", "checks", "all", "testdata", "MF5002", name), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	if extraEast != "" {
		if err := fleet.AddManifests(f.Cluster("east"), []byte(extraEast)); err != nil {
			t.Fatal(err)
		}
	}
	res := checks.Run(f, checksall.Registry(), checks.Selection{})
	p, err := fix.Build([]fix.Fixer{OutlierDetection{}}, fix.Input{Fleet: f, Findings: res.Findings})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOutlierDetectionForFailover(t *testing.T) {
	for _, name := range []string{"fail-no-outlier-detection", "fail-failover-priority"} {
		t.Run(name, func(t *testing.T) {
			p := planFixture(t, name, "")
			if len(p.Changes) != 1 || len(p.Notes) != 0 {
				t.Fatalf("plan %+v", p)
			}
			c := p.Changes[0]
			if fix.KeyOf(c).String() != "DestinationRule.networking.istio.io sample/helloworld in east" || c.Phase != fix.PhaseConfigure {
				t.Errorf("change %s", fix.KeyOf(c))
			}
			// Only spec.trafficPolicy.outlierDetection: SSA then owns nothing
			// else of the rule (not its host, not its load balancer).
			spec, _, _ := unstructured.NestedMap(c.Object.Object, "spec")
			if len(spec) != 1 || len(spec["trafficPolicy"].(map[string]any)) != 1 {
				t.Errorf("the change sets more than outlierDetection: %v", spec)
			}
			od, _, _ := unstructured.NestedMap(c.Object.Object, "spec", "trafficPolicy", "outlierDetection")
			if od["consecutive5xxErrors"] != int64(5) || od["interval"] != "10s" || od["baseEjectionTime"] != "30s" || od["maxEjectionPercent"] != int64(100) {
				t.Errorf("outlierDetection %v", od)
			}
			for _, v := range []string{"consecutive5xxErrors: 5", "interval: 10s", "baseEjectionTime: 30s", "maxEjectionPercent: 100"} {
				if !strings.Contains(c.Reason, v) {
					t.Errorf("reason does not explain %s", v)
				}
			}
		})
	}
}

func TestOutlierDetectionNothingToDo(t *testing.T) {
	for _, name := range []string{"pass-with-outlier-detection", "pass-distribute-only"} {
		if p := planFixture(t, name, ""); !p.Empty() {
			t.Errorf("%s: planned %+v", name, p.Changes)
		}
	}
}

// A rule whose subsets fail over: one change (subsets inherit the
// top-level outlierDetection), and a note for its portLevelSettings.
func TestOutlierDetectionSubsetsAndPorts(t *testing.T) {
	dr := `{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "reviews", "namespace": "sample"}, "spec": {"host": "reviews.sample.svc.cluster.local",
  "trafficPolicy": {"loadBalancer": {"localityLbSetting": {"failover": [{"from": "a", "to": "b"}]}}, "portLevelSettings": [{"port": {"number": 9080}, "connectionPool": {"tcp": {"maxConnections": 10}}}]},
  "subsets": [{"name": "v1", "labels": {"version": "v1"}, "trafficPolicy": {"loadBalancer": {"localityLbSetting": {"failover": [{"from": "a", "to": "c"}]}}}}]}}`
	p := planFixture(t, "pass-with-outlier-detection", dr)
	if len(p.Changes) != 1 || fix.KeyOf(p.Changes[0]).Name != "reviews" {
		t.Fatalf("changes %+v", p.Changes)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0].Text, "port 9080") {
		t.Errorf("notes %+v", p.Notes)
	}
}

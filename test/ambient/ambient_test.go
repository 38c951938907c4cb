// Package ambient runs the built kubectl-meshfed's ambient reads and checks
// (MF7xxx) against the lab: real kube-apiservers, etcd and istiod.
package ambient

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.Cleanup()
	os.Exit(code)
}

// report is the part of `doctor -o json` these tests read.
type report struct {
	Clusters []struct {
		Context   string `json:"context"`
		DataPlane string `json:"dataPlane"`
	} `json:"clusters"`
	Findings []struct {
		Check    string   `json:"check"`
		Contexts []string `json:"contexts"`
		Message  string   `json:"message"`
	} `json:"findings"`
	Checks []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"checks"`
}

// A healthy sidecar multi-primary mesh on two networks: every cluster reads
// as sidecar (the ztunnel DaemonSets and GatewayClasses are listed from
// the real API servers, where the Gateway API is not even served), every
// ambient check runs and passes, and no MF7 finding is made.
func TestSidecarMeshHasNoAmbientFindings(t *testing.T) {
	l := labtest.Shared(t, "multi-primary", 2)
	contexts := strings.Join(l.Contexts(), ",")
	out, stderr, _ := labtest.Run(t, l, append([]string{"doctor", "-o", "json", "--contexts", contexts}, l.IstiodDebugFlags()...)...)
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json: %v\n%s\n%s", err, out, stderr)
	}
	if len(r.Clusters) != 2 {
		t.Fatalf("%d clusters in the report, want 2", len(r.Clusters))
	}
	for _, c := range r.Clusters {
		if c.DataPlane != "sidecar" {
			t.Errorf("%s: data plane %q, want sidecar", c.Context, c.DataPlane)
		}
	}
	for _, f := range r.Findings {
		if strings.HasPrefix(f.Check, "MF7") {
			t.Errorf("ambient finding on a sidecar mesh: %s@%v: %s", f.Check, f.Contexts, f.Message)
		}
	}
	ran := 0
	for _, c := range r.Checks {
		if !strings.HasPrefix(c.ID, "MF7") {
			continue
		}
		ran++
		if c.Status != "pass" {
			t.Errorf("%s: status %s, want pass", c.ID, c.Status)
		}
	}
	if ran == 0 {
		t.Error("no ambient check ran")
	}

	out, stderr, code := labtest.Run(t, l, "topology", "-o", "json", "--no-probes", "--contexts", contexts)
	if code != 0 {
		t.Fatalf("topology: exit %d\n%s", code, stderr)
	}
	var topo topology.Topology
	if err := json.Unmarshal([]byte(out), &topo); err != nil {
		t.Fatalf("topology -o json: %v\n%s", err, out)
	}
	seen := 0
	for _, n := range topo.Networks {
		for _, c := range n.Clusters {
			seen++
			if c.DataPlane != "sidecar" {
				t.Errorf("topology: %s: data plane %q, want sidecar", c.Context, c.DataPlane)
			}
		}
	}
	if seen != 2 {
		t.Errorf("topology shows %d clusters, want 2", seen)
	}
}

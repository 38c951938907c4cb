package render

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

// TestTopologyGolden draws three meshes (testdata/topology-fleets/<name>)
// as text, JSON and dot, against golden files.
func TestTopologyGolden(t *testing.T) {
	for _, name := range []string{"multi-primary-multi-network", "single-network", "primary-remote"} {
		t.Run(name, func(t *testing.T) {
			f, err := fleet.LoadDir(filepath.Join("testdata", "topology-fleets", name), "istio-system")
			if err != nil {
				t.Fatal(err)
			}
			topo := topology.Build(f)
			for _, r := range []struct {
				ext  string
				draw func(*bytes.Buffer) error
			}{
				{"txt", func(b *bytes.Buffer) error { return TopologyText(b, topo) }},
				{"json", func(b *bytes.Buffer) error { return JSON(b, topo) }},
				{"dot", func(b *bytes.Buffer) error { return TopologyDOT(b, topo) }},
				{"compact.txt", func(b *bytes.Buffer) error { return TopologyCompact(b, topo) }},
			} {
				var b bytes.Buffer
				if err := r.draw(&b); err != nil {
					t.Fatal(err)
				}
				golden(t, "topology-"+name+"."+r.ext, b.Bytes())
			}
		})
	}
}

func TestTopologyModel(t *testing.T) {
	load := func(name string) *topology.Topology {
		f, err := fleet.LoadDir(filepath.Join("testdata", "topology-fleets", name), "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		return topology.Build(f)
	}
	mp := load("multi-primary-multi-network")
	if mp.ControlPlane != topology.MultiPrimary || mp.Networking != topology.MultiNetwork || len(mp.Networks) != 3 {
		t.Errorf("multi-primary: %s, %s, %d networks", mp.ControlPlane, mp.Networking, len(mp.Networks))
	}
	states := map[string]string{}
	for _, e := range mp.Edges {
		states[e.From+"→"+e.To+e.ToID] = e.State
	}
	if states["west→centralcentral"] != topology.EdgeMissing || states["west→old-cluster"] != topology.EdgeOutside || states["east→westwest"] != topology.EdgeConfigured {
		t.Errorf("edges %v", states)
	}
	if mp.Reachability == nil || mp.Reachability.Cells["net-west"]["net-east"].Outcome != model.ProbeRefused {
		t.Errorf("reachability %+v", mp.Reachability)
	}
	pr := load("primary-remote")
	if pr.ControlPlane != topology.PrimaryRemote || pr.Networking != topology.SingleNetwork || !strings.Contains(pr.TradeOffs, "cut") {
		t.Errorf("primary-remote: %s, %s: %s", pr.ControlPlane, pr.Networking, pr.TradeOffs)
	}
	sn := load("single-network")
	b, _ := json.Marshal(sn)
	if sn.Networking != topology.SingleNetwork || strings.Contains(string(b), "placeholder") || strings.Contains(string(b), "cGxhY2Vob2xkZXI") {
		t.Errorf("single-network: %s (and no secret data): %s", sn.Networking, b)
	}
}

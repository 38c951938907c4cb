package e2e

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

// topologyOf runs `topology -o json` on every context of the lab.
func topologyOf(t *testing.T, l *lab.Lab) (*topology.Topology, string) {
	t.Helper()
	args := append([]string{"topology", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, l.IstiodDebugFlags()...)
	out, stderr, code := labtest.Run(t, l, args...)
	if code != 0 {
		t.Fatalf("topology: exit %d\n%s", code, stderr)
	}
	var topo topology.Topology
	if err := json.Unmarshal([]byte(out), &topo); err != nil {
		t.Fatalf("topology -o json: %v\n%s", err, out)
	}
	text, _, _ := labtest.Run(t, l, "topology", "--no-probes", "--contexts", strings.Join(l.Contexts(), ","))
	dot, _, _ := labtest.Run(t, l, "topology", "-o", "dot", "--no-probes", "--contexts", strings.Join(l.Contexts(), ","))
	if !strings.HasPrefix(dot, "digraph mesh {") {
		t.Errorf("-o dot:\n%s", dot)
	}
	return &topo, text
}

func edgeStates(topo *topology.Topology) []string {
	var out []string
	for _, e := range topo.Edges {
		out = append(out, e.From+"→"+e.To+":"+e.State)
	}
	sort.Strings(out)
	return out
}

func TestTopologyOfSeveralNetworks(t *testing.T) {
	topo, text := topologyOf(t, labtest.Shared(t, "multi-primary", 3))
	if topo.ControlPlane != topology.MultiPrimary || topo.Networking != topology.MultiNetwork || len(topo.Networks) != 3 {
		t.Errorf("%s, %s, %d networks; want multi-primary, multi-network, 3", topo.ControlPlane, topo.Networking, len(topo.Networks))
	}
	want := []string{"central→east:configured", "central→west:configured", "east→central:configured", "east→west:configured", "west→central:configured", "west→east:configured"}
	if got := edgeStates(topo); !reflect.DeepEqual(got, want) {
		t.Errorf("edges %v, want %v", got, want)
	}
	for _, e := range topo.Edges {
		if e.Istiod != "synced" || e.Credentials != "ok" {
			t.Errorf("edge %s → %s: istiod %q, credentials %q; want synced and ok", e.From, e.To, e.Istiod, e.Credentials)
		}
	}
	for _, n := range topo.Networks {
		if len(n.Gateways) != 1 || n.Gateways[0].Pending {
			t.Errorf("network %s gateways %+v", n.Name, n.Gateways)
		}
	}
	m := topo.Reachability
	if m == nil || !strings.HasPrefix(m.From, "this machine") || len(m.Networks) != 3 {
		t.Fatalf("reachability %+v", m)
	}
	for _, src := range m.Networks {
		for _, dst := range m.Networks {
			if c := m.Cells[src][dst]; src != dst && c.Outcome != "ok" {
				t.Errorf("%s → %s: %s (%s)", src, dst, c.Outcome, c.Detail)
			}
		}
	}
	for _, want := range []string{"┌─ network-east", "Discovery: who reads whom", "Multi-primary"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

func TestTopologyOfPrimaryRemote(t *testing.T) {
	topo, _ := topologyOf(t, labtest.Shared(t, "primary-remote", 2))
	if topo.ControlPlane != topology.PrimaryRemote || topo.Networking != topology.SingleNetwork {
		t.Errorf("%s, %s; want primary-remote, single-network", topo.ControlPlane, topo.Networking)
	}
	if got, want := edgeStates(topo), []string{"east→west:configured"}; !reflect.DeepEqual(got, want) {
		t.Errorf("edges %v, want %v", got, want)
	}
	roles := map[string]string{}
	for _, n := range topo.Networks {
		for _, c := range n.Clusters {
			roles[c.Context] = c.Role
		}
	}
	if roles["east"] != "primary" || roles["west"] != "remote" {
		t.Errorf("roles %v", roles)
	}
}

func TestTopologyShowsAMissingRemoteSecret(t *testing.T) {
	topo, _ := topologyOf(t, labtest.Start(t, "missing-remote-secret", 2))
	if got, want := edgeStates(topo), []string{"east→west:missing", "west→east:configured"}; !reflect.DeepEqual(got, want) {
		t.Errorf("edges %v, want %v", got, want)
	}
	for _, e := range topo.Edges {
		if e.State == topology.EdgeMissing && e.Istiod != "not listed" {
			t.Errorf("east's istiod has no secret for west, yet reports %q for it", e.Istiod)
		}
	}
}

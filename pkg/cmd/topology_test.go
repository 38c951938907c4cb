package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

func TestTopologyCommand(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", nil)
	m.cluster("west", nil)
	r := run(t, m.backend(), "topology", "-o", "json")
	r.expect(t, ExitOK, "")
	var doc topology.Topology
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if doc.Kind != topology.Kind || len(doc.Networks) == 0 || doc.Reachability == nil || doc.Reachability.From != "the test" {
		t.Errorf("topology %+v", doc)
	}
	if m.probed != 1 {
		t.Errorf("probed %d times, want once", m.probed)
	}

	r = run(t, m.backend(), "topology", "-o", "dot", "--no-probes")
	r.expect(t, ExitOK, "")
	if !strings.HasPrefix(r.stdout, "digraph mesh {") || m.probed != 1 {
		t.Errorf("-o dot --no-probes: probed %d, output:\n%s", m.probed, r.stdout)
	}
	r = run(t, m.backend(), "topology")
	r.expect(t, ExitOK, "")
	if !strings.Contains(r.stdout, "Discovery: who reads whom") {
		t.Errorf("text:\n%s", r.stdout)
	}

	// -o yaml, as every command takes it: the JSON document as YAML.
	r = run(t, m.backend(), "topology", "-o", "yaml", "--no-probes")
	r.expect(t, ExitOK, "")
	var fromYAML topology.Topology
	if err := yaml.UnmarshalStrict([]byte(r.stdout), &fromYAML); err != nil || fromYAML.Kind != topology.Kind || len(fromYAML.Networks) != len(doc.Networks) {
		t.Errorf("-o yaml: %v, %+v\n%s", err, fromYAML, r.stdout)
	}
	run(t, m.backend(), "topology", "-o", "xml").expect(t, ExitFailed, "--output")
	run(t, m.backend(), "topology", "--timeout", "0s").expect(t, ExitFailed, "--timeout")
	run(t, (&fakeMesh{t: t}).backend(), "topology").expect(t, ExitFailed, "no cluster could be reached")
}

package topology

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	checksall "github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// diagnose loads the MF1003 check's failing fixture (east on net-east, west
// with no network), adds extra manifests per context, and runs the real
// checks over it, as fix does.
func diagnose(t *testing.T, extra map[string]string, opts fix.Options) fix.Input {
	t.Helper()
	f, err := fleet.LoadDir(filepath.Join("..", "..", "checks", "all", "testdata", "MF1003", "fail-unset"), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	for ctx, doc := range extra {
		if err := fleet.AddManifests(f.Cluster(ctx), []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	res := checks.Run(f, checksall.Registry(), checks.Selection{})
	return fix.Input{Fleet: f, Findings: res.Findings, Options: opts}
}

const westGateway = `
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system", "labels": {"topology.istio.io/network": "net-west"}}, "spec": {"type": "LoadBalancer", "ports": [{"name": "tls", "port": 15443}]}}
`

const westInjectorValues = `
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio-sidecar-injector", "namespace": "istio-system"}, "data": {"values": "{\"global\": {\"network\": \"%s\"}}"}}
`

func plan(t *testing.T, in fix.Input) fix.Plan {
	t.Helper()
	p, err := fix.Build([]fix.Fixer{NetworkLabel{}}, in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func label(t *testing.T, p fix.Plan) string {
	t.Helper()
	if len(p.Changes) != 1 {
		t.Fatalf("%d changes, want 1: %+v", len(p.Changes), p)
	}
	c := p.Changes[0]
	if c.Context != "west" || c.Object.GetKind() != "Namespace" || c.Object.GetName() != "istio-system" || c.Phase != fix.PhasePrepare {
		t.Errorf("change %s", fix.KeyOf(c))
	}
	// Only the label is applied: SSA then owns nothing else of the namespace.
	if len(c.Object.Object) != 3 || len(c.Object.GetLabels()) != 1 {
		t.Errorf("the change sets more than the label: %v", c.Object.Object)
	}
	return c.Object.GetLabels()["topology.istio.io/network"]
}

func TestNetworkFromTheGateway(t *testing.T) {
	p := plan(t, diagnose(t, map[string]string{"west": westGateway}, fix.Options{}))
	if got := label(t, p); got != "net-west" {
		t.Errorf("network %q, want the gateway's net-west", got)
	}
	if !strings.Contains(p.Changes[0].Reason, "east-west gateway Service istio-system/istio-eastwestgateway") {
		t.Errorf("reason does not name the evidence: %s", p.Changes[0].Reason)
	}
	// values.global.network is unset: the sidecars need it and a restart.
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0].Text, "values.global.network=net-west") {
		t.Errorf("notes %+v", p.Notes)
	}
}

func TestNetworkAgreeingEvidenceNeedsNoNote(t *testing.T) {
	p := plan(t, diagnose(t, map[string]string{"west": westGateway + "---" + strings.Replace(westInjectorValues, "%s", "net-west", 1)}, fix.Options{}))
	if got := label(t, p); got != "net-west" || len(p.Notes) != 0 || len(p.Refused) != 0 {
		t.Errorf("network %q, notes %+v, refused %+v", got, p.Notes, p.Refused)
	}
}

func TestNetworkFromMeshNetworks(t *testing.T) {
	meshNetworks := `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"}, "data": {"mesh": "defaultConfig: {meshId: mesh1}", "meshNetworks": "networks:\n  net-w:\n    endpoints:\n    - fromRegistry: west\n    gateways:\n    - address: 1.2.3.4\n      port: 15443\n"}}`
	f, err := fleet.LoadDir(filepath.Join("..", "..", "checks", "all", "testdata", "MF1003", "fail-unset"), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	east := f.Cluster("east")
	east.ConfigMaps = nil // replaced by the one with meshNetworks
	if err := fleet.AddManifests(east, []byte(meshNetworks)); err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, checksall.Registry(), checks.Selection{Only: []string{"MF1003"}})
	if got := label(t, plan(t, fix.Input{Fleet: f, Findings: res.Findings})); got != "net-w" {
		t.Errorf("network %q, want net-w from east's meshNetworks", got)
	}
}

func TestNetworkRefusedWithoutEvidence(t *testing.T) {
	p := plan(t, diagnose(t, nil, fix.Options{}))
	if len(p.Changes) != 0 || len(p.Refused) != 1 {
		t.Fatalf("plan %+v, want one refusal", p)
	}
	r := p.Refused[0]
	if r.Context != "west" || !strings.Contains(r.Reason, "--network west=NAME") || !strings.Contains(r.Reason, "net-east") {
		t.Errorf("refusal %+v", r)
	}
}

func TestNetworkRefusedWhenEvidenceDisagrees(t *testing.T) {
	p := plan(t, diagnose(t, map[string]string{"west": westGateway + "---" + strings.Replace(westInjectorValues, "%s", "net-other", 1)}, fix.Options{}))
	if len(p.Changes) != 0 || len(p.Refused) != 1 || !strings.Contains(p.Refused[0].Reason, "disagree") ||
		!strings.Contains(p.Refused[0].Reason, "net-other") || !strings.Contains(p.Refused[0].Reason, "net-west") {
		t.Errorf("plan %+v", p)
	}
}

func TestNetworkGivenByFlag(t *testing.T) {
	in := diagnose(t, map[string]string{"west": westGateway}, fix.Options{Networks: map[string]string{"west": "net-chosen"}})
	p := plan(t, in)
	if got := label(t, p); got != "net-chosen" {
		t.Errorf("network %q, want --network's", got)
	}
	if !strings.Contains(p.Changes[0].Reason, "--network west=net-chosen") || !strings.Contains(p.Changes[0].Reason, "says net-west") {
		t.Errorf("reason does not say the flag chose it over the evidence: %s", p.Changes[0].Reason)
	}
	// Without the finding nothing is planned, whatever --network says.
	in.Findings = nil
	if p := plan(t, in); !p.Empty() || len(p.Refused) != 0 {
		t.Errorf("planned without a finding: %+v", p)
	}
}

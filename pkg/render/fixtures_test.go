package render

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/render/rendertest"
)

func mustCatalog(t *testing.T) *checks.Catalog {
	t.Helper()
	return rendertest.MustCatalog(t)
}

// mixedReport is a run over three clusters, one unreachable, with a finding
// of every severity and a check that could not look at one cluster.
func mixedReport() *checks.Report {
	res := checks.Result{
		Findings: []checks.Finding{
			{Check: "MF0001", Area: checks.AreaGeneral, Severity: checks.SeverityError, Contexts: []string{"north"},
				Message: "cluster north cannot be read: dial tcp 10.99.3.2:6443: connect: connection refused"},
			{Check: "MF2001", Area: checks.AreaTrust, Severity: checks.SeverityError, Contexts: []string{"east", "west"},
				Object:   &checks.ObjectRef{Kind: "Secret", Namespace: "istio-system", Name: "cacerts"},
				Message:  "root 3f:2a:9b in east differs from root 9c:11:04 in west",
				Evidence: []string{"east: root CN=Root A, SHA-256 3f:2a:9b", "west: root CN=Root B, SHA-256 9c:11:04"}},
			{Check: "MF3001", Area: checks.AreaConnectivity, Severity: checks.SeverityWarning, Contexts: []string{"west"},
				Message: `network "net-west" has no east-west gateway`},
			{Check: "MF5001", Area: checks.AreaLocality, Severity: checks.SeverityInfo, Contexts: []string{"east"},
				Object:  &checks.ObjectRef{Kind: "Node", Name: "node-7"},
				Message: "node node-7 has no topology.kubernetes.io/zone label"},
		},
		Checks: []checks.CheckResult{
			{ID: "MF0001", Area: checks.AreaGeneral, Title: "Cluster unreachable", Status: checks.StatusFail, Worst: checks.SeverityError},
			{ID: "MF1001", Area: checks.AreaTopology, Title: "Cluster IDs are unique", Status: checks.StatusUnknown,
				Unknown: []checks.UnknownContext{{Context: "north", Reason: "cluster unreachable: connection refused"}}},
			{ID: "MF2001", Area: checks.AreaTrust, Title: "Roots agree between clusters", Status: checks.StatusFail, Worst: checks.SeverityError,
				Unknown: []checks.UnknownContext{{Context: "north", Reason: "cluster unreachable: connection refused"}}},
			{ID: "MF3001", Area: checks.AreaConnectivity, Title: "Every network has an east-west gateway", Status: checks.StatusFail, Worst: checks.SeverityWarning},
			{ID: "MF5001", Area: checks.AreaLocality, Title: "Nodes carry region and zone labels", Status: checks.StatusPass, Worst: checks.SeverityInfo},
			{ID: "MF6001", Area: checks.AreaAWS, Title: "A cluster does not sign under the AWS Private CA's root", Status: checks.StatusNotRun,
				NotRun: "no AWS Private CA was named; --pca-arn ARN runs them"},
		},
	}
	selection := []checks.ContextChoice{
		{Context: "east", Reason: "current context"},
		{Context: "west", Reason: "remote secret istio-remote-secret-west in context east points at its API server"},
		{Context: "north", Reason: "named with --contexts"},
	}
	clusters := []checks.ClusterSummary{
		{Context: "east", ClusterID: "east", Network: "net-east", Role: "primary", Reachable: true},
		{Context: "west", ClusterID: "west", Network: "net-west", Role: "remote", Reachable: true},
		{Context: "north", Role: "unknown", Error: "dial tcp 10.99.3.2:6443: connect: connection refused"},
	}
	return checks.NewReport(selection, clusters, res)
}

// healthyReport is a run where every check passed.
func healthyReport(t *testing.T) *checks.Report {
	t.Helper()
	cat := mustCatalog(t)
	var impls []checks.Check
	for _, m := range cat.Entries() {
		impls = append(impls, checks.Func{CheckID: m.ID, Fn: func(*model.Fleet) []checks.Finding { return nil }})
	}
	reg, err := checks.NewRegistry(cat, impls...)
	if err != nil {
		t.Fatal(err)
	}
	f := &model.Fleet{Clusters: []*model.Cluster{{Context: "east", Reachable: true}, {Context: "west", Reachable: true}}}
	clusters := []checks.ClusterSummary{
		{Context: "east", ClusterID: "east", Network: "net1", Role: "primary", Reachable: true},
		{Context: "west", ClusterID: "west", Network: "net1", Role: "primary", Reachable: true},
	}
	return checks.NewReport(nil, clusters, checks.Run(f, reg, checks.Selection{}))
}

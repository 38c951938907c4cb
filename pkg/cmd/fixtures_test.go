package cmd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/diagnosis"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// testCatalog holds made-up checks whose results depend only on labels the
// tests put on each cluster's namespaces, so every outcome is chosen by the test.
const testCatalog = `
checks:
- id: MF1001
  area: topology
  title: Cluster IDs are unique
  severity: error
  explanation: Two clusters with one ID overwrite each other's endpoints. More text.
  remediation: Give each cluster its own ID.
- id: MF2001
  area: trust
  title: Roots agree between clusters
  severity: error
  explanation: Workloads cannot verify each other's certificates.
  remediation: Use one root.
- id: MF5001
  area: locality
  title: Nodes carry region and zone labels
  severity: warning
  explanation: Locality load balancing needs zone labels.
  remediation: Label the nodes.
`

func testCat(t *testing.T) *checks.Catalog {
	t.Helper()
	cat, err := checks.LoadCatalog([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// labelCheck finds, on every cluster whose "default" namespace carries the
// label key=value, one finding of the catalog's severity.
func labelCheck(id checks.ID, key string) checks.Check {
	return checks.Func{CheckID: id, Fn: func(f *model.Fleet) []checks.Finding {
		var out []checks.Finding
		for _, c := range f.Clusters {
			for _, ns := range c.Namespaces {
				if ns.Labels[key] == "bad" {
					out = append(out, checks.Finding{Contexts: []string{c.Context}, Message: key + " is bad in " + c.Context})
				}
			}
		}
		return out
	}}
}

// probeCheck finds, like labelCheck, on "root" labels, and also one finding
// per refused gateway probe: probes reach checks only as fleet data.
func probeCheck(id checks.ID) checks.Check {
	byLabel := labelCheck(id, "root")
	return checks.Func{CheckID: id, Fn: func(f *model.Fleet) []checks.Finding {
		out := byLabel.Run(f)
		if f.Probes != nil {
			for _, g := range f.Probes.Gateways {
				if g.Outcome == model.ProbeRefused {
					out = append(out, checks.Finding{Message: "gateway refused, probed from " + f.Probes.From})
				}
			}
		}
		return out
	}}
}

// fakeMesh is a kubeconfig's worth of clusters for the doctor tests.
type fakeMesh struct {
	t         *testing.T
	clusters  map[string]*model.Cluster // by context; absent means unreachable
	chooseErr error
	// recorded calls
	target    Target
	collected []string
	chosen    bool
	probed    int
	reread    int // runs opened to read anew (fix's re-check)
	// refuseGateway makes the fake gateway probe see a refused connection.
	refuseGateway bool
}

// cluster adds a reachable cluster whose default namespace has labels.
func (m *fakeMesh) cluster(name string, labels map[string]string) {
	if m.clusters == nil {
		m.clusters = map[string]*model.Cluster{}
	}
	m.clusters[name] = &model.Cluster{Context: name, Reachable: true,
		Namespaces: []model.Namespace{{Meta: model.Meta{Name: "default", Labels: labels}}}}
}

func (m *fakeMesh) backend() Backend {
	return Backend{
		Catalog:   func() *checks.Catalog { return testCat(m.t) },
		Diagnosis: diagnosis.Service{Open: m.open, Judge: fakeJudge{m}},
	}
}

// open starts a run over the fake clusters, counting the re-reads.
func (m *fakeMesh) open(_ Target, reread bool) diagnosis.Reader {
	if reread {
		m.reread++
	}
	return fakeReader{m}
}

// fakeReader reads the fake mesh, recording what it was asked.
type fakeReader struct{ m *fakeMesh }

func (r fakeReader) Choose(_ context.Context, t Target) ([]checks.ContextChoice, error) {
	m := r.m
	m.chosen, m.target = true, t
	if m.chooseErr != nil {
		return nil, m.chooseErr
	}
	names := t.Contexts
	if len(names) == 0 {
		names = []string{"east", "west"}
	}
	var out []checks.ContextChoice
	for _, n := range names {
		out = append(out, checks.ContextChoice{Context: n, Reason: "because the test said so"})
	}
	return out, nil
}

func (r fakeReader) Collect(_ context.Context, contexts []string, _ Target) *model.Fleet {
	m := r.m
	m.collected = contexts
	f := &model.Fleet{IstioNamespace: "istio-system"}
	for _, n := range contexts {
		c, ok := m.clusters[n]
		if !ok {
			c = &model.Cluster{Context: n, Error: "dial tcp 127.0.0.1:1: connect: connection refused"}
		}
		f.Clusters = append(f.Clusters, c)
	}
	return f
}

func (r fakeReader) Probe(context.Context, *model.Fleet, Target) *model.Probes {
	r.m.probed++
	outcome := model.ProbeOK
	if r.m.refuseGateway {
		outcome = model.ProbeRefused
	}
	return &model.Probes{From: "the test", Gateways: []model.GatewayProbe{{Outcome: outcome}}}
}

func (fakeReader) AWSNetwork(context.Context, *model.Fleet, Target) *model.AWSNetwork { return nil }
func (fakeReader) PrivateCA(context.Context, Target) *model.AWSPrivateCA              { return nil }
func (fakeReader) Clients() diagnosis.Clients                                         { return nil }

// fakeJudge runs the test catalog's label checks; no mesh overview, no
// trust matrix.
type fakeJudge struct{ m *fakeMesh }

func (j fakeJudge) Registry(Target) *checks.Registry {
	reg, err := checks.NewRegistry(testCat(j.m.t),
		labelCheck("MF1001", "id"), probeCheck("MF2001"), labelCheck("MF5001", "zone"))
	if err != nil {
		j.m.t.Fatal(err)
	}
	return reg
}

func (j fakeJudge) Identify(c *model.Cluster) checks.ClusterSummary {
	if !c.Reachable {
		j.m.t.Errorf("Identify called for unreachable cluster %s", c.Context)
	}
	return checks.ClusterSummary{ClusterID: "id-" + c.Context, Network: "net1", Role: "primary"}
}

func (fakeJudge) Trust(*model.Fleet, Target) *model.TrustMatrix { return nil }
func (fakeJudge) Mesh(*model.Fleet) *checks.MeshOverview        { return nil }

type result struct {
	code           int
	err            error
	stdout, stderr string
}

// run executes `kubectl meshfed args...` against the backend the way main does.
func run(t *testing.T, b Backend, args ...string) result {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	root := NewRootCmd(streams, b)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return result{code: ExitCode(err), err: err, stdout: out.String(), stderr: errOut.String()}
}

func (r result) expect(t *testing.T, code int, errContains string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (err: %v)\nstdout:\n%s\nstderr:\n%s", r.code, code, r.err, r.stdout, r.stderr)
	}
	if errContains == "" {
		return
	}
	if r.err == nil || !strings.Contains(r.err.Error(), errContains) {
		t.Errorf("error %v, want one containing %q", r.err, errContains)
	}
	var e *ExitError
	if r.err != nil && !errors.As(r.err, &e) && r.code != ExitFailed {
		t.Errorf("error %v is not an ExitError", r.err)
	}
}

package diagnosis

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// recorder is a Reader, Judge and Observer over made-up clusters that
// writes down each step of a run in the order the run takes them.
type recorder struct {
	mu        sync.Mutex
	steps     []string
	reachable map[string]bool
}

func (r *recorder) step(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, s)
}

func (r *recorder) open(_ Request, reread bool) Reader {
	r.step(fmt.Sprintf("open reread=%v", reread))
	return r
}

func (r *recorder) Choose(_ context.Context, req Request) ([]checks.ContextChoice, error) {
	r.step("choose")
	var out []checks.ContextChoice
	for _, c := range req.Contexts {
		out = append(out, checks.ContextChoice{Context: c, Reason: "asked"})
	}
	return out, nil
}

func (r *recorder) Collect(_ context.Context, contexts []string, _ Request) *model.Fleet {
	r.step("collect " + strings.Join(contexts, ","))
	f := &model.Fleet{}
	for _, c := range contexts {
		f.Clusters = append(f.Clusters, &model.Cluster{Context: c, Reachable: r.reachable[c]})
	}
	return f
}

func (r *recorder) Probe(context.Context, *model.Fleet, Request) *model.Probes {
	r.step("probe")
	return &model.Probes{From: "test", Gateways: []model.GatewayProbe{{Outcome: model.ProbeOK}}}
}

func (r *recorder) AWSNetwork(context.Context, *model.Fleet, Request) *model.AWSNetwork {
	r.step("aws")
	return &model.AWSNetwork{Skipped: "test"}
}

func (r *recorder) PrivateCA(_ context.Context, req Request) *model.AWSPrivateCA {
	r.step("pca")
	return &model.AWSPrivateCA{ARN: req.PCAARN}
}

func (r *recorder) Clients() Clients { return nil }

func (r *recorder) Registry(Request) *checks.Registry {
	r.step("registry")
	cat, err := checks.LoadCatalog([]byte(`
checks:
- {id: MF1001, area: topology, title: t, severity: error, explanation: e, remediation: r}
`))
	if err != nil {
		panic(err)
	}
	reg, err := checks.NewRegistry(cat, checks.Func{CheckID: "MF1001", Fn: func(f *model.Fleet) []checks.Finding {
		r.step("check")
		return nil
	}})
	if err != nil {
		panic(err)
	}
	return reg
}

func (r *recorder) Identify(c *model.Cluster) checks.ClusterSummary {
	r.step("identify " + c.Context)
	return checks.ClusterSummary{Role: "primary"}
}

func (r *recorder) Trust(*model.Fleet, Request) *model.TrustMatrix {
	r.step("trust")
	return &model.TrustMatrix{}
}

func (r *recorder) Mesh(*model.Fleet) *checks.MeshOverview {
	r.step("mesh")
	return &checks.MeshOverview{}
}

func (r *recorder) Stage(what string) func() {
	r.step("stage " + what)
	return func() {}
}

func (r *recorder) Chose(chosen []checks.ContextChoice) { r.step(fmt.Sprintf("chose %d", len(chosen))) }

// One run takes its steps in order: choose, say so, collect what was
// chosen, probe and read AWS (in either order: they run together), then
// the checks and the report; the probes and AWS land on the fleet.
func TestDiagnoseOrder(t *testing.T) {
	r := &recorder{reachable: map[string]bool{"east": true}}
	s := Service{Open: r.open, Judge: r}
	req := Request{Contexts: []string{"east", "west"}, ReadAWS: true, PCAARN: "arn:pca", Checks: &checks.Selection{}, TrustMatrix: true}
	res, err := s.Diagnose(context.Background(), req, r)
	if err != nil {
		t.Fatal(err)
	}
	steps := r.steps
	// The probe phase's three reads run together: compare them as a set.
	i := slices.Index(steps, "collect east,west") + 1
	if i == 0 || len(steps) < i+4 {
		t.Fatalf("no probe phase in %q", steps)
	}
	phase := slices.Clone(steps[i : i+4])
	slices.Sort(phase)
	steps = slices.Concat(steps[:i], []string{"(probe phase)"}, steps[i+4:])
	want := []string{"open reread=false", "stage finding the mesh's clusters…", "choose", "chose 2",
		"stage reading 2 clusters…", "collect east,west", "(probe phase)",
		"registry", "check", "identify east", "mesh", "trust"}
	if !slices.Equal(steps, want) {
		t.Errorf("steps\n%q\nwant\n%q", steps, want)
	}
	if wantPhase := []string{"aws", "pca", "probe", "stage probing east-west gateways, remote credentials and istiod…"}; !slices.Equal(phase, wantPhase) {
		t.Errorf("probe phase %q, want the probes and both AWS reads", phase)
	}
	f := res.Fleet
	if f.Probes == nil || f.AWSNetwork == nil || f.AWSPrivateCA == nil || f.AWSPrivateCA.ARN != "arn:pca" {
		t.Errorf("the probe phase's results are not on the fleet: %+v", f)
	}
	if res.Report == nil || len(res.Report.Clusters) != 2 || res.Report.Reachability == nil || res.Report.Trust == nil || res.Report.Mesh == nil {
		t.Errorf("report %+v", res.Report)
	}
	if res.Report.Clusters[1].Role != "unknown" {
		t.Errorf("unreachable west summarized as %+v, want role unknown and not identified", res.Report.Clusters[1])
	}
}

// What the request leaves out does not run: no probes with NoProbes, no
// AWS without ReadAWS or an ARN, no checks without Checks; and nothing
// after the read when no cluster answered.
func TestDiagnoseSkips(t *testing.T) {
	for _, tc := range []struct {
		name      string
		req       Request
		reachable bool
		absent    []string
	}{
		{"read only", Request{Contexts: []string{"east"}, NoProbes: true}, true, []string{"probe", "aws", "pca", "registry", "identify east"}},
		{"nothing reachable", Request{Contexts: []string{"east"}, ReadAWS: true, Checks: &checks.Selection{}}, false, []string{"probe", "aws", "identify east", "mesh", "trust"}},
	} {
		r := &recorder{reachable: map[string]bool{"east": tc.reachable}}
		res, err := Service{Open: r.open, Judge: r}.Diagnose(context.Background(), tc.req, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.absent {
			if slices.Contains(r.steps, s) {
				t.Errorf("%s: %q ran: %q", tc.name, s, r.steps)
			}
		}
		if (res.Report != nil) != (tc.req.Checks != nil) {
			t.Errorf("%s: report %v with checks %v", tc.name, res.Report, tc.req.Checks)
		}
	}
	r := &recorder{}
	if _, err := (Service{Open: r.open, Judge: r}).Diagnose(context.Background(), Request{}, nil); err != ErrNoContexts {
		t.Errorf("no contexts: %v, want ErrNoContexts", err)
	}
}

// The re-check opens a fresh reader, reads the contexts, probes and runs
// only the checks it is given.
func TestRecheck(t *testing.T) {
	r := &recorder{reachable: map[string]bool{"east": true}}
	res := Service{Open: r.open, Judge: r}.Recheck(context.Background(), Request{}, []string{"east"}, []checks.ID{"MF1001"}, nil)
	want := []string{"open reread=true", "collect east", "probe", "registry", "check"}
	if !slices.Equal(r.steps, want) {
		t.Errorf("steps %q, want %q", r.steps, want)
	}
	if len(res.Findings) != 0 {
		t.Errorf("findings %+v", res.Findings)
	}
}

// The live reader against an API server that accepts and never answers:
// the run ends by --timeout (plus slack for a loaded machine), the cluster
// is in the report as unreachable with why, and the probe phase's deadline
// is one instant, --probe-timeout after its first caller.
func TestLiveRunKeepsItsDeadline(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer hang.Close()
	defer close(release)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- {name: hang, cluster: {server: %q, insecure-skip-tls-verify: true}}
users:
- {name: admin, user: {token: t}}
contexts:
- {name: hang, context: {cluster: hang, user: admin}}
current-context: hang
`, hang.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	const timeout = time.Second
	req := Request{Flags: kube.ForKubeconfig(kubeconfig), Contexts: []string{"hang"}, Timeout: timeout,
		ProbeTimeout: 2 * timeout, IstioNamespace: "istio-system", Checks: &checks.Selection{}}
	start := time.Now()
	res, err := Live().Diagnose(context.Background(), req, nil)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("the run took %s, want within --timeout %s (+2s)", elapsed, timeout)
	}
	c := res.Fleet.Cluster("hang")
	if c == nil || c.Reachable || c.Error == "" {
		t.Fatalf("hang: %+v, want unreachable with why", c)
	}
	if len(res.Report.Clusters) != 1 || res.Report.Clusters[0].Error == "" {
		t.Errorf("report clusters %+v", res.Report.Clusters)
	}

	l := OpenLive(req, false).(*live)
	first := l.probeDeadline(req)
	time.Sleep(10 * time.Millisecond)
	if again := l.probeDeadline(req); !again.Equal(first) {
		t.Errorf("the probe phase's deadline moved from %v to %v", first, again)
	}
	if d := time.Until(first); d > 2*timeout || d < timeout {
		t.Errorf("probe deadline %s away, want about --probe-timeout %s", d, 2*timeout)
	}
}

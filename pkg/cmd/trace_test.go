package cmd

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
	"github.com/meshfed/kubectl-meshfed/pkg/trace"
)

// TestTraceCommand: trace follows the mesh from --from, asks the source's
// istiod for a sidecar of --from-namespace on the port given, and, when a
// hop cannot be observed (here the destinations' policies: the fake read
// has no clients), exits 3 with that hop unknown, never OK. Bad arguments
// are the tool failing.
func TestTraceCommand(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", nil)
	m.cluster("west", nil)
	for _, c := range m.clusters {
		c.IstioNamespace = "istio-system"
		c.Services = []model.Service{{Meta: model.Meta{Namespace: "sample", Name: "helloworld"}, Ports: []model.ServicePort{{Port: 5000}, {Port: 5001}}}}
	}
	m.clusters["west"].EndpointSlices = []model.EndpointSlice{{Meta: model.Meta{Namespace: "sample", Name: "helloworld-x"}, Service: "helloworld",
		Addresses: []string{"10.2.0.5"}, Ready: 1}}
	var asked []probe.SidecarAsk
	b := m.backend()
	b.SidecarViews = func(_ context.Context, _ *model.Fleet, _ probe.Options, asks []probe.SidecarAsk) []model.SidecarView {
		asked = asks
		return []model.SidecarView{{Context: asks[0].Context, Namespace: asks[0].Namespace, Port: asks[0].Services[0].Ports[0], Error: "xDS: no answer by the deadline"}}
	}
	r := run(t, b, "trace", "helloworld.sample:5001", "--from", "east", "--from-namespace", "jobs", "-o", "json")
	r.expect(t, ExitFailed, "")
	if m.target.Flags.Context() != "east" {
		t.Errorf("the mesh was followed from %q, want east", m.target.Flags.Context())
	}
	if len(asked) != 1 || asked[0].Context != "east" || asked[0].Namespace != "jobs" || asked[0].Services[0].Ports[0] != 5001 {
		t.Errorf("asked %+v", asked)
	}
	var doc trace.Trace
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if doc.Verdict != trace.Unknown || len(doc.Hops) != 7 {
		t.Fatalf("verdict %s with %d hops", doc.Verdict, len(doc.Hops))
	}
	for _, h := range doc.Hops {
		if (h.Name == trace.HopProxy || h.Name == trace.HopPolicy) && h.Status != trace.Unknown {
			t.Errorf("hop %s is %s with no view and no policies read", h.Name, h.Status)
		}
	}
	r = run(t, b, "trace", "helloworld.sample", "--from", "east")
	if r.code != ExitFailed || !strings.Contains(r.stdout, "? 3 proxy") || !strings.Contains(r.stdout, "cannot tell:") {
		t.Errorf("text (exit %d):\n%s", r.code, r.stdout)
	}
	run(t, b, "trace", "helloworld", "--from", "east").expect(t, ExitFailed, "NAME.NAMESPACE")
	run(t, b, "trace", "helloworld.sample:http", "--from", "east").expect(t, ExitFailed, "port number")
	run(t, b, "trace", "nothere.sample", "--from", "east").expect(t, ExitFailed, "no cluster read has a Service sample/nothere")
	run(t, b, "trace", "helloworld.sample", "--from", "east", "--contexts", "west").expect(t, ExitFailed, "--contexts must include --from")
	run(t, b, "trace", "helloworld.sample", "--from", "east", "-o", "sarif").expect(t, ExitFailed, "")
}

// TestTraceFromBundle: trace --bundle walks the call over a dump, says so,
// and what the bundle does not hold (here istiod's answer for this
// sidecar, and policies the fake dump could not read) is unknown, never
// OK. Flags that choose or read clusters are refused with --bundle.
func TestTraceFromBundle(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", nil)
	m.cluster("west", nil)
	for _, c := range m.clusters {
		c.IstioNamespace = "istio-system"
		c.Services = []model.Service{{Meta: model.Meta{Namespace: "sample", Name: "helloworld"}, Ports: []model.ServicePort{{Port: 5000}}}}
	}
	path := filepath.Join(t.TempDir(), "mesh.tar.gz")
	run(t, m.backend(), "dump", "--contexts", "east,west", "-o", path).expect(t, ExitOK, "")

	r := run(t, DefaultBackend(), "trace", "helloworld.sample", "--from", "west", "--bundle", path, "-o", "json")
	if r.code == ExitOK {
		t.Errorf("exit 0 with hops not observed")
	}
	var doc trace.Trace
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if doc.From != "west" || doc.Offline == nil || len(doc.Offline.Bundles) != 1 || doc.Offline.Bundles[0].File != path {
		t.Errorf("from %s, offline %+v; want west, from %s", doc.From, doc.Offline, path)
	}
	for _, h := range doc.Hops {
		if h.Name == trace.HopProxy && (h.Status != trace.Unknown || !strings.Contains(h.Summary, "not in the bundle")) {
			t.Errorf("hop proxy: %s %q, want unknown, not in the bundle", h.Status, h.Summary)
		}
		if h.Status == trace.OK && (h.Name == trace.HopProxy || h.Name == trace.HopPolicy) {
			t.Errorf("hop %s is OK without its observation", h.Name)
		}
	}
	text := run(t, DefaultBackend(), "trace", "helloworld.sample", "--bundle", path)
	if !strings.Contains(text.stdout, "trace helloworld.sample.svc.cluster.local:5000 from east") || !strings.Contains(text.stdout, "from bundle: "+path) {
		t.Errorf("text without --from starts from the bundle's first context and names the bundle:\n%s", text.stdout)
	}
	run(t, DefaultBackend(), "trace", "helloworld.sample", "--from", "east", "--bundle", path, "--timeout", "1s").expect(t, ExitFailed, "--timeout cannot be used with --bundle")
}

package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// TestEndpointsCommand: the command asks for every chosen cluster's
// sidecar, the Service's ports, and names each endpoint's origin from the
// clusters read; a view istiod did not give is shown as unknown; a
// service no cluster has is the tool failing.
func TestEndpointsCommand(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", nil)
	m.cluster("west", nil)
	for _, c := range m.clusters {
		c.IstioNamespace = "istio-system"
		c.Deployments = []model.Workload{{Meta: model.Meta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}}}
	}
	m.clusters["east"].Services = []model.Service{{Meta: model.Meta{Namespace: "sample", Name: "helloworld"}, Ports: []model.ServicePort{{Port: 5000}}}}
	m.clusters["west"].EndpointSlices = []model.EndpointSlice{{Meta: model.Meta{Namespace: "sample", Name: "helloworld-x"}, Service: "helloworld",
		Addresses: []string{"10.2.0.5"}, Ready: 1, Pods: map[string]string{"10.2.0.5": "helloworld-v1-w"}}}
	var asked []probe.SidecarAsk
	b := m.backend()
	b.SidecarViews = func(_ context.Context, _ *model.Fleet, _ probe.Options, asks []probe.SidecarAsk) []model.SidecarView {
		asked = asks
		var out []model.SidecarView
		for _, a := range asks {
			v := model.SidecarView{Context: a.Context, Namespace: a.Namespace, Service: "helloworld.sample.svc.cluster.local", Port: a.Services[0].Ports[0],
				Cluster: "outbound|5000||helloworld.sample.svc.cluster.local"}
			if a.Context == "west" {
				v.Error = "xDS: no answer by the deadline"
			} else {
				v.Endpoints = []model.XDSEndpoint{{Address: "10.2.0.5", Port: 5000, Locality: "r/z/", Weight: 1, Health: "HEALTHY"},
					{Address: "192.0.2.9", Port: 15443, Health: "HEALTHY"}}
			}
			out = append(out, v)
		}
		return out
	}
	r := run(t, b, "endpoints", "helloworld.sample", "--contexts", "east,west", "-o", "json")
	r.expect(t, ExitOK, "")
	if len(asked) != 2 || asked[0].Context != "east" || asked[1].Context != "west" || asked[0].Services[0].Ports[0] != 5000 || asked[0].Namespace != "sample" {
		t.Errorf("asked %+v", asked)
	}
	var doc render.SidecarViews
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if len(doc.Views) != 2 || len(doc.Views[0].Endpoints) != 2 {
		t.Fatalf("views %+v", doc.Views)
	}
	if o := doc.Views[0].Endpoints[0].From; o.Kind != "pod" || o.Context != "west" || o.Name != "sample/helloworld-v1-w" {
		t.Errorf("origin of 10.2.0.5: %+v", o)
	}
	if o := doc.Views[0].Endpoints[1].From; o.Kind != "unknown" {
		t.Errorf("origin of an address no cluster holds: %+v", o)
	}
	r = run(t, b, "endpoints", "helloworld.sample", "--contexts", "east,west")
	r.expect(t, ExitOK, "")
	if !strings.Contains(r.stdout, "pod sample/helloworld-v1-w in west") || !strings.Contains(r.stdout, "? unknown: xDS: no answer by the deadline") {
		t.Errorf("text:\n%s", r.stdout)
	}
	run(t, b, "endpoints", "nothere.sample", "--contexts", "east").expect(t, ExitFailed, "no cluster read has a Service sample/nothere")
	run(t, b, "endpoints", "helloworld", "--contexts", "east").expect(t, ExitFailed, "NAME.NAMESPACE")
	run(t, b, "endpoints", "helloworld.sample", "--port", "5001", "--contexts", "east").expect(t, ExitFailed, "with port 5001")
}

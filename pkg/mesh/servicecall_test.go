package mesh

import (
	"slices"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The API server's and kube-proxy's way to a Service: the Service port's
// name picks the slice port (a selectorless Service's targetPort is not
// what kube-proxy uses); an ExternalName is called on the port as given;
// headless Services and Services without endpoints cannot be called.
func TestResolveServiceCall(t *testing.T) {
	svc := model.Service{Meta: model.Meta{Namespace: "istio-system", Name: "istiod"}, Type: "ClusterIP", ClusterIP: "10.2.0.9",
		Ports: []model.ServicePort{{Name: "tcp-istiod", Port: 15012}, {Name: "tcp-webhook", Port: 443, TargetPort: "15017"}}}
	slice := model.EndpointSlice{Meta: model.Meta{Namespace: "istio-system", Name: "istiod"}, Service: "istiod",
		Addresses: []string{"192.0.2.7"}, Ports: []model.EndpointPort{{Name: "tcp-istiod", Port: 15012}, {Name: "tcp-webhook", Port: 16017}}}
	c := &model.Cluster{Context: "west", Services: []model.Service{svc}, EndpointSlices: []model.EndpointSlice{slice}}

	call := ResolveServiceCall(c, "istio-system", "istiod", 443)
	if !slices.Equal(call.Targets, []string{"192.0.2.7:16017"}) || call.ServerName != "istiod.istio-system.svc" || call.Local || call.Problem != "" {
		t.Errorf("ClusterIP: %+v, want 192.0.2.7:16017 (the slice port named tcp-webhook) as istiod.istio-system.svc", call)
	}
	if call := ResolveServiceCall(c, "istio-system", "istiod", 8443); !strings.Contains(call.Problem, "no port 8443") {
		t.Errorf("a port the Service lacks: %+v", call)
	}
	if call := ResolveServiceCall(c, "istio-system", "nowhere", 443); !strings.Contains(call.Problem, "no Service") {
		t.Errorf("no Service: %+v", call)
	}

	c.Services[0].Type, c.Services[0].ExternalName, c.Services[0].ClusterIP = "ExternalName", "istiod.example.com", ""
	if call := ResolveServiceCall(c, "istio-system", "istiod", 443); !slices.Equal(call.Targets, []string{"istiod.example.com:443"}) {
		t.Errorf("ExternalName: %+v, want istiod.example.com:443 (the webhook's port, no targetPort)", call)
	}

	c.Services[0].Type, c.Services[0].ExternalName, c.Services[0].ClusterIP, c.Services[0].Headless = "ClusterIP", "", "None", true
	if call := ResolveServiceCall(c, "istio-system", "istiod", 443); !strings.Contains(call.Problem, "headless") {
		t.Errorf("headless: %+v", call)
	}

	c.Services[0].ClusterIP, c.Services[0].Headless = "10.2.0.9", false
	c.Services[0].Selector = map[string]string{"app": "istiod"}
	if call := ResolveServiceCall(c, "istio-system", "istiod", 443); !call.Local {
		t.Errorf("a Service selecting pods: %+v, want Local", call)
	}
	c.EndpointSlices = nil
	if call := ResolveServiceCall(c, "istio-system", "istiod", 443); !strings.Contains(call.Problem, "no endpoint") {
		t.Errorf("no endpoints: %+v", call)
	}
}

package probe

import (
	"fmt"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// TestDoctorAsks: failover hosts first, then services with ready endpoints
// in more than one cluster, by name, at most DoctorServices, asked for
// every Istio cluster; a service ready in one cluster only, in Istio's
// namespace, or whose pods are gateways, is not asked.
func TestDoctorAsks(t *testing.T) {
	cluster := func(name string, services ...string) *model.Cluster {
		c := &model.Cluster{Context: name, Reachable: true, IstioNamespace: "istio-system",
			Deployments: []model.Workload{{Meta: model.Meta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}}}}
		for _, s := range services {
			ns, n := "sample", s
			if s == "istiod" {
				ns = "istio-system"
			}
			c.Services = append(c.Services, model.Service{Meta: model.Meta{Namespace: ns, Name: n}, Ports: []model.ServicePort{{Port: 80}}})
			c.EndpointSlices = append(c.EndpointSlices, model.EndpointSlice{Meta: model.Meta{Namespace: ns, Name: n + "-x"}, Service: n, Ready: 1})
		}
		return c
	}
	var many []string
	for i := range 6 {
		many = append(many, fmt.Sprintf("m%d", i))
	}
	east := cluster("east", append([]string{"only-east", "zz-failover", "istiod"}, many...)...)
	west := cluster("west", append([]string{"istiod"}, many...)...)
	east.DestinationRules = []model.DestinationRule{{Meta: model.Meta{Namespace: "sample", Name: "dr"}, Host: "zz-failover.sample.svc.cluster.local",
		TrafficPolicy: &model.TrafficPolicy{OutlierDetection: true, Locality: &model.LocalityPolicy{Failover: []model.LocalityFailover{{From: "a", To: "b"}}}}}}
	for _, c := range []*model.Cluster{east, west} {
		// An ingress gateway outside Istio's namespace (istio-on-eks puts
		// them in istio-ingress), ready in both: a gateway, not asked.
		gw := model.Meta{Namespace: "istio-ingress", Name: "istio-ingressgateway"}
		c.Services = append(c.Services, model.Service{Meta: gw, Ports: []model.ServicePort{{Port: 80}}})
		c.EndpointSlices = append(c.EndpointSlices, model.EndpointSlice{Meta: model.Meta{Namespace: gw.Namespace, Name: gw.Name + "-x"},
			Service: gw.Name, Ready: 1, Pods: map[string]string{"10.0.0.9": "istio-ingressgateway-1"}})
		c.Pods = append(c.Pods, model.Workload{Meta: model.Meta{Namespace: gw.Namespace, Name: "istio-ingressgateway-1"},
			Containers: []model.Container{{Name: "istio-proxy", Args: []string{"proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local"}}}})
	}
	asks := DoctorAsks(&model.Fleet{IstioNamespace: "istio-system", Clusters: []*model.Cluster{east, west}})
	var got []string
	for _, a := range asks {
		if a.Namespace != "sample" {
			t.Errorf("%s: a sidecar in %s", a.Context, a.Namespace)
		}
		for _, sp := range a.Services {
			got = append(got, a.Context+" "+sp.Service.Namespace+"/"+sp.Service.Name)
		}
	}
	if len(asks) != 2 {
		t.Errorf("%d asks, want one stream per cluster and namespace (2)", len(asks))
	}
	want := []string{"east sample/zz-failover", "east sample/m0", "east sample/m1", "east sample/m2",
		"west sample/zz-failover", "west sample/m0", "west sample/m1", "west sample/m2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("asks\n got  %q\n want %q", got, want)
	}
}

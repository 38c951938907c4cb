package mesh

import (
	"slices"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func TestMinorVersion(t *testing.T) {
	for in, want := range map[string][2]int{"1.28.2": {1, 28}, "v1.27.0": {1, 27}, "1.29-dev": {1, 29}, "1.28.0-distroless": {1, 28}} {
		ma, mi, ok := MinorVersion(in)
		if !ok || ma != want[0] || mi != want[1] {
			t.Errorf("MinorVersion(%q) = %d, %d, %v", in, ma, mi, ok)
		}
	}
	for _, in := range []string{"latest", "", "sha256", "x.y"} {
		if _, _, ok := MinorVersion(in); ok {
			t.Errorf("MinorVersion(%q) parsed", in)
		}
	}
}

func TestNetworkGatewaysAsIstiodFindsThem(t *testing.T) {
	c := &model.Cluster{Context: "east", IstioNamespace: "istio-system", Reachable: true}
	err := fleet.AddManifests(c, []byte(`apiVersion: v1
kind: Service
metadata: {name: custom-port, namespace: gw, labels: {topology.istio.io/network: n1, networking.istio.io/gatewayPort: "16443"}}
spec: {type: LoadBalancer, ports: [{name: tls, port: 16443}]}
status: {loadBalancer: {ingress: [{hostname: a.elb.amazonaws.com}]}}
---
apiVersion: v1
kind: Service
metadata: {name: hbone-only, namespace: gw, labels: {topology.istio.io/network: n1}}
spec: {type: LoadBalancer, ports: [{name: hbone, port: 15008}]}
---
apiVersion: v1
kind: Service
metadata: {name: labelled-no-port, namespace: gw, labels: {topology.istio.io/network: n1}}
spec: {type: LoadBalancer, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: nodeport, namespace: gw, labels: {topology.istio.io/network: n1}}
spec: {type: NodePort, ports: [{name: tls, port: 15443}]}
status: {loadBalancer: {ingress: [{ip: 192.0.2.9}]}}
---
apiVersion: v1
kind: Service
metadata: {name: external-ips, namespace: gw, labels: {topology.istio.io/network: n2}}
spec: {type: LoadBalancer, externalIPs: [198.51.100.7, 192.0.2.10], ports: [{name: tls, port: 15443}]}
status: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}
---
apiVersion: v1
kind: Service
metadata: {name: clusterip-external-ips, namespace: gw, labels: {topology.istio.io/network: n3}}
spec: {type: ClusterIP, externalIPs: [198.51.100.8], ports: [{name: tls, port: 15443}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]NetworkGateway{}
	for _, g := range NetworkGateways(c) {
		got[g.Service.Name] = g
	}
	if len(got) != 5 {
		t.Fatalf("gateways %v: want custom-port, hbone-only, nodeport, external-ips, clusterip-external-ips", got)
	}
	if g := got["custom-port"]; g.Port != 16443 || len(g.Addresses) != 1 || IsIP(g.Addresses[0]) {
		t.Errorf("custom-port %+v", g)
	}
	if g := got["hbone-only"]; g.Port != 0 {
		t.Errorf("hbone-only has mTLS port %d", g.Port)
	}
	if g := got["nodeport"]; len(g.Addresses) != 0 {
		t.Errorf("a NodePort Service's LB status is not read by istiod: %+v", g)
	}
	// istiod adds spec.externalIPs after the load balancer's addresses,
	// whatever the Service's type (kube/conversion.go).
	if g := got["external-ips"]; !slices.Equal(g.Addresses, []string{"192.0.2.10", "198.51.100.7"}) {
		t.Errorf("external-ips: addresses %v, want the LB's then the externalIPs not already there", g.Addresses)
	}
	if g := got["clusterip-external-ips"]; !slices.Equal(g.Addresses, []string{"198.51.100.8"}) {
		t.Errorf("clusterip-external-ips: addresses %v", g.Addresses)
	}
}

func TestWorkloadNetwork(t *testing.T) {
	c := &model.Cluster{Namespaces: []model.Namespace{{Meta: model.Meta{Name: "gw", Labels: map[string]string{NetworkLabel: "from-ns"}}}}}
	w := model.Workload{Meta: model.Meta{Namespace: "gw", Labels: map[string]string{NetworkLabel: "from-label"}}}
	if n, _ := WorkloadNetwork(c, w); n != "from-label" {
		t.Errorf("label: %q", n)
	}
	w.Labels = nil
	w.Containers = []model.Container{{Env: map[string]string{"ISTIO_META_NETWORK": "from-env"}}}
	if n, _ := WorkloadNetwork(c, w); n != "from-env" {
		t.Errorf("env: %q", n)
	}
	w.Containers = nil
	if n, src := WorkloadNetwork(c, w); n != "from-ns" || src == "" {
		t.Errorf("namespace: %q %q", n, src)
	}
}

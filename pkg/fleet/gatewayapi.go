package fleet

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// fromGatewayAPIGateway reduces a Gateway API Gateway to its class,
// addresses and listeners (what istiod's network manager reads:
// pilot/pkg/serviceregistry/kube/controller/network.go, handleGatewayResource).
func fromGatewayAPIGateway(u *unstructured.Unstructured) model.GatewayAPIGateway {
	g := model.GatewayAPIGateway{Meta: model.Meta{Namespace: u.GetNamespace(), Name: u.GetName(), UID: string(u.GetUID()), Labels: u.GetLabels()}}
	g.ClassName, _, _ = unstructured.NestedString(u.Object, "spec", "gatewayClassName")
	addrs, _, _ := unstructured.NestedSlice(u.Object, "spec", "addresses")
	for _, a := range addrs {
		m, ok := a.(map[string]any)
		if !ok {
			continue
		}
		t, _ := m["type"].(string)
		v, _ := m["value"].(string)
		g.Addresses = append(g.Addresses, model.GatewayAddress{Type: t, Value: v})
	}
	ls, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
	for _, l := range ls {
		m, ok := l.(map[string]any)
		if !ok {
			continue
		}
		out := model.GatewayAPIListener{}
		out.Name, _ = m["name"].(string)
		out.Protocol, _ = m["protocol"].(string)
		if p, ok, _ := unstructured.NestedInt64(m, "port"); ok {
			out.Port = int32(p)
		} else if p, ok := m["port"].(float64); ok {
			out.Port = int32(p)
		}
		out.TLSMode, _, _ = unstructured.NestedString(m, "tls", "mode")
		out.Options, _, _ = unstructured.NestedStringMap(m, "tls", "options")
		g.Listeners = append(g.Listeners, out)
	}
	return g
}

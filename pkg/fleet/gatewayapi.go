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
	saddrs, _, _ := unstructured.NestedSlice(u.Object, "status", "addresses")
	for _, a := range saddrs {
		if m, ok := a.(map[string]any); ok {
			t, _ := m["type"].(string)
			v, _ := m["value"].(string)
			g.StatusAddresses = append(g.StatusAddresses, model.GatewayAddress{Type: t, Value: v})
		}
	}
	g.Programmed, g.ProgrammedReason = condition(u, "Programmed")
	return g
}

// fromGatewayClass reduces a GatewayClass to its controller and whether
// the controller accepted it.
func fromGatewayClass(u *unstructured.Unstructured) model.GatewayClass {
	gc := model.GatewayClass{Meta: model.Meta{Name: u.GetName(), UID: string(u.GetUID()), Labels: u.GetLabels()}}
	gc.Controller, _, _ = unstructured.NestedString(u.Object, "spec", "controllerName")
	gc.Accepted, _ = condition(u, "Accepted")
	return gc
}

// condition returns the status of the named condition of status.conditions
// ("" when there is none) and its reason and message.
func condition(u *unstructured.Unstructured, name string) (status, why string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != name {
			continue
		}
		status, _ = m["status"].(string)
		reason, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		why = reason
		if msg != "" {
			why += ": " + msg
		}
		return status, why
	}
	return "", ""
}

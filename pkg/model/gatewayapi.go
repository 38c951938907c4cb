package model

import "k8s.io/apimachinery/pkg/runtime/schema"

// GatewayAPIGroupVersion is Kubernetes Gateway API's Gateway, the version
// istiod's network manager reads (pilot/pkg/serviceregistry/kube/controller/
// network.go: gvr.KubernetesGateway).
var GatewayAPIGroupVersion = schema.GroupVersion{Group: "gateway.networking.k8s.io", Version: "v1"}

// RemoteGatewayClass is the class of a Gateway API Gateway that only
// declares another network's gateway: nothing is deployed for it, and istiod
// takes its addresses as that network's cross-network gateway
// (istio.io/istio pkg/config/constants: RemoteGatewayClassName).
const RemoteGatewayClass = "istio-remote"

// GatewayAPIGateway is a Gateway API Gateway reduced to what istiod's
// network manager reads of it.
type GatewayAPIGateway struct {
	Meta
	ClassName string               `json:"className"`
	Addresses []GatewayAddress     `json:"addresses,omitempty"`
	Listeners []GatewayAPIListener `json:"listeners,omitempty"`
}

// GatewayAddress is one of spec.addresses.
type GatewayAddress struct {
	Type  string `json:"type,omitempty"` // IPAddress, Hostname, or another; "" when unset
	Value string `json:"value"`
}

// GatewayAPIListener is one of spec.listeners.
type GatewayAPIListener struct {
	Name     string `json:"name"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	TLSMode  string `json:"tlsMode,omitempty"`
	// Options are tls.options (gateway.istio.io/listener-protocol:
	// auto-passthrough makes a Passthrough listener istiod's
	// AUTO_PASSTHROUGH).
	Options map[string]string `json:"options,omitempty"`
}

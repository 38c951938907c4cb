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
	// StatusAddresses are status.addresses: what istiod takes as the
	// address of another network's ambient east-west gateway
	// (pilot/pkg/serviceregistry/ambient/networks.go,
	// remoteK8sGatewayToNetworkGateways), not spec.addresses.
	StatusAddresses []GatewayAddress `json:"statusAddresses,omitempty"`
	// Programmed is the status of the Programmed condition ("True",
	// "False", "Unknown"), "" when the Gateway has none; ProgrammedReason
	// is its reason and message.
	Programmed       string `json:"programmed,omitempty"`
	ProgrammedReason string `json:"programmedReason,omitempty"`
}

// EastWestGatewayClass is the class of ambient's east-west Gateway, which
// istiod deploys and, from a peer cluster, takes as that network's
// gateway (istio.io/istio pkg/config/constants: EastWestGatewayClassName;
// istiod writes the GatewayClass itself when AMBIENT_ENABLE_MULTI_NETWORK
// is on: pilot/pkg/config/kube/gatewaycommon/classinfo.go).
const EastWestGatewayClass = "istio-east-west"

// GatewayClass is a Gateway API GatewayClass: its controller and whether
// the controller accepted it.
type GatewayClass struct {
	Meta
	Controller string `json:"controller,omitempty"`
	// Accepted is the status of the Accepted condition, "" when none.
	Accepted string `json:"accepted,omitempty"`
}

// ZtunnelSelector selects ztunnel's DaemonSet as Istio's ztunnel chart
// labels it (manifests/charts/ztunnel/templates/daemonset.yaml).
const ZtunnelSelector = "app.kubernetes.io/name=ztunnel"

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

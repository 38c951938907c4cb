package mesh

import (
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Origin kinds: where an endpoint a sidecar is sent comes from.
const (
	OriginPod     = "pod"     // a pod's address, from a cluster's EndpointSlices
	OriginGateway = "gateway" // a network's east-west gateway
	OriginUnknown = "unknown" // no read cluster explains the address
)

// Origin says where one endpoint of a sidecar's view came from, as far as
// the clusters read tell.
type Origin struct {
	Kind string `json:"kind"`
	// Context is the cluster holding the pod or the gateway Service;
	// Network its network.
	Context string `json:"context,omitempty"`
	Network string `json:"network,omitempty"`
	// Name is the pod (namespace/name, or the EndpointSlice when the
	// address has no pod behind it) or the gateway Service (namespace/name).
	Name string `json:"name,omitempty"`
}

func (o Origin) String() string {
	switch o.Kind {
	case OriginPod:
		return "pod " + o.Name + " in " + o.Context
	case OriginGateway:
		return "east-west gateway of network " + quoteEmpty(o.Network) + " (" + o.Name + " in " + o.Context + ")"
	}
	return "no cluster read explains this address"
}

func quoteEmpty(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// OriginOf says where an endpoint a sidecar was sent for service
// (namespace/name) comes from: an address of the service's EndpointSlices
// in a read cluster (a pod, named by the slice's targetRef), or the
// load-balancer address of a network's east-west gateway on its mTLS port.
// A pod is looked for first: on one flat network a gateway's address is
// never a pod's.
func OriginOf(f *model.Fleet, namespace, service string, e model.XDSEndpoint) Origin {
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, s := range c.EndpointSlices {
			if s.Namespace != namespace || s.Service != service {
				continue
			}
			for _, a := range s.Addresses {
				if a != e.Address {
					continue
				}
				o := Origin{Kind: OriginPod, Context: c.Context, Network: Identify(c).Network, Name: s.Namespace + "/" + s.Name}
				if pod := s.Pods[a]; pod != "" {
					o.Name = s.Namespace + "/" + pod
				}
				return o
			}
		}
	}
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, g := range NetworkGateways(c) {
			if g.Port != 0 && uint32(g.Port) != e.Port {
				continue
			}
			for _, a := range g.Addresses {
				if strings.EqualFold(a, e.Address) {
					return Origin{Kind: OriginGateway, Context: c.Context, Network: g.Network, Name: g.Ref()}
				}
			}
		}
	}
	return Origin{Kind: OriginUnknown}
}

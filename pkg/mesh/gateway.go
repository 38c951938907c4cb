package mesh

import "github.com/meshfed/kubectl-meshfed/pkg/fleet"

// CrossNetworkPort is the east-west gateway's port for mTLS traffic between
// networks (AUTO_PASSTHROUGH, port name "tls").
const CrossNetworkPort = 15443

// EastWestGateways returns the Services of a cluster that act as the
// east-west gateway of network: labelled with the network, in any namespace
// (installs use istio-system, istio-gateways, istio-ingress …), and exposing
// the cross-network port. Found by labels, never by name.
func EastWestGateways(c *fleet.Cluster, network string) []fleet.Service {
	var out []fleet.Service
	for _, s := range c.Services {
		if s.Labels[NetworkLabel] != network {
			continue
		}
		for _, p := range s.Ports {
			if p.Port == CrossNetworkPort {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

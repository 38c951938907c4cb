package mesh

import (
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// CrossNetworkPort is the east-west gateway's port for mTLS traffic between
// networks (AUTO_PASSTHROUGH, port name "tls").
const CrossNetworkPort = 15443

// EastWestGateways returns the Services of a cluster that act as the
// east-west gateway of network: labelled with the network, in any namespace
// (installs use istio-system, istio-gateways, istio-ingress …), and exposing
// the cross-network port. Found by labels, never by name.
func EastWestGateways(c *model.Cluster, network string) []model.Service {
	var out []model.Service
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

// HostsCoverLocal reports whether a Gateway server's hosts admit every
// *.local service name: AUTO_PASSTHROUGH matches the SNI's host against them,
// so "*" or "*.local" (in any namespace, "ns/…") let every service through.
func HostsCoverLocal(hosts []string) bool {
	for _, h := range hosts {
		if i := strings.Index(h, "/"); i >= 0 {
			h = h[i+1:]
		}
		if h == "*" || h == "*.local" {
			return true
		}
	}
	return false
}

// NetworkViewIncludes reports whether an ISTIO_META_REQUESTED_NETWORK_VIEW
// value (a comma-separated list of networks) names network.
func NetworkViewIncludes(view, network string) bool {
	for _, v := range strings.Split(view, ",") {
		if strings.TrimSpace(v) == network {
			return true
		}
	}
	return false
}

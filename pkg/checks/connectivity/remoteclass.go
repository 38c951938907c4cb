package connectivity

import (
	"fmt"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// DiscoverGatewayAPI is istiod's switch for taking Gateway API Gateways
// labelled with a network as that network's cross-network gateways
// (istio.io/istio pilot/pkg/features/pilot.go, MultiNetworkGatewayAPI:
// PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API, on by default in the pinned
// release). Off, istiod starts no informer for Gateways at all
// (pilot/pkg/serviceregistry/kube/controller/network.go, initNetworkManager).
const DiscoverGatewayAPI = "PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API"

// remoteGatewayIgnored (MF3022): a Gateway API Gateway of class
// istio-remote declares where another network's east-west gateway is
// (its addresses, an auto-passthrough listener); nothing is deployed for
// it, and istiod alone uses it, from its own (config) cluster only
// (network.go, handleGatewayResource: discoverRemoteGatewayResources is
// options.ConfigCluster), and only with DiscoverGatewayAPI on. With the
// switch off, the network the Gateway declares has no gateway for that
// istiod: its endpoints are sent to no sidecar of another network
// (istio/istio#58612).
func remoteGatewayIgnored(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		if !c.Reachable || mesh.Identify(c).Role != mesh.RolePrimary {
			continue
		}
		v, set := mesh.IstiodEnv(c, DiscoverGatewayAPI)
		if !set || !isFalse(v) {
			continue
		}
		for _, g := range c.GatewayAPIGateways {
			network := g.Labels[mesh.NetworkLabel]
			if g.ClassName != model.RemoteGatewayClass || network == "" {
				continue
			}
			var addrs, listeners []string
			for _, a := range g.Addresses {
				addrs = append(addrs, a.Value)
			}
			for _, l := range g.Listeners {
				listeners = append(listeners, fmt.Sprintf("%s %d/%s", l.Name, l.Port, l.Protocol))
			}
			out = append(out, checks.NewMF3022(checks.MF3022Subjects{Cluster: c.Context}, checks.Details{
				Object: &checks.ObjectRef{Kind: "Gateway", Namespace: g.Namespace, Name: g.Name},
				Message: fmt.Sprintf("Gateway %s/%s (gatewayClassName %s) in %s declares network %q's cross-network gateway at %s, but istiod in %s has %s=false and reads no Gateway API Gateway: network %q has no gateway for it, and its sidecars are sent nothing of that network",
					g.Namespace, g.Name, g.ClassName, c.Context, network, orNone(strings.Join(addrs, ", ")), c.Context, DiscoverGatewayAPI, network),
				Evidence: []string{
					fmt.Sprintf("Gateway %s/%s: label %s=%s, addresses %s, listeners %s", g.Namespace, g.Name, mesh.NetworkLabel, network, orNone(strings.Join(addrs, ", ")), orNone(strings.Join(listeners, ", "))),
					fmt.Sprintf("istiod in %s: %s=%q (istiod's default is true)", c.Context, DiscoverGatewayAPI, v),
				},
			}))
		}
	}
	return out
}

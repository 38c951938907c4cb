// Package connectivity holds the checks of the paths between networks: the
// east-west gateways and what they expose.
package connectivity

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	meshmembers "github.com/meshfed/kubectl-meshfed/pkg/members"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Checks returns the connectivity checks.
func Checks() []checks.Check {
	return []checks.Check{
		checks.Func{CheckID: checks.MF3001, Fn: networkWithoutGateway},
		checks.Func{CheckID: checks.MF3002, Fn: gatewayWithoutAddress},
		checks.Func{CheckID: checks.MF3003, Fn: portNotTLS},
		checks.Func{CheckID: checks.MF3004, Fn: networkLabels},
		checks.Func{CheckID: checks.MF3005, Fn: requestedNetworkView},
		checks.Func{CheckID: checks.MF3006, Fn: crossNetworkGateway},
		checks.Func{CheckID: checks.MF3007, Fn: duplicateGateway},
		checks.Func{CheckID: checks.MF3008, Fn: hostnameGateways},
		checks.Func{CheckID: checks.MF3009, Fn: meshNetworksAgree},
		checks.Func{CheckID: checks.MF3010, Fn: istiodExposed},
		checks.Func{CheckID: checks.MF3011, Fn: podCIDRsOverlap},
		checks.Func{CheckID: checks.MF3012, Fn: gatewayUnreachable},
		checks.Func{CheckID: checks.MF3013, Fn: gatewayUntrusted},
		checks.Func{CheckID: checks.MF3014, Fn: tlsTerminated},
		checks.Func{CheckID: checks.MF3015, Fn: remoteWebhook},
		checks.Func{CheckID: checks.MF3016, Fn: istiodPath},
		checks.Func{CheckID: checks.MF3020, Fn: headlessAcrossNetworks},
		checks.Func{CheckID: checks.MF3021, Fn: duplicateSubsetChains},
		checks.Func{CheckID: checks.MF3022, Fn: remoteGatewayIgnored},
		checks.Func{CheckID: checks.MF3030, Fn: unlistedGateways},
		checks.Func{CheckID: checks.MF3031, Fn: unknownGateways},
	}
}

// networkWithoutGateway: in a mesh of several networks, every network needs
// an east-west gateway in one of its clusters.
func networkWithoutGateway(f *model.Fleet) []checks.Finding {
	members := map[string][]string{} // network → contexts
	hasGateway := map[string]bool{}
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.Network == "" || id.Role == mesh.RoleNone {
			continue
		}
		members[id.Network] = append(members[id.Network], c.Context)
		if len(mesh.EastWestGateways(c, id.Network)) > 0 {
			hasGateway[id.Network] = true
		}
	}
	if len(members) < 2 {
		return nil // one network: pods reach each other directly
	}
	nets := make([]string, 0, len(members))
	for n := range members {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	var out []checks.Finding
	for _, n := range nets {
		if hasGateway[n] {
			continue
		}
		if maybe := meshmembers.OnNetwork(meshmembers.Of(f), n); len(maybe) > 0 {
			// Its gateway may run in a cluster of the network that was not read.
			out = append(out, checks.NewMF3001(checks.MF3001Subjects{Members: members[n]}, checks.Details{
				Severity: checks.SeverityUnknown,
				Message: fmt.Sprintf("network %q has no east-west gateway in the clusters read (%s); whether one runs in the unread members that are or may be on it is not known: add %s",
					n, strings.Join(members[n], ", "), meshmembers.Describe(maybe)),
				Evidence: []string{fmt.Sprintf("no Service labelled %s=%s exposing port %d in %s", mesh.NetworkLabel, n, mesh.CrossNetworkPort, strings.Join(members[n], ", "))},
			}))
			continue
		}
		out = append(out, checks.NewMF3001(checks.MF3001Subjects{Members: members[n]}, checks.Details{
			Message: fmt.Sprintf("network %q (%s) has no east-west gateway, so no other network can reach it", n, strings.Join(members[n], ", ")),
			Evidence: []string{fmt.Sprintf("networks in the mesh: %s", strings.Join(nets, ", ")),
				fmt.Sprintf("no Service labelled %s=%s exposing port %d in %s", mesh.NetworkLabel, n, mesh.CrossNetworkPort, strings.Join(members[n], ", "))},
		}))
	}
	return out
}

// gatewayWithoutAddress: an east-west gateway whose Service has no
// load-balancer address gives the other networks nothing to dial.
func gatewayWithoutAddress(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.Network == "" {
			continue
		}
		for _, s := range mesh.EastWestGateways(c, id.Network) {
			if len(s.LoadBalancer) > 0 {
				continue
			}
			why := "its load balancer is pending (status.loadBalancer.ingress is empty)"
			if s.Type != "LoadBalancer" {
				why = fmt.Sprintf("it is of type %s, so no load balancer gives it an address", s.Type)
			}
			out = append(out, checks.NewMF3002(checks.MF3002Subjects{Cluster: c.Context}, checks.Details{
				Object:   &checks.ObjectRef{Kind: "Service", Namespace: s.Namespace, Name: s.Name},
				Message:  fmt.Sprintf("the east-west gateway of network %q in %s has no address: %s", id.Network, c.Context, why),
				Evidence: []string{fmt.Sprintf("Service %s/%s type %s, ports %s", s.Namespace, s.Name, s.Type, ports(s))},
			}))
		}
	}
	return out
}

func ports(s model.Service) string {
	var ps []string
	for _, p := range s.Ports {
		ps = append(ps, fmt.Sprintf("%d/%s", p.Port, p.Name))
	}
	return strings.Join(ps, ",")
}

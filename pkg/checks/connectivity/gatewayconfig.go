package connectivity

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func svcRef(s model.Service) *checks.ObjectRef {
	return &checks.ObjectRef{Kind: "Service", Namespace: s.Namespace, Name: s.Name}
}

// gwAt is a network gateway with the cluster it is in and that cluster's identity.
type gwAt struct {
	C  *model.Cluster
	ID mesh.Identity
	G  mesh.NetworkGateway
}

// gateways returns every network gateway of the fleet's readable clusters.
func gateways(f *model.Fleet) []gwAt {
	var out []gwAt
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		id := mesh.Identify(c)
		for _, g := range mesh.NetworkGateways(c) {
			out = append(out, gwAt{c, id, g})
		}
	}
	return out
}

// multiNetwork reports whether the fleet's mesh spans several named networks.
func multiNetwork(f *model.Fleet) bool { return len(mesh.NamedNetworks(f)) > 1 }

// portNotTLS: the gateway's mTLS port must be named tls (or tls-*): Istio
// takes a Service port's protocol from its name, and the multicluster
// manifests, istioctl and load-balancer setups expect it.
func portNotTLS(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, x := range gateways(f) {
		if x.G.Port == 0 {
			continue
		}
		p, _ := mesh.ServicePort(x.G.Service, x.G.Port)
		if p.Name == "tls" || strings.HasPrefix(p.Name, "tls-") {
			continue
		}
		name := p.Name
		if name == "" {
			name = "(no name)"
		}
		out = append(out, checks.NewMF3003(checks.MF3003Subjects{Cluster: x.C.Context}, checks.Details{
			Object:   svcRef(x.G.Service),
			Message:  fmt.Sprintf("port %d of east-west gateway %s in %s is named %s, not tls: its protocol is no longer TLS by name", x.G.Port, x.G.Ref(), x.C.Context, name),
			Evidence: []string{fmt.Sprintf("Service %s ports %s", x.G.Ref(), ports(x.G.Service))},
		}))
	}
	return out
}

// networkLabels: the gateway Service's network label names the network it
// is the gateway of; it must be the cluster's network, and the gateway's
// pods must be on that network too (their label, ISTIO_META_NETWORK, or
// their namespace's label), or the gateway proxy itself believes it is
// elsewhere and sends traffic for its own network to another gateway.
func networkLabels(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, x := range gateways(f) {
		s, nw := x.G.Service, x.G.Network
		if x.ID.Network != "" && x.ID.Network != nw {
			out = append(out, checks.NewMF3004(checks.MF3004Subjects{Cluster: x.C.Context}, checks.Details{
				Object: svcRef(s),
				Message: fmt.Sprintf("east-west gateway %s in %s is labelled for network %s, but the cluster is on network %q: istiod takes it as %s's gateway",
					x.G.Ref(), x.C.Context, checks.Quote(nw, "(none)"), x.ID.Network, checks.Quote(nw, "no network")),
				Evidence: []string{fmt.Sprintf("Service %s label %s=%s", x.G.Ref(), mesh.NetworkLabel, nw),
					fmt.Sprintf("namespace %s label %s=%s", x.C.IstioNamespace, mesh.NetworkLabel, x.ID.Network)},
			}))
		}
		ws := gatewayWorkloads(x.C, s)
		if len(ws) == 0 {
			if len(s.Selector) == 0 {
				continue // a Service without selector (managed elsewhere): nothing to compare
			}
			out = append(out, checks.NewMF3004(checks.MF3004Subjects{Cluster: x.C.Context}, checks.Details{
				Severity: checks.SeverityUnknown,
				Object:   svcRef(s),
				Message:  fmt.Sprintf("no Deployment or Pod labelled istio=… in %s matches the selector of east-west gateway %s, so its pods' network cannot be read", s.Namespace, x.G.Ref()),
				Evidence: []string{"selector " + selectorString(s.Selector)},
			}))
			continue
		}
		for _, w := range ws {
			got, src := mesh.WorkloadNetwork(x.C, w)
			kind := "Pod"
			if w.PodLabels != nil {
				kind = "Deployment"
			}
			switch {
			case got == "":
				out = append(out, checks.NewMF3004(checks.MF3004Subjects{Cluster: x.C.Context}, checks.Details{
					Severity: checks.SeverityWarning,
					Object:   &checks.ObjectRef{Kind: kind, Namespace: w.Namespace, Name: w.Name},
					Message:  fmt.Sprintf("%s %s/%s behind east-west gateway %s has no network (no %s label on it or its namespace, no ISTIO_META_NETWORK)", kind, w.Namespace, w.Name, x.G.Ref(), mesh.NetworkLabel),
					Evidence: []string{fmt.Sprintf("the gateway Service says network %s", checks.Quote(nw, "(none)"))},
				}))
			case got != nw:
				out = append(out, checks.NewMF3004(checks.MF3004Subjects{Cluster: x.C.Context}, checks.Details{
					Object:  &checks.ObjectRef{Kind: kind, Namespace: w.Namespace, Name: w.Name},
					Message: fmt.Sprintf("%s %s/%s behind east-west gateway %s is on network %q, the Service on %s", kind, w.Namespace, w.Name, x.G.Ref(), got, checks.Quote(nw, "none")),
					Evidence: []string{fmt.Sprintf("%s/%s network %q from %s", w.Namespace, w.Name, got, src),
						fmt.Sprintf("Service %s label %s=%s", x.G.Ref(), mesh.NetworkLabel, nw)},
				}))
			}
		}
	}
	return out
}

// requestedNetworkView: in a multi-network mesh the gateway proxy must ask
// istiod for its own network's endpoints only
// (ISTIO_META_REQUESTED_NETWORK_VIEW=<network>); without it the gateway
// forwards passthrough traffic to endpoints of other networks it cannot
// reach, or back out through their gateways.
func requestedNetworkView(f *model.Fleet) []checks.Finding {
	if !multiNetwork(f) {
		return nil
	}
	var out []checks.Finding
	for _, x := range gateways(f) {
		for _, w := range gatewayWorkloads(x.C, x.G.Service) {
			v, ok := w.Env(mesh.RequestedNetworkView)
			kind := "Pod"
			if w.PodLabels != nil {
				kind = "Deployment"
			}
			if ok && mesh.NetworkViewIncludes(v, x.G.Network) {
				continue
			}
			msg := fmt.Sprintf("%s %s/%s (east-west gateway of network %q in %s) does not set %s", kind, w.Namespace, w.Name, x.G.Network, x.C.Context, mesh.RequestedNetworkView)
			if ok {
				msg = fmt.Sprintf("%s %s/%s (east-west gateway of network %q in %s) sets %s=%q, which does not name its network", kind, w.Namespace, w.Name, x.G.Network, x.C.Context, mesh.RequestedNetworkView, v)
			}
			out = append(out, checks.NewMF3005(checks.MF3005Subjects{Cluster: x.C.Context}, checks.Details{
				Object:   &checks.ObjectRef{Kind: kind, Namespace: w.Namespace, Name: w.Name},
				Message:  msg,
				Evidence: []string{fmt.Sprintf("gateway Service %s, network %q", x.G.Ref(), x.G.Network)},
			}))
		}
	}
	return out
}

// gatewayWorkloads are the Deployments behind a gateway Service, or its
// Pods when no Deployment was read (one finding per Deployment, not per replica).
func gatewayWorkloads(c *model.Cluster, s model.Service) []model.Workload {
	deps, pods := mesh.SelectedWorkloads(c, s)
	if len(deps) > 0 {
		return deps
	}
	return pods
}

func selectorString(sel map[string]string) string {
	var parts []string
	for k, v := range sel {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// configClusters are where istiod reads the Gateway objects that program a
// cluster's gateway: a primary reads its own; a remote's gateway is
// programmed by its primary's istiod from the primary's cluster, so every
// primary of the fleet is a candidate.
func configClusters(f *model.Fleet, c *model.Cluster, id mesh.Identity) []*model.Cluster {
	if id.Role != mesh.RoleRemote {
		return []*model.Cluster{c}
	}
	var out []*model.Cluster
	for _, p := range f.Clusters {
		if p.Reachable && mesh.Identify(p).Role == mesh.RolePrimary {
			out = append(out, p)
		}
	}
	return out
}

type gwServer struct {
	ctx string
	gw  model.Gateway
	srv model.GatewayServer
}

// passthroughServers returns the Gateway servers, in the config clusters,
// that select the gateway's workloads and listen on its mTLS port.
func passthroughServers(f *model.Fleet, c *model.Cluster, id mesh.Identity, g mesh.NetworkGateway) (matching []gwServer, selects bool) {
	deps, pods := mesh.SelectedWorkloads(c, g.Service)
	var podLabels []map[string]string
	for _, d := range deps {
		podLabels = append(podLabels, d.PodLabels)
	}
	for _, p := range pods {
		podLabels = append(podLabels, p.Labels)
	}
	if len(podLabels) == 0 {
		podLabels = append(podLabels, g.Service.Selector) // the pods carry at least the selector's labels
	}
	for _, cc := range configClusters(f, c, id) {
		for _, gw := range cc.Gateways {
			sel := false
			for _, l := range podLabels {
				if mesh.LabelsMatch(gw.Selector, l) {
					sel = true
				}
			}
			if !sel {
				continue
			}
			selects = true
			for _, s := range gw.Servers {
				if int32(s.Port) == g.Port {
					matching = append(matching, gwServer{cc.Context, gw, s})
				}
			}
		}
	}
	return matching, selects
}

// crossNetworkGateway: in a multi-network mesh, every east-west gateway
// needs a Gateway object that selects it with a server on its mTLS port in
// TLS mode AUTO_PASSTHROUGH for hosts *.local; without it nothing listens on
// 15443 and every cross-network request into this network fails.
func crossNetworkGateway(f *model.Fleet) []checks.Finding {
	if !multiNetwork(f) {
		return nil
	}
	var out []checks.Finding
	for _, x := range gateways(f) {
		if x.G.Port == 0 {
			continue
		}
		servers, selects := passthroughServers(f, x.C, x.ID, x.G)
		ok := false
		var seen []string
		for _, s := range servers {
			if s.srv.TLSMode == "AUTO_PASSTHROUGH" && mesh.HostsCoverLocal(s.srv.Hosts) {
				ok = true
			}
			seen = append(seen, fmt.Sprintf("%s: Gateway %s/%s port %d mode %s hosts %s", s.ctx, s.gw.Namespace, s.gw.Name, s.srv.Port, orNone(s.srv.TLSMode), strings.Join(s.srv.Hosts, ",")))
		}
		if ok {
			continue
		}
		var why string
		switch {
		case len(servers) > 0:
			why = fmt.Sprintf("the Gateway servers on port %d are not AUTO_PASSTHROUGH for *.local", x.G.Port)
		case selects:
			why = fmt.Sprintf("the Gateways that select it have no server on port %d", x.G.Port)
		default:
			why = "no Gateway selects its pods"
		}
		ev := seen
		if len(ev) == 0 {
			ev = []string{"gateway pods selected by " + selectorString(x.G.Service.Selector)}
		}
		out = append(out, checks.NewMF3006(checks.MF3006Subjects{Cluster: x.C.Context}, checks.Details{
			Object:   svcRef(x.G.Service),
			Message:  fmt.Sprintf("east-west gateway %s of network %q in %s does not pass cross-network traffic through: %s", x.G.Ref(), x.G.Network, x.C.Context, why),
			Evidence: ev,
		}))
	}
	return out
}

// duplicateGateway: two Gateway servers selecting the same east-west
// gateway on its mTLS port for the same host conflict; istiod keeps the
// first and skips the other, so which one applies depends on their order.
func duplicateGateway(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, x := range gateways(f) {
		if x.G.Port == 0 {
			continue
		}
		all, _ := passthroughServers(f, x.C, x.ID, x.G)
		servers := sharingHosts(all)
		if len(servers) < 2 {
			continue
		}
		var ev []string
		objs := map[string]bool{}
		for _, s := range servers {
			objs[s.ctx+"/"+s.gw.Namespace+"/"+s.gw.Name] = true
			ev = append(ev, fmt.Sprintf("%s: Gateway %s/%s port %d (%s) mode %s hosts %s", s.ctx, s.gw.Namespace, s.gw.Name, s.srv.Port, s.srv.PortName, orNone(s.srv.TLSMode), strings.Join(s.srv.Hosts, ",")))
		}
		out = append(out, checks.NewMF3007(checks.MF3007Subjects{Cluster: x.C.Context}, checks.Details{
			Object:   svcRef(x.G.Service),
			Message:  fmt.Sprintf("%d Gateway servers (in %d objects) listen on port %d of east-west gateway %s in %s: they conflict", len(servers), len(objs), x.G.Port, x.G.Ref(), x.C.Context),
			Evidence: ev,
		}))
	}
	return out
}

// sharingHosts keeps the servers that name a host another server on the
// same port names too: istiod skips such a server ("duplicate host names",
// pilot/pkg/model MergeGateways), servers for different hosts coexist.
func sharingHosts(servers []gwServer) []gwServer {
	count := map[string]int{}
	for _, s := range servers {
		for _, h := range uniqHosts(s.srv.Hosts) {
			count[h]++
		}
	}
	var out []gwServer
	for _, s := range servers {
		for _, h := range uniqHosts(s.srv.Hosts) {
			if count[h] > 1 {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func uniqHosts(hosts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hosts {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// hostnameGateways: istiod drops a gateway address that is a DNS name
// (an AWS NLB) unless RESOLVE_HOSTNAME_GATEWAYS is on (the default), and
// resolves it only where it runs.
func hostnameGateways(f *model.Fleet) []checks.Finding {
	var off []string
	for _, c := range f.Clusters {
		if !c.Reachable || mesh.Identify(c).Role != mesh.RolePrimary {
			continue
		}
		if v, ok := mesh.IstiodEnv(c, mesh.ResolveHostnameGateways); ok && isFalse(v) {
			off = append(off, c.Context)
		}
	}
	if len(off) == 0 {
		return nil
	}
	var out []checks.Finding
	for _, x := range gateways(f) {
		var names []string
		for _, a := range x.G.Addresses {
			if !mesh.IsIP(a) {
				names = append(names, a)
			}
		}
		if len(names) == 0 {
			continue
		}
		out = append(out, checks.NewMF3008(checks.MF3008Subjects{Cluster: x.C.Context, Primaries: off}, checks.Details{
			Object: svcRef(x.G.Service),
			Message: fmt.Sprintf("east-west gateway %s of network %q has the hostname address %s, but istiod in %s has %s=false: it drops the address (\"Failed parsing gateway address\") and the network is unreachable",
				x.G.Ref(), x.G.Network, strings.Join(names, ", "), strings.Join(off, ", "), mesh.ResolveHostnameGateways),
			Evidence: []string{fmt.Sprintf("status.loadBalancer.ingress of %s: %s", x.G.Ref(), strings.Join(x.G.Addresses, ", "))},
		}))
	}
	return out
}

// isFalse reads a boolean the way istiod's env package does
// (strconv.ParseBool; anything else leaves the default, true).
func isFalse(v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return err == nil && !b
}

// Package ambient holds the checks of ambient mode across clusters: istiod's
// ambient settings, the supported topology, and the istio-east-west Gateway
// each network is reached through. Every check is silent when no cluster
// runs ambient, so a sidecar mesh gets no ambient finding.
package ambient

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Checks returns the ambient checks.
func Checks() []checks.Check {
	return []checks.Check{
		checks.Func{CheckID: checks.MF7001, Fn: multiNetworkOff},
		checks.Func{CheckID: checks.MF7002, Fn: ambientNotEnabled},
		checks.Func{CheckID: checks.MF7003, Fn: unsupportedTopology},
		checks.Func{CheckID: checks.MF7010, Fn: networkWithoutGateway},
		checks.Func{CheckID: checks.MF7011, Fn: gatewayUnusable},
		checks.Func{CheckID: checks.MF7012, Fn: gatewayNotProgrammed},
		checks.Func{CheckID: checks.MF7013, Fn: classMissing},
	}
}

// HBONEPort is ztunnel's HBONE port, the east-west Gateway's listener
// (samples/multicluster/gen-eastwest-gateway.sh --ambient).
const HBONEPort = 15008

// meshView is the ambient reading of the fleet's reachable clusters.
type meshView struct {
	ambient   []*model.Cluster // clusters running ambient (or mixed)
	networks  []string         // the distinct networks of every read cluster ("" for none)
	multiOn   []string         // primaries whose istiod takes AMBIENT_ENABLE_MULTI_NETWORK
	remotes   []string         // remote clusters
	byContext map[string]mesh.Ambient
}

// multiNetworkAmbient are the ambient clusters whose istiod runs
// multi-network: where an east-west Gateway and its class must be.
func (v meshView) multiNetworkAmbient() []*model.Cluster {
	var out []*model.Cluster
	for _, c := range v.ambient {
		if v.byContext[c.Context].MultiNetwork {
			out = append(out, c)
		}
	}
	return out
}

func view(f *model.Fleet) meshView {
	v := meshView{byContext: map[string]mesh.Ambient{}}
	nets := map[string]bool{}
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		a := mesh.DataPlane(c)
		v.byContext[c.Context] = a
		id := mesh.Identify(c)
		if id.Role == mesh.RolePrimary || id.Role == mesh.RoleRemote {
			nets[id.Network] = true
		}
		if id.Role == mesh.RoleRemote {
			v.remotes = append(v.remotes, c.Context)
		}
		if a.IsAmbient() {
			v.ambient = append(v.ambient, c)
		}
		if a.MultiNetwork {
			v.multiOn = append(v.multiOn, c.Context)
		}
	}
	for n := range nets {
		v.networks = append(v.networks, n)
	}
	sort.Strings(v.networks)
	return v
}

// multiNetwork: an ambient mesh meant to span networks — its clusters name
// more than one network, or some primary turned multi-network on.
func (v meshView) multiNetwork() bool {
	return len(v.ambient) > 0 && (len(v.networks) > 1 || len(v.multiOn) > 0)
}

// multiNetworkOff (MF7001): an ambient primary of a multi-network ambient
// mesh whose istiod does not take AMBIENT_ENABLE_MULTI_NETWORK.
func multiNetworkOff(f *model.Fleet) []checks.Finding {
	v := view(f)
	if !v.multiNetwork() {
		return nil
	}
	why := fmt.Sprintf("the mesh's clusters name %d networks (%s)", len(v.networks), strings.Join(names(v.networks), ", "))
	if len(v.multiOn) > 0 {
		why += "; multi-network is on in " + strings.Join(v.multiOn, ", ")
	}
	var out []checks.Finding
	for _, c := range v.ambient {
		a := v.byContext[c.Context]
		// Without PILOT_ENABLE_AMBIENT istiod ignores the setting: MF7002 says so.
		if a.Istiod == "" || !a.IstiodAmbient || a.MultiNetwork {
			continue
		}
		out = append(out, checks.NewMF7001(checks.MF7001Subjects{Primary: c.Context}, checks.Details{
			Object:   &checks.ObjectRef{Kind: "Deployment", Namespace: c.IstioNamespace, Name: strings.TrimPrefix(a.Istiod, c.IstioNamespace+"/")},
			Message:  fmt.Sprintf("istiod %s in %s runs ambient without %s=true, but %s: it treats the mesh as one network", a.Istiod, c.Context, mesh.EnvAmbientMultiNetwork, why),
			Evidence: a.Evidence(),
		}))
	}
	return out
}

// ambientNotEnabled (MF7002): istiod without PILOT_ENABLE_AMBIENT in a
// cluster that has ambient workloads, or with ambient settings it ignores.
func ambientNotEnabled(f *model.Fleet) []checks.Finding {
	v := view(f)
	var out []checks.Finding
	for _, c := range v.ambient {
		a := v.byContext[c.Context]
		if a.Istiod == "" || a.IstiodAmbient {
			continue
		}
		var what []string
		if a.MultiNetworkSet {
			what = append(what, mesh.EnvAmbientMultiNetwork+"=true, which istiod ignores without it")
		}
		if len(a.Ztunnel) > 0 {
			what = append(what, "ztunnel "+strings.Join(a.Ztunnel, ", "))
		}
		if len(a.AmbientNamespaces) > 0 {
			what = append(what, "namespaces labelled for ambient ("+strings.Join(a.AmbientNamespaces, ", ")+")")
		}
		out = append(out, checks.NewMF7002(checks.MF7002Subjects{Primary: c.Context}, checks.Details{
			Object:   &checks.ObjectRef{Kind: "Deployment", Namespace: c.IstioNamespace, Name: strings.TrimPrefix(a.Istiod, c.IstioNamespace+"/")},
			Message:  fmt.Sprintf("istiod %s in %s does not set %s=true, yet the cluster has %s", a.Istiod, c.Context, mesh.EnvEnableAmbient, strings.Join(what, " and ")),
			Evidence: a.Evidence(),
		}))
	}
	return out
}

// unsupportedTopology (MF7003): ambient clusters with remote clusters in
// the mesh, or several ambient clusters sharing one network.
func unsupportedTopology(f *model.Fleet) []checks.Finding {
	v := view(f)
	if len(v.ambient) == 0 {
		return nil
	}
	var out []checks.Finding
	ambient := contexts(v.ambient)
	if len(v.remotes) > 0 {
		members := append(append([]string{}, ambient...), v.remotes...)
		out = append(out, checks.NewMF7003(checks.MF7003Subjects{Members: dedupe(members)}, checks.Details{
			Message: fmt.Sprintf("ambient clusters %s are in a mesh with remote clusters %s: ambient multicluster supports multi-primary only",
				strings.Join(ambient, ", "), strings.Join(v.remotes, ", ")),
			Evidence: []string{"remote clusters (no istiod of their own): " + strings.Join(v.remotes, ", ")},
		}))
	}
	byNet := map[string][]string{}
	for _, c := range v.ambient {
		n := mesh.Identify(c).Network
		byNet[n] = append(byNet[n], c.Context)
	}
	for _, n := range sortedKeys(byNet) {
		if len(byNet[n]) < 2 {
			continue
		}
		out = append(out, checks.NewMF7003(checks.MF7003Subjects{Members: byNet[n]}, checks.Details{
			Message:  fmt.Sprintf("ambient clusters %s share network %s: ambient multicluster supports clusters on separate networks only", strings.Join(byNet[n], ", "), name(n)),
			Evidence: []string{fmt.Sprintf("network %s (the %s label of each cluster's Istio namespace)", name(n), mesh.NetworkLabel)},
		}))
	}
	return out
}

// eastWestGateways are the cluster's Gateways of class istio-east-west.
func eastWestGateways(c *model.Cluster) []model.GatewayAPIGateway {
	var out []model.GatewayAPIGateway
	for _, g := range c.GatewayAPIGateways {
		if g.ClassName == model.EastWestGatewayClass {
			out = append(out, g)
		}
	}
	return out
}

// networkWithoutGateway (MF7010): a network of ambient clusters whose
// istiods run multi-network, where no read cluster holds an istio-east-west
// Gateway labelled with it.
func networkWithoutGateway(f *model.Fleet) []checks.Finding {
	v := view(f)
	if !v.multiNetwork() {
		return nil
	}
	members := map[string][]string{}
	// Where istiod does not take multi-network, MF7001 or MF7002 says
	// why: no gateway would be deployed or used there anyway.
	for _, c := range v.multiNetworkAmbient() {
		n := mesh.Identify(c).Network
		members[n] = append(members[n], c.Context)
	}
	has := map[string]bool{}
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, g := range eastWestGateways(c) {
			has[g.Labels[mesh.NetworkLabel]] = true
		}
	}
	var out []checks.Finding
	for _, n := range sortedKeys(members) {
		if n == "" || has[n] {
			continue // a cluster without a network is MF1003's
		}
		out = append(out, checks.NewMF7010(checks.MF7010Subjects{Members: members[n]}, checks.Details{
			Message: fmt.Sprintf("network %s (%s) has no Gateway of class %s labelled %s=%s: no other network can reach its workloads",
				n, strings.Join(members[n], ", "), model.EastWestGatewayClass, mesh.NetworkLabel, n),
			Evidence: gatewayEvidence(f),
		}))
	}
	return out
}

// gatewayUnusable (MF7011): an istio-east-west Gateway without the network
// label, labelled with another network than its cluster's, or without an
// HBONE listener on 15008 with TLS Terminate.
func gatewayUnusable(f *model.Fleet) []checks.Finding {
	v := view(f)
	if len(v.ambient) == 0 {
		return nil
	}
	var out []checks.Finding
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		network := mesh.Identify(c).Network
		for _, g := range eastWestGateways(c) {
			var wrong []string
			label, labelled := g.Labels[mesh.NetworkLabel]
			switch {
			case !labelled || label == "":
				wrong = append(wrong, "it has no "+mesh.NetworkLabel+" label, so istiod ignores it")
			case network != "" && label != network:
				wrong = append(wrong, fmt.Sprintf("it is labelled network %s, but %s is on network %s", label, c.Context, network))
			}
			if !hasHBONE(g) {
				wrong = append(wrong, fmt.Sprintf("it has no HBONE listener on %d with TLS mode Terminate", HBONEPort))
			}
			if len(wrong) == 0 {
				continue
			}
			out = append(out, checks.NewMF7011(checks.MF7011Subjects{Cluster: c.Context}, checks.Details{
				Object:   &checks.ObjectRef{Kind: "Gateway", Namespace: g.Namespace, Name: g.Name},
				Message:  fmt.Sprintf("east-west Gateway %s/%s in %s: %s", g.Namespace, g.Name, c.Context, strings.Join(wrong, "; ")),
				Evidence: []string{describe(g)},
			}))
		}
	}
	return out
}

// hasHBONE: the listener istiod looks for (protocol HBONE, TLS Terminate),
// on the port ztunnel sends to.
func hasHBONE(g model.GatewayAPIGateway) bool {
	for _, l := range g.Listeners {
		if l.Protocol == "HBONE" && l.TLSMode == "Terminate" && l.Port == HBONEPort {
			return true
		}
	}
	return false
}

// gatewayNotProgrammed (MF7012): an istio-east-west Gateway, in a cluster
// whose istiod runs ambient multi-network, that is not Programmed or has no
// status address. Where istiod does not take multi-network, MF7001 or
// MF7002 says why nothing programs it.
func gatewayNotProgrammed(f *model.Fleet) []checks.Finding {
	v := view(f)
	if !v.multiNetwork() {
		return nil
	}
	var out []checks.Finding
	for _, c := range v.multiNetworkAmbient() {
		for _, g := range eastWestGateways(c) {
			var wrong []string
			if g.Programmed != "True" {
				p := g.Programmed
				if p == "" {
					p = "not set"
				}
				wrong = append(wrong, "condition Programmed is "+p+reason(g.ProgrammedReason))
			}
			if len(usableAddresses(g)) == 0 {
				wrong = append(wrong, "status.addresses holds no IPAddress or Hostname")
			}
			if len(wrong) == 0 {
				continue
			}
			out = append(out, checks.NewMF7012(checks.MF7012Subjects{Cluster: c.Context}, checks.Details{
				Object:   &checks.ObjectRef{Kind: "Gateway", Namespace: g.Namespace, Name: g.Name},
				Message:  fmt.Sprintf("east-west Gateway %s/%s in %s: %s; the other networks' istiods have no address for network %s", g.Namespace, g.Name, c.Context, strings.Join(wrong, "; "), name(g.Labels[mesh.NetworkLabel])),
				Evidence: []string{describe(g)},
			}))
		}
	}
	return out
}

// usableAddresses are the status addresses istiod takes: of type
// IPAddress or Hostname (networks.go skips the others and untyped ones;
// Gateway API's default type is IPAddress, which the API server writes).
func usableAddresses(g model.GatewayAPIGateway) []string {
	var out []string
	for _, a := range g.StatusAddresses {
		if a.Type == "IPAddress" || a.Type == "Hostname" {
			out = append(out, a.Value)
		}
	}
	return out
}

// classMissing (MF7013): a cluster whose istiod runs ambient multi-network
// without the istio-east-west GatewayClass.
func classMissing(f *model.Fleet) []checks.Finding {
	v := view(f)
	if !v.multiNetwork() {
		return nil
	}
	var out []checks.Finding
	for _, c := range v.multiNetworkAmbient() {
		found := false
		var classes []string
		for _, gc := range c.GatewayClasses {
			classes = append(classes, gc.Name)
			found = found || gc.Name == model.EastWestGatewayClass
		}
		if found {
			continue
		}
		ev := "GatewayClasses: none (the Gateway API's CRDs may not be installed)"
		if len(classes) > 0 {
			sort.Strings(classes)
			ev = "GatewayClasses: " + strings.Join(classes, ", ")
		}
		out = append(out, checks.NewMF7013(checks.MF7013Subjects{Cluster: c.Context}, checks.Details{
			Object:   &checks.ObjectRef{Kind: "GatewayClass", Name: model.EastWestGatewayClass},
			Message:  fmt.Sprintf("%s has no GatewayClass %s although its istiod runs ambient multi-network: its east-west Gateway cannot be deployed", c.Context, model.EastWestGatewayClass),
			Evidence: append([]string{ev}, v.byContext[c.Context].Evidence()...),
		}))
	}
	return out
}

func describe(g model.GatewayAPIGateway) string {
	var ls, addrs []string
	for _, l := range g.Listeners {
		ls = append(ls, fmt.Sprintf("%s %d/%s tls %s", l.Name, l.Port, l.Protocol, orNone(l.TLSMode)))
	}
	for _, a := range g.StatusAddresses {
		addrs = append(addrs, a.Value+" ("+orNone(a.Type)+")")
	}
	return fmt.Sprintf("Gateway %s/%s: class %s, label %s=%q, listeners %s, status addresses %s, Programmed %s",
		g.Namespace, g.Name, g.ClassName, mesh.NetworkLabel, g.Labels[mesh.NetworkLabel], orNone(strings.Join(ls, ", ")), orNone(strings.Join(addrs, ", ")), orNone(g.Programmed))
}

func gatewayEvidence(f *model.Fleet) []string {
	var out []string
	for _, c := range f.Clusters {
		for _, g := range eastWestGateways(c) {
			out = append(out, c.Context+": "+describe(g))
		}
	}
	if len(out) == 0 {
		out = []string{"no Gateway of class " + model.EastWestGatewayClass + " in any cluster read"}
	}
	return out
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func name(n string) string {
	if n == "" {
		return "(none)"
	}
	return n
}

func names(ns []string) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = name(n)
	}
	return out
}

func contexts(cs []*model.Cluster) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Context
	}
	return out
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Package aws holds the checks of what AWS says about the mesh: the Private
// CA behind its trust, and the network under its gateways (EKS endpoints,
// NLBs, security groups, VPC ranges and routes). They judge what
// pkg/aws recorded on the fleet and never call AWS themselves.
package aws

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Ports a peer must reach on a gateway: mTLS between networks, and istiod's
// XDS and webhook for the remotes of a primary.
const (
	portXDS     = 15012
	portWebhook = 15017
)

// NetworkChecks returns the checks of the AWS network under the mesh.
func NetworkChecks() []checks.Check {
	return []checks.Check{
		checks.Func{CheckID: checks.MF6010, Fn: endpointAccess},
		checks.Func{CheckID: checks.MF6011, Fn: gatewayScheme},
		checks.Func{CheckID: checks.MF6012, Fn: targetHealth},
		checks.Func{CheckID: checks.MF6013, Fn: gatewaySecurityGroups},
		checks.Func{CheckID: checks.MF6014, Fn: vpcOverlap},
		checks.Func{CheckID: checks.MF6015, Fn: vpcRoutes},
	}
}

// network returns the AWS network to judge, or the findings that stand in
// for it: none when AWS was not asked, one unknown when it was wanted but
// not read.
func network(f *model.Fleet, id checks.ID) (*model.AWSNetwork, []checks.Finding) {
	n := f.AWSNetwork
	if n == nil {
		return nil, nil
	}
	if n.Skipped != "" {
		var ctxs []string
		for _, c := range f.Clusters {
			ctxs = append(ctxs, c.Context)
		}
		return nil, []checks.Finding{ofMembers[id](ctxs, unknown("the AWS network was not read: "+n.Skipped, nil))}
	}
	return n, nil
}

// unknown is what an unknown finding says besides its subjects.
func unknown(msg string, obj *checks.ObjectRef) checks.Details {
	return checks.Details{Severity: checks.SeverityUnknown, Object: obj, Message: msg}
}

// ofMembers builds, for the checks whose shared helpers speak of several
// clusters that stand alike (the whole fleet when AWS was not read or the
// Private CA not described, a pair of clusters on one network), a finding
// with them as its members.
var ofMembers = map[checks.ID]func(members []string, d checks.Details) checks.Finding{
	checks.MF6001: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6001(checks.MF6001Subjects{Members: ms}, d)
	},
	checks.MF6002: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6002(checks.MF6002Subjects{Members: ms}, d)
	},
	checks.MF6003: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6003(checks.MF6003Subjects{Members: ms}, d)
	},
	checks.MF6004: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6004(checks.MF6004Subjects{Members: ms}, d)
	},
	checks.MF6010: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6010(checks.MF6010Subjects{Members: ms}, d)
	},
	checks.MF6011: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6011(checks.MF6011Subjects{Members: ms}, d)
	},
	checks.MF6012: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6012(checks.MF6012Subjects{Members: ms}, d)
	},
	checks.MF6013: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6013(checks.MF6013Subjects{Members: ms}, d)
	},
	checks.MF6014: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6014(checks.MF6014Subjects{Members: ms}, d)
	},
	checks.MF6015: func(ms []string, d checks.Details) checks.Finding {
		return checks.NewMF6015(checks.MF6015Subjects{Members: ms}, d)
	},
}

// ofGateway builds, for the gateway checks, a finding about the one cluster
// whose gateway it judges.
var ofGateway = map[checks.ID]func(cluster string, d checks.Details) checks.Finding{
	checks.MF6011: func(c string, d checks.Details) checks.Finding {
		return checks.NewMF6011(checks.MF6011Subjects{Cluster: c}, d)
	},
	checks.MF6012: func(c string, d checks.Details) checks.Finding {
		return checks.NewMF6012(checks.MF6012Subjects{Cluster: c}, d)
	},
	checks.MF6013: func(c string, d checks.Details) checks.Finding {
		return checks.NewMF6013(checks.MF6013Subjects{Cluster: c}, d)
	},
}

func serviceRef(nsName string) *checks.ObjectRef {
	ns, name, _ := strings.Cut(nsName, "/")
	return &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name}
}

// gatewayPeer is a cluster that dials a gateway, on a port.
type gatewayPeer struct {
	context string
	port    int32
}

// peersOf returns who dials a gateway Service of cluster c: on its mTLS port
// every Istio cluster of another network; on istiod's ports (when the
// Service exposes them) every remote cluster, which reaches a primary's
// istiod through it.
func peersOf(f *model.Fleet, c *model.Cluster, gw model.AWSGateway) []gatewayPeer {
	var svc *model.Service
	for i, s := range c.Services {
		if s.Namespace+"/"+s.Name == gw.Service {
			svc = &c.Services[i]
		}
	}
	var out []gatewayPeer
	for _, o := range f.Clusters {
		if o.Context == c.Context || !o.Reachable {
			continue
		}
		id := mesh.Identify(o)
		if id.Role != mesh.RolePrimary && id.Role != mesh.RoleRemote {
			continue
		}
		if id.Network != gw.Network {
			out = append(out, gatewayPeer{o.Context, mesh.CrossNetworkPort})
		}
		if id.Role == mesh.RoleRemote && svc != nil && mesh.Identify(c).Role == mesh.RolePrimary {
			for _, p := range []int32{portXDS, portWebhook} {
				if _, ok := mesh.ServicePort(*svc, p); ok {
					out = append(out, gatewayPeer{o.Context, p})
				}
			}
		}
	}
	return out
}

// endpointAccess (MF6010): a primary's remote secret names an EKS API
// endpoint; the primary's istiod must reach it from where it runs.
func endpointAccess(f *model.Fleet) []checks.Finding {
	n, out := network(f, checks.MF6010)
	if n == nil {
		return out
	}
	for _, p := range f.Clusters {
		if !p.Reachable || mesh.Identify(p).Role != mesh.RolePrimary {
			continue
		}
		for _, s := range mesh.RemoteSecrets(p) {
			if !s.Read() {
				continue
			}
			for _, e := range s.Entries {
				target := endpointCluster(f, n, e.Server)
				if target == nil || e.Err != "" {
					continue // not an EKS endpoint AWS told us of
				}
				obj := &checks.ObjectRef{Kind: "Secret", Namespace: s.Namespace, Name: s.Name}
				if fd, bad := judgeEndpoint(n, p.Context, target, e.Server); bad {
					fd.Object = obj
					out = append(out, fd)
				}
			}
		}
	}
	return out
}

// endpointCluster returns the EKS cluster whose endpoint is server: by the
// endpoint EKS reported, or, for a cluster EKS could not describe, by the
// server its context uses.
func endpointCluster(f *model.Fleet, n *model.AWSNetwork, server string) *model.AWSCluster {
	for i := range n.Clusters {
		ac := &n.Clusters[i]
		if ac.Endpoint != "" && mesh.SameServer(ac.Endpoint, server) {
			return ac
		}
		if c := f.Cluster(ac.Context); ac.Endpoint == "" && c != nil && mesh.SameServer(c.Server, server) {
			return ac
		}
	}
	return nil
}

// judgeEndpoint decides whether istiod in primary reaches target's API
// endpoint. Inside the target's VPC the endpoint's name resolves to its
// private addresses when private access is on; elsewhere it resolves to
// the public ones when public access is on (then publicAccessCidrs judge
// the caller's egress address), else to the private ones (then the caller
// needs a route into the VPC). Either way, on the private path the
// cluster's security groups must admit 443 from the caller.
func judgeEndpoint(n *model.AWSNetwork, primary string, target *model.AWSCluster, server string) (checks.Finding, bool) {
	about := checks.MF6010Subjects{Primary: primary, Peer: target.Context}
	access := fmt.Sprintf("%s (EKS %s): public access %t, private access %t, publicAccessCidrs %s",
		server, target.Name, target.PublicAccess, target.PrivateAccess, strings.Join(target.PublicAccessCIDRs, ", "))
	from := n.Cluster(primary)
	switch {
	case target.Error != "":
		return checks.NewMF6010(about, unknown(fmt.Sprintf("%s's remote secret names %s, whose EKS cluster could not be read: %s", primary, server, target.Error), nil)), true
	case from == nil || from.Error != "":
		// Where the caller is is not known: only an endpoint open to every
		// address is reachable for sure (its public name answers anywhere).
		if target.PublicAccess && openToAll(target.PublicAccessCIDRs) {
			return checks.Finding{}, false
		}
		return checks.NewMF6010(about, unknown(fmt.Sprintf("whether %s reaches %s's restricted endpoint cannot be judged: %s", primary, target.Context, clusterProblem(primary, from)), nil)), true
	}
	private := target.PrivateAccess && (from.VPC == target.VPC || !target.PublicAccess)
	if !private {
		if !target.PublicAccess {
			return checks.Finding{}, false // unreachable by any path: neither access is on (EKS refuses that)
		}
		if openToAll(target.PublicAccessCIDRs) {
			return checks.Finding{}, false
		}
		src, why := egressSource(n, from)
		if why != "" {
			return checks.NewMF6010(about, unknown(fmt.Sprintf("%s's endpoint %s admits only %s, and %s's egress address is not known: %s", target.Context, server, strings.Join(target.PublicAccessCIDRs, ", "), primary, why), nil)), true
		}
		cidrs := prefixes(target.PublicAccessCIDRs)
		var outside []string
		for _, ip := range src.prefixes {
			if !containsAny(cidrs, ip) {
				outside = append(outside, ip.String())
			}
		}
		if len(outside) == 0 {
			return checks.Finding{}, false
		}
		return checks.NewMF6010(about, checks.Details{Message: fmt.Sprintf("istiod in %s calls %s's public endpoint %s from %s, which its publicAccessCidrs (%s) do not admit",
			primary, target.Context, server, strings.Join(outside, ", "), strings.Join(target.PublicAccessCIDRs, ", ")),
			Evidence: []string{access, fmt.Sprintf("%s egresses through its NAT gateways %s", primary, joinPrefixes(src.prefixes))}}), true
	}
	r := routed(n, from, target.VPC)
	if r.unknown != "" {
		return checks.NewMF6010(about, unknown(fmt.Sprintf("whether %s reaches %s's private endpoint is not known: %s", primary, target.Context, r.unknown), nil)), true
	}
	if !r.ok {
		return checks.NewMF6010(about, checks.Details{Message: fmt.Sprintf("%s's API endpoint %s is private only, and %s's VPC %s has no route to %s's VPC %s",
			target.Context, server, primary, from.VPC, target.Context, target.VPC), Evidence: append([]string{access}, r.why...)}), true
	}
	src, why := vpcSource(n, from)
	if why != "" {
		return checks.NewMF6010(about, unknown(why, nil)), true
	}
	sg := allows(n, target.SecurityGroups, 443, src)
	switch {
	case sg.unknown != "":
		return checks.NewMF6010(about, unknown(fmt.Sprintf("whether %s's endpoint admits %s is not known: %s", target.Context, primary, sg.unknown), nil)), true
	case !sg.ok:
		return checks.NewMF6010(about, checks.Details{Message: fmt.Sprintf("%s reaches %s's private endpoint %s, but the cluster's security groups do not admit it on 443",
			primary, target.Context, server), Evidence: append(append([]string{access}, r.why...), sg.why...)}), true
	}
	return checks.Finding{}, false
}

func openToAll(cidrs []string) bool {
	for _, p := range prefixes(cidrs) {
		if p.Bits() == 0 && p.Addr().Is4() {
			return true
		}
	}
	return false
}

func containsAny(set []netip.Prefix, p netip.Prefix) bool {
	for _, q := range set {
		if covers(q, p) {
			return true
		}
	}
	return false
}

// eachGateway calls fn for every gateway load balancer of every reachable
// cluster with AWS data, and turns gateways whose load balancer is not
// known into unknown findings.
func eachGateway(f *model.Fleet, n *model.AWSNetwork, id checks.ID, fn func(c *model.Cluster, ac *model.AWSCluster, gw model.AWSGateway) []checks.Finding) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		ac := n.Cluster(c.Context)
		if !c.Reachable || ac == nil {
			continue
		}
		for _, gw := range ac.Gateways {
			if gw.Error != "" {
				out = append(out, ofGateway[id](c.Context, unknown(fmt.Sprintf("the load balancer of %s (%s) is not known: %s", gw.Service, gw.Hostname, gw.Error), serviceRef(gw.Service))))
				continue
			}
			out = append(out, fn(c, ac, gw)...)
		}
	}
	return out
}

// gatewayScheme (MF6011): an internal NLB is only reachable from its own VPC
// and those routed to it; every peer that dials the gateway must be one.
func gatewayScheme(f *model.Fleet) []checks.Finding {
	n, out := network(f, checks.MF6011)
	if n == nil {
		return out
	}
	return append(out, eachGateway(f, n, checks.MF6011, func(c *model.Cluster, _ *model.AWSCluster, gw model.AWSGateway) []checks.Finding {
		if gw.Scheme != "internal" {
			return nil
		}
		var out []checks.Finding
		for _, peer := range uniquePeers(peersOf(f, c, gw)) {
			pc := n.Cluster(peer)
			about := checks.MF6011Subjects{Cluster: c.Context, Peer: peer}
			if pc == nil || pc.Error != "" {
				out = append(out, checks.NewMF6011(about, unknown(fmt.Sprintf("%s's gateway NLB %s is internal, and %s's VPC is not known: %s", c.Context, gw.Name, peer, clusterProblem(peer, pc)), serviceRef(gw.Service))))
				continue
			}
			r := routed(n, pc, gw.VPC)
			switch {
			case r.unknown != "":
				out = append(out, checks.NewMF6011(about, unknown(fmt.Sprintf("whether %s reaches %s's internal NLB %s is not known: %s", peer, c.Context, gw.Name, r.unknown), serviceRef(gw.Service))))
			case !r.ok:
				out = append(out, checks.NewMF6011(about, checks.Details{Object: serviceRef(gw.Service),
					Message:  fmt.Sprintf("%s's east-west gateway NLB %s is internal (VPC %s), and %s's VPC %s has no route to it", c.Context, gw.Name, gw.VPC, peer, pc.VPC),
					Evidence: append([]string{fmt.Sprintf("%s: scheme %s, DNS name %s", gw.ARN, gw.Scheme, gw.Hostname)}, r.why...)}))
			}
		}
		return out
	})...)
}

func uniquePeers(ps []gatewayPeer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.context)
	}
	sort.Strings(out)
	return dedupe(out)
}

func clusterProblem(ctx string, c *model.AWSCluster) string {
	if c == nil {
		return ctx + " is not an EKS cluster known to AWS here"
	}
	return c.Error
}

// listenerOn returns the listener of a port, or nil.
func listenerOn(gw model.AWSGateway, port int32) *model.AWSListener {
	for i := range gw.Listeners {
		if gw.Listeners[i].Port == port {
			return &gw.Listeners[i]
		}
	}
	return nil
}

// targetGroupsOf returns the target groups a listener forwards to.
func targetGroupsOf(gw model.AWSGateway, l *model.AWSListener) []model.AWSTargetGroup {
	var out []model.AWSTargetGroup
	for _, tg := range gw.TargetGroups {
		for _, arn := range l.TargetGroups {
			if tg.ARN == arn {
				out = append(out, tg)
			}
		}
	}
	return out
}

// targetHealth (MF6012): the NLB's listener on 15443 must exist and forward
// to healthy targets.
func targetHealth(f *model.Fleet) []checks.Finding {
	n, out := network(f, checks.MF6012)
	if n == nil {
		return out
	}
	return append(out, eachGateway(f, n, checks.MF6012, func(c *model.Cluster, _ *model.AWSCluster, gw model.AWSGateway) []checks.Finding {
		ref, ctx := serviceRef(gw.Service), c.Context
		about := checks.MF6012Subjects{Cluster: ctx}
		if gw.ListenersError != "" {
			return []checks.Finding{checks.NewMF6012(about, unknown(gw.ListenersError, ref))}
		}
		l := listenerOn(gw, mesh.CrossNetworkPort)
		if l == nil {
			var ports []string
			for _, l := range gw.Listeners {
				ports = append(ports, fmt.Sprintf("%d/%s", l.Port, l.Protocol))
			}
			return []checks.Finding{checks.NewMF6012(about, checks.Details{Object: ref, Message: fmt.Sprintf("%s's gateway NLB %s has no listener on %d", ctx, gw.Name, mesh.CrossNetworkPort),
				Evidence: []string{fmt.Sprintf("listeners of %s: %s", gw.ARN, orNone(ports))}})}
		}
		if gw.TargetGroupsError != "" {
			return []checks.Finding{checks.NewMF6012(about, unknown(gw.TargetGroupsError, ref))}
		}
		var out []checks.Finding
		for _, tg := range targetGroupsOf(gw, l) {
			if tg.HealthError != "" {
				out = append(out, checks.NewMF6012(about, unknown(tg.HealthError, ref)))
				continue
			}
			var healthy int
			var bad []string
			for _, t := range tg.Targets {
				if t.State == "healthy" {
					healthy++
					continue
				}
				bad = append(bad, strings.TrimSuffix(fmt.Sprintf("%s:%d %s %s", t.ID, t.Port, t.State, t.Reason), " "))
			}
			ev := []string{fmt.Sprintf("target group %s (%s %d, %s targets): %d of %d healthy", tg.Name, tg.Protocol, tg.Port, tg.TargetType, healthy, len(tg.Targets))}
			switch {
			case healthy == 0:
				out = append(out, checks.NewMF6012(about, checks.Details{Severity: checks.SeverityError, Object: ref,
					Message:  fmt.Sprintf("%s's gateway NLB %s has no healthy target behind %d: cross-network traffic to %s goes nowhere", ctx, gw.Name, mesh.CrossNetworkPort, gw.Network),
					Evidence: append(ev, bad...)}))
			case len(bad) > 0:
				out = append(out, checks.NewMF6012(about, checks.Details{Severity: checks.SeverityWarning, Object: ref,
					Message:  fmt.Sprintf("%s's gateway NLB %s has %d unhealthy target(s) behind %d", ctx, gw.Name, len(bad), mesh.CrossNetworkPort),
					Evidence: append(ev, bad...)}))
			}
		}
		return out
	})...)
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// gatewaySecurityGroups (MF6013): the security groups in front of the
// gateway admit each peer on the ports it dials. With security groups on
// the NLB, those filter the peers' addresses; without, the targets' groups
// do (the EKS cluster security group, on managed nodes), seeing the peers'
// addresses when the target group preserves client IPs, else the NLB's.
func gatewaySecurityGroups(f *model.Fleet) []checks.Finding {
	n, out := network(f, checks.MF6013)
	if n == nil {
		return out
	}
	return append(out, eachGateway(f, n, checks.MF6013, func(c *model.Cluster, ac *model.AWSCluster, gw model.AWSGateway) []checks.Finding {
		var out []checks.Finding
		ref := serviceRef(gw.Service)
		for _, peer := range peersOf(f, c, gw) {
			about := checks.MF6013Subjects{Cluster: c.Context, Peer: peer.context}
			if peer.port == portWebhook && gw.Scheme != "internal" {
				continue // the remote's API server calls it from EKS's own addresses, which no API lists
			}
			groups, src, why := filteringGroups(n, ac, gw, peer)
			if why != "" {
				out = append(out, checks.NewMF6013(about, unknown(fmt.Sprintf("whether %s's gateway admits %s on %d is not known: %s", c.Context, peer.context, peer.port, why), ref)))
				continue
			}
			v := allows(n, groups, peer.port, src)
			switch {
			case v.unknown != "":
				out = append(out, checks.NewMF6013(about, unknown(fmt.Sprintf("whether %s's gateway admits %s on %d is not known: %s", c.Context, peer.context, peer.port, v.unknown), ref)))
			case !v.ok:
				out = append(out, checks.NewMF6013(about, checks.Details{Object: ref,
					Message:  fmt.Sprintf("the security groups in front of %s's gateway (%s) do not admit %s on TCP %d", c.Context, gw.Name, peer.context, peer.port),
					Evidence: v.why}))
			}
		}
		return out
	})...)
}

// filteringGroups returns the groups that see a peer's traffic to a gateway
// and the addresses they see it from.
func filteringGroups(n *model.AWSNetwork, ac *model.AWSCluster, gw model.AWSGateway, peer gatewayPeer) ([]string, source, string) {
	pc := n.Cluster(peer.context)
	if pc == nil || pc.Error != "" {
		return nil, source{}, clusterProblem(peer.context, pc)
	}
	peerSource := func() (source, string) {
		if gw.Scheme == "internal" {
			return vpcSource(n, pc)
		}
		return egressSource(n, pc)
	}
	if len(gw.SecurityGroups) > 0 {
		src, why := peerSource()
		return gw.SecurityGroups, src, why
	}
	if ac.Error != "" {
		return nil, source{}, "the NLB has no security group, and the targets' (the cluster's) are not known: " + ac.Error
	}
	l := listenerOn(gw, peer.port)
	if l == nil {
		return nil, source{}, fmt.Sprintf("the NLB %s has no listener on %d", gw.Name, peer.port)
	}
	tgs := targetGroupsOf(gw, l)
	if len(tgs) == 0 {
		return nil, source{}, fmt.Sprintf("the listener on %d forwards to no target group that was read", peer.port)
	}
	tg := tgs[0]
	switch {
	case tg.PreserveClientIP == nil:
		return nil, source{}, tg.AttributesError
	case *tg.PreserveClientIP:
		src, why := peerSource()
		return ac.SecurityGroups, src, why
	}
	// The targets see the NLB's own addresses, in its VPC.
	v := n.VPC(gw.VPC)
	if v == nil || v.Error != "" {
		return nil, source{}, vpcProblem(gw.VPC, v)
	}
	return ac.SecurityGroups, source{what: fmt.Sprintf("the NLB's VPC %s (target group %s does not preserve client IPs)", gw.VPC, tg.Name), prefixes: prefixes(v.CIDRs)}, ""
}

// samePairs calls fn for every pair of EKS clusters on one network (pods
// of one network reach each other directly) in different VPCs.
func samePairs(f *model.Fleet, n *model.AWSNetwork, id checks.ID, fn func(a, b *model.AWSCluster) []checks.Finding) []checks.Finding {
	var istio []*model.Cluster
	for _, c := range f.Clusters {
		role := mesh.Identify(c).Role
		if c.Reachable && (role == mesh.RolePrimary || role == mesh.RoleRemote) {
			istio = append(istio, c)
		}
	}
	var out []checks.Finding
	for i, ci := range istio {
		for _, cj := range istio[i+1:] {
			if mesh.Identify(ci).Network != mesh.Identify(cj).Network {
				continue
			}
			a, b := n.Cluster(ci.Context), n.Cluster(cj.Context)
			if a == nil || b == nil {
				continue // not both on AWS: nothing AWS can say
			}
			if a.Error != "" || b.Error != "" {
				out = append(out, ofMembers[id]([]string{a.Context, b.Context}, unknown(fmt.Sprintf("the EKS clusters of %s and %s could not both be read: %s", a.Context, b.Context, strings.Trim(a.Error+"; "+b.Error, "; ")), nil)))
				continue
			}
			if a.VPC == b.VPC {
				continue
			}
			out = append(out, fn(a, b)...)
		}
	}
	return out
}

// vpcOverlap (MF6014): clusters of one network in different VPCs route pod
// to pod, which overlapping VPC ranges make impossible.
func vpcOverlap(f *model.Fleet) []checks.Finding {
	n, out := network(f, checks.MF6014)
	if n == nil {
		return out
	}
	return append(out, samePairs(f, n, checks.MF6014, func(a, b *model.AWSCluster) []checks.Finding {
		va, vb := n.VPC(a.VPC), n.VPC(b.VPC)
		if va == nil || va.Error != "" || vb == nil || vb.Error != "" {
			why := vpcProblem(a.VPC, va)
			if va != nil && va.Error == "" {
				why = vpcProblem(b.VPC, vb)
			}
			return []checks.Finding{checks.NewMF6014(checks.MF6014Subjects{Members: []string{a.Context, b.Context}}, unknown(why, nil))}
		}
		var clashes []string
		for _, p := range prefixes(va.CIDRs) {
			for _, q := range prefixes(vb.CIDRs) {
				if p.Overlaps(q) {
					clashes = append(clashes, fmt.Sprintf("%s (%s) overlaps %s (%s)", p, va.ID, q, vb.ID))
				}
			}
		}
		if len(clashes) == 0 {
			return nil
		}
		return []checks.Finding{checks.NewMF6014(checks.MF6014Subjects{Members: []string{a.Context, b.Context}}, checks.Details{
			Message:  fmt.Sprintf("%s and %s are on one network, but their VPCs' address ranges overlap, so their pods cannot be routed to each other", a.Context, b.Context),
			Evidence: clashes})}
	})...)
}

// vpcRoutes (MF6015): clusters of one network in different VPCs need routes
// both ways through a peering or a transit gateway.
func vpcRoutes(f *model.Fleet) []checks.Finding {
	n, out := network(f, checks.MF6015)
	if n == nil {
		return out
	}
	return append(out, samePairs(f, n, checks.MF6015, func(a, b *model.AWSCluster) []checks.Finding {
		var missing, evidence []string
		for _, dir := range [][2]*model.AWSCluster{{a, b}, {b, a}} {
			from, to := dir[0], dir[1]
			r := routed(n, from, to.VPC)
			if r.unknown != "" {
				return []checks.Finding{checks.NewMF6015(checks.MF6015Subjects{Members: []string{a.Context, b.Context}}, unknown(fmt.Sprintf("whether %s routes to %s is not known: %s", from.Context, to.Context, r.unknown), nil))}
			}
			if !r.ok {
				missing = append(missing, fmt.Sprintf("%s's VPC %s to %s's VPC %s", from.Context, from.VPC, to.Context, to.VPC))
				evidence = append(evidence, r.why...)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		return []checks.Finding{checks.NewMF6015(checks.MF6015Subjects{Members: []string{a.Context, b.Context}}, checks.Details{
			Message:  fmt.Sprintf("%s and %s are on one network, but there is no route through a peering or transit gateway from %s", a.Context, b.Context, strings.Join(missing, ", nor from ")),
			Evidence: evidence})}
	})...)
}

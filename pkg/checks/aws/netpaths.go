package aws

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// verdict is what the AWS data says of one path or rule: yes, no, or
// cannot tell (why says which, and why not or why unknown).
type verdict struct {
	ok      bool
	unknown string   // non-empty: not decided, and why
	why     []string // evidence either way
}

func known(ok bool, why ...string) verdict { return verdict{ok: ok, why: why} }
func notKnown(reason string) verdict       { return verdict{unknown: reason} }

func prefixes(cidrs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(strings.TrimSpace(c)); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(strings.TrimSpace(c)); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// covers reports whether outer holds every address of inner.
func covers(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// routeTableFor returns the route table that serves a subnet: the one
// associated with it, else the VPC's main table.
func routeTableFor(v *model.AWSVPC, subnet string) *model.AWSRouteTable {
	var main *model.AWSRouteTable
	for i := range v.RouteTables {
		t := &v.RouteTables[i]
		if slices.Contains(t.Subnets, subnet) {
			return t
		}
		if t.Main {
			main = t
		}
	}
	return main
}

// bestRoute is the most specific route of a table that holds all of dst
// (the route AWS picks for it).
func bestRoute(t *model.AWSRouteTable, dst netip.Prefix) (model.AWSRoute, bool) {
	var best model.AWSRoute
	bits := -1
	for _, r := range t.Routes {
		p := prefixes([]string{r.Destination})
		if len(p) == 1 && covers(p[0], dst) && p[0].Bits() > bits {
			best, bits = r, p[0].Bits()
		}
	}
	return best, bits >= 0
}

// routed says whether the subnets of a cluster route to every one of the
// destination VPC's ranges through an active peering or a transit gateway
// both VPCs are attached to. Same VPC: yes. Transit gateway route tables
// are not read: an attachment on both sides is taken as the path.
func routed(n *model.AWSNetwork, from *model.AWSCluster, toVPC string) verdict {
	if from.VPC == toVPC {
		return known(true, fmt.Sprintf("%s is in %s itself", from.Context, toVPC))
	}
	src, dst := n.VPC(from.VPC), n.VPC(toVPC)
	switch {
	case src == nil || src.Error != "":
		return notKnown(vpcProblem(from.VPC, src))
	case dst == nil || dst.Error != "":
		return notKnown(vpcProblem(toVPC, dst))
	case src.RoutesError != "":
		return notKnown(src.RoutesError)
	}
	subnets := from.Subnets
	if len(subnets) == 0 {
		return notKnown(fmt.Sprintf("EKS names no subnets for %s", from.Context))
	}
	var missing, found []string
	for _, s := range subnets {
		t := routeTableFor(src, s)
		if t == nil {
			missing = append(missing, fmt.Sprintf("subnet %s has no route table", s))
			continue
		}
		for _, d := range prefixes(dst.CIDRs) {
			r, ok := bestRoute(t, d)
			if !ok {
				missing = append(missing, fmt.Sprintf("%s (subnet %s) has no route to %s", t.ID, s, d))
				continue
			}
			if v := routeLeadsTo(n, r, from.VPC, toVPC); v.ok {
				found = append(found, fmt.Sprintf("%s (subnet %s): %s → %s", t.ID, s, r.Destination, r.Target))
			} else if v.unknown != "" {
				return v
			} else {
				missing = append(missing, fmt.Sprintf("%s (subnet %s): %s → %s, %s", t.ID, s, r.Destination, r.Target, strings.Join(v.why, "; ")))
			}
		}
	}
	if len(missing) > 0 {
		return known(false, missing...)
	}
	return known(true, dedupe(found)...)
}

// routeLeadsTo says whether a route reaches VPC b from VPC a.
func routeLeadsTo(n *model.AWSNetwork, r model.AWSRoute, a, b string) verdict {
	if r.State == "blackhole" {
		return known(false, "the route is a blackhole (its target is gone)")
	}
	switch {
	case strings.HasPrefix(r.Target, "pcx-"):
		for _, p := range n.Peerings {
			if p.ID != r.Target {
				continue
			}
			if !(p.Requester == a && p.Accepter == b || p.Requester == b && p.Accepter == a) {
				return known(false, fmt.Sprintf("peering %s joins %s and %s, not %s", p.ID, p.Requester, p.Accepter, b))
			}
			if p.Status != "active" {
				return known(false, fmt.Sprintf("peering %s is %s, not active", p.ID, p.Status))
			}
			return known(true)
		}
		return notKnown(fmt.Sprintf("peering %s could not be read: %s", r.Target, strings.Join(n.Errors, "; ")))
	case strings.HasPrefix(r.Target, "tgw-"):
		attached := func(vpc string) bool {
			return slices.ContainsFunc(n.TransitGatewayAttachments, func(t model.AWSTransitGatewayAttach) bool {
				return t.TransitGateway == r.Target && t.VPC == vpc && t.State == "available"
			})
		}
		if len(n.Errors) > 0 && !(attached(a) && attached(b)) {
			return notKnown("transit gateway attachments could not be read: " + strings.Join(n.Errors, "; "))
		}
		if !attached(b) {
			return known(false, fmt.Sprintf("%s is not attached to transit gateway %s", b, r.Target))
		}
		if !attached(a) {
			return known(false, fmt.Sprintf("%s is not attached to transit gateway %s", a, r.Target))
		}
		return known(true)
	}
	return known(false, "the target is neither a VPC peering nor a transit gateway")
}

func vpcProblem(id string, v *model.AWSVPC) string {
	if v == nil {
		return "VPC " + id + " was not read"
	}
	return "VPC " + id + ": " + v.Error
}

// source is where a peer's traffic comes from, as a security group sees it.
type source struct {
	what     string // "west's VPC vpc-…", "west's NAT gateways"
	prefixes []netip.Prefix
	groups   []string // the peer's own security groups, which a rule may name
}

// allows says whether any of groups admits TCP port from every prefix of src.
func allows(n *model.AWSNetwork, groups []string, port int32, src source) verdict {
	if len(groups) == 0 {
		return notKnown("no security group is known for it")
	}
	var unknown []string
	uncovered := slices.Clone(src.prefixes)
	for _, id := range groups {
		g := n.SecurityGroup(id)
		if g == nil || g.Error != "" {
			unknown = append(unknown, groupProblem(id, g))
			continue
		}
		for _, r := range g.Ingress {
			if !(r.Protocol == "-1" || r.Protocol == "tcp" && r.FromPort <= port && port <= r.ToPort) {
				continue
			}
			if slices.ContainsFunc(r.Groups, func(s string) bool { return slices.Contains(src.groups, s) }) {
				return known(true, fmt.Sprintf("%s admits port %d from a security group of %s", id, port, src.what))
			}
			rule := prefixes(r.CIDRs)
			uncovered = slices.DeleteFunc(uncovered, func(p netip.Prefix) bool {
				return slices.ContainsFunc(rule, func(q netip.Prefix) bool { return covers(q, p) })
			})
			if len(r.PrefixLists) > 0 {
				unknown = append(unknown, fmt.Sprintf("%s admits port %d from prefix list %s, which is not read", id, port, strings.Join(r.PrefixLists, ", ")))
			}
		}
	}
	if len(src.prefixes) > 0 && len(uncovered) == 0 {
		return known(true, fmt.Sprintf("%s admit port %d from %s (%s)", strings.Join(groups, ", "), port, src.what, joinPrefixes(src.prefixes)))
	}
	if len(unknown) > 0 {
		return notKnown(strings.Join(unknown, "; "))
	}
	return known(false, fmt.Sprintf("no inbound rule of %s admits TCP %d from %s (%s)", strings.Join(groups, ", "), port, src.what, joinPrefixes(uncovered)))
}

func groupProblem(id string, g *model.AWSSecurityGroup) string {
	if g == nil {
		return "security group " + id + " was not read"
	}
	return "security group " + id + ": " + g.Error
}

func joinPrefixes(ps []netip.Prefix) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}

func dedupe(in []string) []string {
	slices.Sort(in)
	return slices.Compact(in)
}

// vpcSource is a cluster's VPC ranges, as a load balancer or an endpoint
// inside the AWS network sees its traffic.
func vpcSource(n *model.AWSNetwork, c *model.AWSCluster) (source, string) {
	v := n.VPC(c.VPC)
	if v == nil || v.Error != "" {
		return source{}, vpcProblem(c.VPC, v)
	}
	return source{what: fmt.Sprintf("%s's VPC %s", c.Context, c.VPC), prefixes: prefixes(v.CIDRs), groups: c.SecurityGroups}, ""
}

// egressSource is a cluster's NAT gateways' public addresses: where its
// traffic to a public address comes from.
func egressSource(n *model.AWSNetwork, c *model.AWSCluster) (source, string) {
	v := n.VPC(c.VPC)
	switch {
	case v == nil || v.Error != "":
		return source{}, vpcProblem(c.VPC, v)
	case v.NATError != "":
		return source{}, v.NATError
	case len(v.NATPublicIPs) == 0:
		return source{}, fmt.Sprintf("%s's VPC %s has no NAT gateway, so its public egress address is not known (nodes with public IPs, or a proxy)", c.Context, c.VPC)
	}
	return source{what: fmt.Sprintf("%s's NAT gateways", c.Context), prefixes: prefixes(v.NATPublicIPs)}, ""
}

package locality

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// endpointAt is one ready endpoint of a service with the locality istiod
// gives it.
type endpointAt struct {
	context, addr string
	l             loc
	why           string // where the locality comes from, or why there is none
}

func (e endpointAt) String() string {
	return fmt.Sprintf("%s %s: %s", e.context, e.addr, e.why)
}

// distributeDropsUnlocated (MF5010): with a distribute rule for a caller's
// locality, istiod keeps only the endpoints whose locality matches one of
// the rule's to-localities and empties every other locality's endpoints
// (istio.io/istio pilot/pkg/networking/core/loadbalancer/loadbalancer.go,
// applyLocalityWeights: "remove groups of endpoints in a locality that miss
// matched"; matching is pilot/pkg/networking/util LocalityMatch). An
// endpoint's locality is its pod's node's region/zone/subzone labels, or
// nothing for an endpoint without a pod (pilot/pkg/serviceregistry/kube/
// controller/controller.go, getPodLocality; endpoint_builder.go). So
// endpoints on nodes without topology labels, and hand-written endpoints,
// vanish from what those callers are sent, whatever their health
// (istio/istio#59202): with nothing else left the callers get 503 UH.
// Endpoints with a full locality that no to-locality names are the rule's
// intent and not reported; only those whose locality lacks a region or a
// zone are.
func distributeDropsUnlocated(f *model.Fleet) []checks.Finding {
	locs, _ := fleetLocalities(f)
	var out []checks.Finding
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary {
			continue // the rules a proxy gets are its primary's
		}
		drs := drPolicies(c)
		var ps []policy
		for _, p := range drs {
			if distributes(p) {
				ps = append(ps, p)
			}
		}
		if mp := meshPolicy(c); mp != nil && distributes(*mp) {
			ps = append(ps, *mp)
		}
		for _, p := range ps {
			for _, svc := range servicesOf(f, c, p, drs) {
				eps := readyEndpoints(f, svc[0], svc[1])
				if len(eps) == 0 {
					continue
				}
				if fd, ok := droppedFinding(c, p, svc, eps, locs); ok {
					out = append(out, fd)
				}
			}
		}
	}
	return out
}

func distributes(p policy) bool {
	return p.locality != nil && (p.locality.Enabled == nil || *p.locality.Enabled) && len(p.locality.Distribute) > 0
}

// servicesOf are the services (name, namespace) a policy applies to: a
// DestinationRule's host, or for meshConfig every service whose own rule
// in the cluster sets no locality setting (a rule's localityLbSetting
// replaces the mesh's: loadbalancer.GetLocalityLbSetting) and that has an
// endpoint without a full locality somewhere.
func servicesOf(f *model.Fleet, c *model.Cluster, p policy, drs []policy) [][2]string {
	if !p.mesh {
		name, ns, ok := mesh.HostService(p.host, p.drNS)
		if !ok {
			return nil
		}
		return [][2]string{{name, ns}}
	}
	own := map[[2]string]bool{}
	for _, d := range drs {
		if d.locality != nil {
			if name, ns, ok := mesh.HostService(d.host, d.drNS); ok {
				own[[2]string{name, ns}] = true
			}
		}
	}
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, mc := range f.Clusters {
		idx := localityIndexOf(mc)
		for _, es := range mc.EndpointSlices {
			k := [2]string{es.Service, es.Namespace}
			if es.Service == "" || seen[k] || own[k] || es.Namespace == mc.IstioNamespace || es.Namespace == "kube-system" {
				continue
			}
			for _, a := range readyAddresses(es) {
				if l, _, ok := idx.locate(es, a); ok && (l.region == "" || l.zone == "") {
					seen[k] = true
					out = append(out, k)
					break
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1]+"/"+out[i][0] < out[j][1]+"/"+out[j][0] })
	return out
}

func readyAddresses(es model.EndpointSlice) []string {
	notReady := map[string]bool{}
	for _, a := range es.NotReady {
		notReady[a] = true
	}
	var out []string
	for _, a := range es.Addresses {
		if !notReady[a] {
			out = append(out, a)
		}
	}
	return out
}

// readyEndpoints are the ready endpoints of a service in every cluster of
// the mesh read, each with its locality; an endpoint whose locality cannot
// be told is left out (and said so by its why).
func readyEndpoints(f *model.Fleet, name, ns string) []endpointAt {
	var out []endpointAt
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		if id := mesh.Identify(c); id.Role != mesh.RolePrimary && id.Role != mesh.RoleRemote {
			continue
		}
		idx := localityIndexOf(c)
		for _, es := range slicesOf(c, ns, name) {
			for _, a := range readyAddresses(es) {
				l, why, ok := idx.locate(es, a)
				if !ok {
					continue
				}
				out = append(out, endpointAt{context: c.Context, addr: a, l: l, why: why})
			}
		}
	}
	return out
}

func droppedFinding(c *model.Cluster, p policy, svc [2]string, eps []endpointAt, locs []loc) (checks.Finding, bool) {
	host := svc[0] + "." + svc[1]
	var evidence, fromLocs []string
	worst := checks.SeverityWarning
	var dropped []endpointAt
	for _, d := range p.locality.Distribute {
		if !anyMatch(locs, d.From) {
			continue // no caller is there (MF5004 says so)
		}
		var gone []endpointAt
		kept := 0
		for _, e := range eps {
			if matchesAny(e.l, d.To) {
				kept++
			} else if e.l.region == "" || e.l.zone == "" {
				gone = append(gone, e)
			}
		}
		if len(gone) == 0 {
			continue
		}
		if kept == 0 {
			worst = checks.SeverityError
		}
		fromLocs = append(fromLocs, d.From)
		dropped = append(dropped, gone...)
		evidence = append(evidence, fmt.Sprintf("distribute from %s to %s: istiod sends those callers %d of %s's %d ready endpoints and empties the rest; %d have no %s: %s",
			d.From, weights(d.To), kept, host, len(eps), len(gone), missingParts(gone), describeEndpoints(gone)))
	}
	if len(dropped) == 0 {
		return checks.Finding{}, false
	}
	outcome := "the callers still reach the others, and these endpoints never get traffic from them"
	if worst == checks.SeverityError {
		outcome = "for some of them nothing is left: their calls fail with 503 (no healthy upstream)"
	}
	evidence = append(evidence, "istiod keeps only endpoints whose locality matches a to-locality (an endpoint's locality is its pod's node's topology.kubernetes.io/region, topology.kubernetes.io/zone and topology.istio.io/subzone labels; an endpoint without a pod has none)")
	return checks.NewMF5010(checks.MF5010Subjects{Cluster: c.Context}, checks.Details{
		Severity: worst,
		Object:   p.obj,
		Message: fmt.Sprintf("%s in %s distributes %s's traffic from %s by locality, and %d of its ready endpoints have no %s, so istiod leaves them out of what those callers are sent: %s",
			p.where, c.Context, host, strings.Join(uniq(fromLocs), ", "), len(uniqEndpoints(dropped)), missingParts(dropped), outcome),
		Evidence: evidence,
	}), true
}

func matchesAny(l loc, to map[string]uint32) bool {
	for pattern := range to {
		if matches(l, pattern) {
			return true
		}
	}
	return false
}

func missingParts(es []endpointAt) string {
	noRegion := false
	for _, e := range es {
		if e.l.region == "" {
			noRegion = true
		}
	}
	if noRegion {
		return "locality"
	}
	return "zone"
}

func uniqEndpoints(es []endpointAt) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.context+"/"+e.addr)
	}
	return uniq(out)
}

func describeEndpoints(es []endpointAt) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, e.String())
	}
	parts = uniq(parts)
	if len(parts) > listAtMost {
		parts = append(parts[:listAtMost:listAtMost], fmt.Sprintf("… and %d more", len(parts)-listAtMost))
	}
	return strings.Join(parts, "; ")
}

// nodeLocalities is what locate needs of a cluster, computed once.
type nodeLocalities struct {
	byName map[string]loc
	cidrs  []nodeCIDR
}

type nodeCIDR struct {
	p    netip.Prefix
	name string
	l    loc
}

func localityIndexOf(c *model.Cluster) *nodeLocalities {
	return c.Memo("locality.nodes", func() any {
		idx := &nodeLocalities{byName: map[string]loc{}}
		for _, n := range c.Nodes {
			l := loc{n.Labels[RegionLabel], n.Labels[ZoneLabel], n.Labels[SubzoneLabel]}
			idx.byName[n.Name] = l
			for _, s := range n.PodCIDRs {
				if p, err := netip.ParsePrefix(s); err == nil {
					idx.cidrs = append(idx.cidrs, nodeCIDR{p, n.Name, l})
				}
			}
		}
		return idx
	}).(*nodeLocalities)
}

// locate gives an endpoint address the locality istiod gives it: none
// without a pod behind it; else its node's labels, the node named by the
// endpoint or the one whose pod range holds the address. ok is false when
// the node cannot be told.
func (idx *nodeLocalities) locate(es model.EndpointSlice, addr string) (l loc, why string, ok bool) {
	if _, pod := es.Pods[addr]; !pod {
		return loc{}, "no pod behind it (an endpoint written by hand or by another controller)", true
	}
	name := es.Nodes[addr]
	if name == "" {
		if ip, err := netip.ParseAddr(addr); err == nil {
			for _, c := range idx.cidrs {
				if c.p.Contains(ip) {
					name = c.name
					break
				}
			}
		}
	}
	l, found := idx.byName[name]
	if !found {
		return loc{}, "", false
	}
	return l, fmt.Sprintf("pod %s on node %s (%s)", es.Pods[addr], name, describeLoc(l)), true
}

func describeLoc(l loc) string {
	if l.region == "" && l.zone == "" {
		return "no " + RegionLabel + " or " + ZoneLabel + " label"
	}
	if l.zone == "" {
		return "region " + l.region + ", no " + ZoneLabel + " label"
	}
	return "locality " + l.region + "/" + l.zone
}

// DistributeDropsUnlocated reports whether the distribute rule istiod in
// reader applies to a caller at proxyLocality (region/zone/subzone) for
// service ns/name leaves out every one of addrs, ready endpoints in x, for
// lacking a region or zone: what MF5010 reports, seen in a sidecar's view
// (MF4025 leaves it to MF5010). istiod applies the first entry whose from
// matches the caller (applyLocalityWeights).
func DistributeDropsUnlocated(reader *model.Cluster, ns, name, proxyLocality string, x *model.Cluster, addrs []string) bool {
	if reader == nil || x == nil || len(addrs) == 0 {
		return false
	}
	drs := drPolicies(reader)
	var rule *policy
	for i, p := range drs {
		if n, s, ok := mesh.HostService(p.host, p.drNS); ok && n == name && s == ns && p.locality != nil {
			if distributes(p) {
				rule = &drs[i]
			}
			break // the rule's own setting replaces the mesh's
		}
	}
	if rule == nil {
		if mp := meshPolicy(reader); mp != nil && distributes(*mp) && !ownSetting(drs, ns, name) {
			rule = mp
		}
	}
	if rule == nil {
		return false
	}
	parts := append(strings.SplitN(proxyLocality, "/", 3), "", "")
	caller := loc{parts[0], parts[1], parts[2]}
	idx := localityIndexOf(x)
	for _, d := range rule.locality.Distribute {
		if !matches(caller, d.From) {
			continue
		}
		for _, a := range addrs {
			l, _, ok := locateAddr(idx, x, ns, name, a)
			if !ok || matchesAny(l, d.To) || (l.region != "" && l.zone != "") {
				return false
			}
		}
		return true
	}
	return false
}

func ownSetting(drs []policy, ns, name string) bool {
	for _, p := range drs {
		if n, s, ok := mesh.HostService(p.host, p.drNS); ok && n == name && s == ns && p.locality != nil {
			return true
		}
	}
	return false
}

// locateAddr locates a ready address of service ns/name in cluster c.
func locateAddr(idx *nodeLocalities, c *model.Cluster, ns, name, addr string) (loc, string, bool) {
	for _, es := range slicesOf(c, ns, name) {
		for _, a := range es.Addresses {
			if a == addr {
				return idx.locate(es, addr)
			}
		}
	}
	return loc{}, "", false
}

// slicesOf are the EndpointSlices of service ns/name in c, from an index
// built once per cluster (a large cluster has thousands).
func slicesOf(c *model.Cluster, ns, name string) []model.EndpointSlice {
	byService := c.Memo("locality.slices", func() any {
		m := map[string][]model.EndpointSlice{}
		for _, es := range c.EndpointSlices {
			if es.Service != "" {
				m[es.Namespace+"/"+es.Service] = append(m[es.Namespace+"/"+es.Service], es)
			}
		}
		return m
	}).(map[string][]model.EndpointSlice)
	return byService[ns+"/"+name]
}

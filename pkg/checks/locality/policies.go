package locality

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/members"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// SubzoneLabel is Istio's node label for a subzone.
const SubzoneLabel = "topology.istio.io/subzone"

// policy is one locality load-balancing setting as it applies: a
// DestinationRule's top-level policy, one of its subsets (which inherits
// what it does not set), or the mesh-wide meshConfig.localityLbSetting.
type policy struct {
	ctx      string
	obj      *checks.ObjectRef
	where    string // "DestinationRule sample/helloworld", "… subset v1", "meshConfig"
	host     string
	drNS     string
	locality *model.LocalityPolicy
	outlier  bool
	mesh     bool
}

func (p policy) failover() bool {
	return p.locality != nil && (p.locality.Enabled == nil || *p.locality.Enabled) &&
		(len(p.locality.Failover) > 0 || len(p.locality.FailoverPriority) > 0)
}

func drPolicies(c *model.Cluster) []policy {
	var out []policy
	for _, dr := range c.DestinationRules {
		ref := &checks.ObjectRef{Kind: "DestinationRule", Namespace: dr.Namespace, Name: dr.Name}
		top := dr.TrafficPolicy
		var topLoc *model.LocalityPolicy
		topOD := false
		if top != nil {
			topLoc, topOD = top.Locality, top.OutlierDetection
		}
		out = append(out, policy{ctx: c.Context, obj: ref, where: "DestinationRule " + dr.Namespace + "/" + dr.Name,
			host: dr.Host, drNS: dr.Namespace, locality: topLoc, outlier: topOD})
		for _, s := range dr.Subsets {
			if s.TrafficPolicy == nil {
				continue // the subset is the top-level policy: already listed
			}
			loc, od := topLoc, topOD || s.TrafficPolicy.OutlierDetection
			if s.TrafficPolicy.Locality != nil {
				loc = s.TrafficPolicy.Locality
			}
			out = append(out, policy{ctx: c.Context, obj: ref, where: "DestinationRule " + dr.Namespace + "/" + dr.Name + " subset " + s.Name,
				host: dr.Host, drNS: dr.Namespace, locality: loc, outlier: od})
		}
	}
	return out
}

// meshPolicy is the cluster's meshConfig.localityLbSetting (nil when
// it sets nothing beyond istiod's default "enabled").
func meshPolicy(c *model.Cluster) *policy {
	m := mesh.Identify(c).Mesh
	l := m.GetLocalityLbSetting()
	if l == nil || (len(l.GetFailover()) == 0 && len(l.GetDistribute()) == 0 && len(l.GetFailoverPriority()) == 0) {
		return nil
	}
	lp := &model.LocalityPolicy{FailoverPriority: l.GetFailoverPriority()}
	if l.GetEnabled() != nil {
		v := l.GetEnabled().GetValue()
		lp.Enabled = &v
	}
	for _, f := range l.GetFailover() {
		lp.Failover = append(lp.Failover, model.LocalityFailover{From: f.GetFrom(), To: f.GetTo()})
	}
	for _, d := range l.GetDistribute() {
		lp.Distribute = append(lp.Distribute, model.LocalityDistribute{From: d.GetFrom(), To: d.GetTo()})
	}
	return &policy{ctx: c.Context, obj: &checks.ObjectRef{Kind: "ConfigMap", Namespace: c.IstioNamespace, Name: mesh.MeshConfigMap},
		where: "meshConfig.localityLbSetting", locality: lp, mesh: true}
}

// failoverWithoutOutlier: Envoy moves traffic to a lower-priority locality
// only when outlier detection ejects the local endpoints. istiod applies
// failover and failoverPriority only when the destination has
// outlierDetection (pilot/pkg/networking/core/loadbalancer:
// enableFailover := … c.OutlierDetection != nil); without it, failover
// never happens, and Istio's validation warns so.
func failoverWithoutOutlier(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		for _, p := range drPolicies(c) {
			if !p.failover() || p.outlier {
				continue
			}
			out = append(out, checks.NewMF5002(checks.MF5002Subjects{Cluster: c.Context}, checks.Details{
				Object:   p.obj,
				Message:  fmt.Sprintf("%s in %s configures locality failover for %s without outlierDetection: failover never happens", p.where, c.Context, p.host),
				Evidence: []string{describe(p.locality)},
			}))
		}
	}
	return out
}

func describe(l *model.LocalityPolicy) string {
	var parts []string
	for _, f := range l.Failover {
		parts = append(parts, "failover "+f.From+"→"+f.To)
	}
	if len(l.FailoverPriority) > 0 {
		parts = append(parts, "failoverPriority "+strings.Join(l.FailoverPriority, ","))
	}
	for _, d := range l.Distribute {
		parts = append(parts, "distribute from "+d.From+" to "+weights(d.To))
	}
	return strings.Join(parts, "; ")
}

func weights(to map[string]uint32) string {
	keys := make([]string, 0, len(to))
	for k := range to {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, to[k]))
	}
	return strings.Join(parts, ",")
}

// localities are the region/zone/subzone triples of the fleet's nodes.
type loc struct{ region, zone, subzone string }

func fleetLocalities(f *model.Fleet) (locs []loc, regions map[string]bool) {
	seen := map[loc]bool{}
	regions = map[string]bool{}
	for _, c := range f.Clusters {
		for _, n := range c.Nodes {
			l := loc{n.Labels[RegionLabel], n.Labels[ZoneLabel], n.Labels[SubzoneLabel]}
			if l.region == "" {
				continue
			}
			regions[l.region] = true
			if !seen[l] {
				seen[l] = true
				locs = append(locs, l)
			}
		}
	}
	return locs, regions
}

// matches follows Istio's LocalityMatch: region/zone/subzone, "*" matches
// anything, a missing part matches anything.
func matches(l loc, pattern string) bool {
	parts := strings.SplitN(pattern, "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	ok := func(rule, v string, optional bool) bool {
		return rule == "*" || (optional && rule == "") || rule == v
	}
	return ok(parts[0], l.region, false) && ok(parts[1], l.zone, true) && ok(parts[2], l.subzone, true)
}

func allPolicies(f *model.Fleet) []policy {
	var out []policy
	for _, c := range f.Clusters {
		out = append(out, drPolicies(c)...)
		if mp := meshPolicy(c); mp != nil {
			out = append(out, *mp)
		}
	}
	return out
}

func regionList(regions map[string]bool) string {
	var rs []string
	for r := range regions {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	if len(rs) == 0 {
		return "(none: no node has " + RegionLabel + ")"
	}
	return strings.Join(rs, ", ")
}

// failoverRegions: failover entries name regions (from → to). A region that
// no node of the mesh is in is a typo or a cluster left out: traffic from it
// never exists, or traffic fails over to nowhere. Over part of a mesh, the
// unread members' regions are those of the nodes their remote secrets'
// credentials list (istiod's own view); a region that may be in a member
// whose nodes could not be listed is unknown, naming the member to add.
func failoverRegions(f *model.Fleet) []checks.Finding {
	_, regions := fleetLocalities(f)
	ms := members.Of(f)
	var out []checks.Finding
	for _, p := range allPolicies(f) {
		if p.locality == nil {
			continue
		}
		var bad, maybe []string
		for _, fo := range p.locality.Failover {
			for _, r := range []string{fo.From, fo.To} {
				switch {
				case regions[r] || len(members.InRegion(ms, r)) > 0:
				case len(members.RegionsUnknown(ms)) > 0:
					maybe = append(maybe, r)
				default:
					bad = append(bad, r)
				}
			}
		}
		if len(bad) == 0 && len(maybe) == 0 {
			continue
		}
		evidence := []string{"regions of the nodes read: " + regionList(regions), describe(p.locality)}
		if ev := members.RegionEvidence(ms); ev != "" {
			evidence = append(evidence, ev)
		}
		if len(bad) == 0 {
			unknown := members.RegionsUnknown(ms)
			out = append(out, checks.NewMF5003(checks.MF5003Subjects{Cluster: p.ctx}, checks.Details{
				Severity: checks.SeverityUnknown,
				Object:   p.obj,
				Message: fmt.Sprintf("%s in %s fails over between regions no cluster read is in: %s; whether %s is in one is not known (their nodes were not listed): add %s",
					p.where, p.ctx, strings.Join(uniq(maybe), ", "), pluralMembers(unknown), members.Describe(unknown)),
				Evidence: evidence,
			}))
			continue
		}
		sev := checks.SeverityOK
		if len(regions) == 0 {
			sev = checks.SeverityUnknown
		}
		where := "no node of the fleet is in"
		if ms.Partial() {
			where = "no node of the mesh is in (the clusters read, and the unread members as istiod sees them)"
		}
		out = append(out, checks.NewMF5003(checks.MF5003Subjects{Cluster: p.ctx}, checks.Details{
			Severity: sev,
			Object:   p.obj,
			Message:  fmt.Sprintf("%s in %s fails over between regions %s: %s", p.where, p.ctx, where, strings.Join(uniq(bad), ", ")),
			Evidence: evidence,
		}))
	}
	return out
}

// pluralMembers says "the unread member central" or "the unread members a, b".
func pluralMembers(ms []model.Member) string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ClusterID
	}
	if len(ids) == 1 {
		return "the unread member " + ids[0]
	}
	return "any of the unread members " + strings.Join(ids, ", ")
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// distributeWeights: each distribute entry's weights must sum to 100 (Istio's
// validation rejects anything else, so such an object came in around it),
// and every locality it names must exist, or its share of traffic has no
// endpoint and the from-locality's traffic is dropped for it.
func distributeWeights(f *model.Fleet) []checks.Finding {
	locs, _ := fleetLocalities(f)
	ms := members.Of(f)
	// maybeElsewhere: a locality no node read is in may be in an unread
	// member (its region is one of theirs, or their regions are not
	// known); their zones are not known, so that part is unknown.
	maybeElsewhere := func(l string) bool {
		region, _, _ := strings.Cut(l, "/")
		return len(members.InRegion(ms, region)) > 0 || len(members.RegionsUnknown(ms)) > 0
	}
	var out []checks.Finding
	for _, p := range allPolicies(f) {
		if p.locality == nil {
			continue
		}
		for _, d := range p.locality.Distribute {
			var sum uint32
			var unmatched, maybe []string
			for l, w := range d.To {
				sum += w
				switch {
				case anyMatch(locs, l):
				case maybeElsewhere(l):
					maybe = append(maybe, l)
				default:
					unmatched = append(unmatched, l)
				}
			}
			sort.Strings(unmatched)
			sort.Strings(maybe)
			var problems []string
			sev := checks.SeverityOK
			if sum != 100 {
				problems = append(problems, fmt.Sprintf("its weights sum to %d, not 100", sum))
			}
			if len(unmatched) > 0 {
				problems = append(problems, "no node is in "+strings.Join(unmatched, ", "))
				if sum == 100 {
					sev = checks.SeverityWarning
				}
			}
			fromMaybe := false
			if !anyMatch(locs, d.From) {
				if maybeElsewhere(d.From) {
					fromMaybe = true
				} else {
					problems = append(problems, "no node is in its from-locality "+d.From)
					if sum == 100 && len(unmatched) == 0 {
						sev = checks.SeverityWarning
					}
				}
			}
			if len(maybe) > 0 || fromMaybe {
				var which []string
				which = append(which, maybe...)
				if fromMaybe {
					which = append(which, d.From)
				}
				problems = append(problems, fmt.Sprintf("no node read is in %s, and whether the unread members %s have one there is not known: add them",
					strings.Join(which, ", "), members.Describe(ms.Unread)))
				if sev == checks.SeverityOK && sum == 100 {
					sev = checks.SeverityUnknown
				}
			}
			if len(problems) == 0 {
				continue
			}
			if len(locs) == 0 && sum == 100 {
				sev = checks.SeverityUnknown // no locality read: cannot say
			}
			out = append(out, checks.NewMF5004(checks.MF5004Subjects{Cluster: p.ctx}, checks.Details{
				Severity: sev,
				Object:   p.obj,
				Message:  fmt.Sprintf("%s in %s distributes traffic from %s wrongly: %s", p.where, p.ctx, d.From, strings.Join(problems, "; ")),
				Evidence: []string{"distribute from " + d.From + " to " + weights(d.To), "localities of the fleet's nodes: " + locList(locs)},
			}))
		}
	}
	return out
}

func anyMatch(locs []loc, pattern string) bool {
	for _, l := range locs {
		if matches(l, pattern) {
			return true
		}
	}
	return false
}

func locList(locs []loc) string {
	var out []string
	for _, l := range locs {
		s := l.region + "/" + l.zone
		if l.subzone != "" {
			s += "/" + l.subzone
		}
		out = append(out, s)
	}
	sort.Strings(out)
	if len(out) > 8 {
		out = append(out[:8], fmt.Sprintf("… and %d more", len(out)-8))
	}
	return strings.Join(out, ", ")
}

// outlierTurnsLocalityOn: meshConfig.localityLbSetting is enabled by
// default, and istiod applies locality failover to every destination whose
// DestinationRule has outlierDetection. A DestinationRule that adds
// outlierDetection (say, for resilience) and says nothing about locality
// thereby makes traffic prefer the caller's own locality: described as info.
func outlierTurnsLocalityOn(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		m := mesh.Identify(c).Mesh
		if ml := m.GetLocalityLbSetting(); m != nil && (ml == nil || (ml.GetEnabled() != nil && !ml.GetEnabled().GetValue())) {
			continue // locality LB is off mesh-wide: outlier detection changes nothing
		}
		for _, p := range drPolicies(c) {
			if !p.outlier || p.locality != nil {
				continue
			}
			out = append(out, checks.NewMF5005(checks.MF5005Subjects{Cluster: c.Context}, checks.Details{
				Object:   p.obj,
				Message:  fmt.Sprintf("%s in %s sets outlierDetection without a localityLbSetting: locality load balancing (prefer the caller's zone, fail over when it is ejected) is now on for %s", p.where, c.Context, p.host),
				Evidence: []string{"meshConfig.localityLbSetting is enabled (istiod's default)"},
			}))
		}
	}
	return out
}

// singleRegionTarget: failover only helps if the destination has endpoints
// in another region. A failover policy for a service whose endpoints all
// sit in one region has nowhere to go: described as info.
func singleRegionTarget(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		for _, p := range drPolicies(c) {
			if !p.failover() {
				continue
			}
			name, ns, ok := mesh.HostService(p.host, p.drNS)
			if !ok {
				continue // not a Kubernetes service name (a ServiceEntry host): not read
			}
			regions, unknown := endpointRegions(f, name, ns)
			if len(regions) != 1 || len(unknown) > 0 {
				continue
			}
			var r string
			for k := range regions {
				r = k
			}
			if elsewhere := otherRegionMembers(f, r); len(elsewhere) > 0 {
				// Its endpoints in the unread members are not known: one
				// of them may be the other region to fail over to.
				out = append(out, checks.NewMF5006(checks.MF5006Subjects{Cluster: c.Context}, checks.Details{
					Severity: checks.SeverityUnknown,
					Object:   p.obj,
					Message: fmt.Sprintf("%s in %s sets failover for %s; every endpoint of %s/%s read is in region %s, and whether the unread members %s have endpoints in another region is not known: add them",
						p.where, c.Context, p.host, ns, name, r, members.Describe(elsewhere)),
					Evidence: []string{describe(p.locality), fmt.Sprintf("endpoints of %s/%s read, by region: %s=%d", ns, name, r, regions[r])},
				}))
				continue
			}
			out = append(out, checks.NewMF5006(checks.MF5006Subjects{Cluster: c.Context}, checks.Details{
				Object:   p.obj,
				Message:  fmt.Sprintf("%s in %s sets failover for %s, but every endpoint of %s/%s in the fleet is in region %s: there is no other region to fail over to", p.where, c.Context, p.host, ns, name, r),
				Evidence: []string{describe(p.locality), fmt.Sprintf("endpoints of %s/%s by region: %s=%d", ns, name, r, regions[r])},
			}))
		}
	}
	return out
}

// otherRegionMembers are the unread members that may hold endpoints outside
// region r: their nodes are in another region, or were not listed.
func otherRegionMembers(f *model.Fleet, r string) []model.Member {
	var out []model.Member
	for _, u := range members.Of(f).Unread {
		if len(u.Regions) == 0 || slices.ContainsFunc(u.Regions, func(x string) bool { return x != r }) {
			out = append(out, u)
		}
	}
	return out
}

// endpointRegions counts a Service's endpoints per region across the fleet:
// an endpoint's region is that of the node whose podCIDR holds its address,
// or the cluster's when all its nodes are in one region. Clusters where it
// cannot be told are returned in unknown.
func endpointRegions(f *model.Fleet, name, ns string) (map[string]int, []string) {
	regions := map[string]int{}
	var unknown []string
	for _, c := range f.Clusters {
		idx := indexOf(c)
		for _, a := range idx.endpoints[ns+"/"+name] {
			r := idx.region
			if ip, err := netip.ParseAddr(a); err == nil {
				for _, cd := range idx.cidrs {
					if cd.p.Contains(ip) {
						r = cd.region
						break
					}
				}
			}
			if r == "" {
				unknown = append(unknown, c.Context)
				continue
			}
			regions[r]++
		}
	}
	return regions, uniq(unknown)
}

type regionCIDR struct {
	p      netip.Prefix
	region string
}

// clusterIndex is what endpointRegions needs of a cluster, computed once.
type clusterIndex struct {
	region    string // the cluster's only region, "" when several or none
	cidrs     []regionCIDR
	endpoints map[string][]string // namespace/service → addresses
}

func indexOf(c *model.Cluster) *clusterIndex {
	return c.Memo("locality.index", func() any {
		idx := &clusterIndex{endpoints: map[string][]string{}}
		one := true
		for _, n := range c.Nodes {
			r := n.Labels[RegionLabel]
			if idx.region == "" {
				idx.region = r
			} else if r != idx.region {
				one = false
			}
			for _, s := range n.PodCIDRs {
				if p, err := netip.ParsePrefix(s); err == nil && r != "" {
					idx.cidrs = append(idx.cidrs, regionCIDR{p, r})
				}
			}
		}
		if !one {
			idx.region = ""
		}
		for _, es := range c.EndpointSlices {
			k := es.Namespace + "/" + es.Service
			idx.endpoints[k] = append(idx.endpoints[k], es.Addresses...)
		}
		return idx
	}).(*clusterIndex)
}

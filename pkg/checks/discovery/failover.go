package discovery

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// failoverPriorities (MF5007): for a service whose DestinationRule asks
// for locality failover, the priorities istiod sent a sidecar must be
// those istiod computes from the sidecar's locality
// (pilot/pkg/networking/core/loadbalancer/loadbalancer.go
// applyLocalityFailover with util.LbPriority): 0 for the sidecar's own
// region, zone and subzone, 1 for its zone, 2 for its region, 3 for
// another region, 4 for a region other than the one the failover entry
// for the sidecar's region names; then renumbered from 0 without gaps.
// It lives beside the other checks of the sidecar views; its area is
// locality.
func failoverPriorities(f *model.Fleet) []checks.Finding {
	views, out := sidecarViews(f, func(s checks.MF4025Subjects, d checks.Details) checks.Finding {
		return checks.NewMF5007(checks.MF5007Subjects{Cluster: s.Cluster}, d)
	})
	for _, v := range views {
		ns, name := serviceOf(v)
		reader := istiodCluster(f, f.Cluster(v.Context))
		dr, ok := failoverRule(reader, v.Namespace, ns, name)
		if !ok {
			continue // no failover asked: nothing to hold the view to
		}
		lp := dr.TrafficPolicy.Locality
		if (lp.Enabled != nil && !*lp.Enabled) || len(lp.Distribute) > 0 || len(lp.FailoverPriority) > 0 {
			continue // locality LB off, weights instead, or priorities by labels the view does not show
		}
		if !dr.TrafficPolicy.OutlierDetection {
			out = append(out, checks.ReportedUnder("MF5002", reader.Context)) // istiod applies no failover then
			continue
		}
		proxy := splitLocality(v.ProxyLocality)
		if proxy[0] == "" {
			out = append(out, checks.ReportedUnder("MF5001", v.Context)) // the sidecar is nowhere
			continue
		}
		want := expectedPriorities(proxy, v.Endpoints, lp.Failover)
		var wrong []string
		for i, e := range v.Endpoints {
			if e.Priority != want[i] {
				wrong = append(wrong, fmt.Sprintf("%s:%d (%s) priority %d, want %d", e.Address, e.Port, orNoLocality(e.Locality), e.Priority, want[i]))
			}
		}
		if len(wrong) == 0 {
			continue
		}
		out = append(out, checks.NewMF5007(checks.MF5007Subjects{Cluster: v.Context}, checks.Details{
			Object: &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name},
			Message: fmt.Sprintf("istiod sends a sidecar of %s (locality %s) priorities for %s/%s that do not follow the failover of DestinationRule %s/%s: %s",
				v.Context, v.ProxyLocality, ns, name, dr.Namespace, dr.Name, strings.Join(wrong, "; ")),
			Evidence: viewEvidence(v, fmt.Sprintf("DestinationRule %s/%s in %s: host %s, failover %s, outlierDetection set", dr.Namespace, dr.Name, reader.Context, dr.Host, describeFailover(lp.Failover))),
		}))
	}
	return out
}

// failoverRule is the DestinationRule with locality failover that istiod
// of reader applies to a sidecar in sidecarNS calling service name.ns:
// the sidecar's namespace's first, then the service's, then any other
// (istiod's order, without the root namespace's special place).
func failoverRule(reader *model.Cluster, sidecarNS, ns, name string) (model.DestinationRule, bool) {
	var matching []model.DestinationRule
	for _, dr := range reader.DestinationRules {
		if dr.TrafficPolicy == nil || dr.TrafficPolicy.Locality == nil {
			continue
		}
		if n, drNS, ok := mesh.HostService(dr.Host, dr.Namespace); ok && n == name && drNS == ns {
			matching = append(matching, dr)
		}
	}
	for _, want := range []string{sidecarNS, ns} {
		for _, dr := range matching {
			if dr.Namespace == want {
				return dr, hasLocalityFailover(dr)
			}
		}
	}
	if len(matching) > 0 {
		return matching[0], hasLocalityFailover(matching[0])
	}
	return model.DestinationRule{}, false
}

func hasLocalityFailover(dr model.DestinationRule) bool {
	lp := dr.TrafficPolicy.Locality
	return len(lp.Failover) > 0 || len(lp.FailoverPriority) > 0
}

// splitLocality reads region/zone/subzone.
func splitLocality(l string) [3]string {
	var out [3]string
	for i, p := range strings.SplitN(l, "/", 3) {
		out[i] = p
	}
	return out
}

// expectedPriorities are the priorities istiod gives each endpoint for a
// sidecar at proxy (applyLocalityFailover).
func expectedPriorities(proxy [3]string, eps []model.XDSEndpoint, failover []model.LocalityFailover) []uint32 {
	raw := make([]int, len(eps))
	for i, e := range eps {
		loc := splitLocality(e.Locality)
		switch {
		case loc[0] != proxy[0]:
			raw[i] = 3
			for _, fo := range failover {
				if fo.From == proxy[0] {
					if loc[0] != fo.To {
						raw[i] = 4
					}
					break
				}
			}
		case loc[1] != proxy[1]:
			raw[i] = 2
		case loc[2] != proxy[2]:
			raw[i] = 1
		}
	}
	levels := slices.Clone(raw)
	sort.Ints(levels)
	levels = slices.Compact(levels)
	out := make([]uint32, len(eps))
	for i, r := range raw {
		out[i] = uint32(slices.Index(levels, r))
	}
	return out
}

func describeFailover(fs []model.LocalityFailover) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, f.From+"→"+f.To)
	}
	if len(parts) == 0 {
		return "(default: by region, zone, subzone)"
	}
	return strings.Join(parts, ", ")
}

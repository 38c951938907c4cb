package connectivity

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// duplicateSubsetChains (MF3021): on an AUTO_PASSTHROUGH server istiod
// builds the east-west gateway one filter chain per service port and one
// per subset of the DestinationRule the gateway sees for the service, each
// matching the SNI of the outbound cluster it forwards to,
// outbound_.<port>_.<subset>_.<host> (istio.io/istio
// pilot/pkg/networking/core/gateway.go, builtAutoPassthroughFilterChains;
// pilot/pkg/model/service.go, BuildDNSSrvSubsetKey), and nothing removes a
// repeat. Two subsets of one rule with the same name give two chains with
// the same server name and the same ALPNs, and Envoy rejects the whole
// listener (istio/istio#50353). istiod merges the rules of one host
// (pilot/pkg/model/destination_rule.go, mergeDestinationRule) dropping a
// later rule's subset whose name an earlier rule has, but keeps whatever a
// single rule repeats, so the repeat within one rule is what breaks it.
//
// One finding per DestinationRule, in the cluster istiod reads it from
// (the gateway's primary: configClusters), naming the gateways whose
// listener it breaks.
func duplicateSubsetChains(f *model.Fleet) []checks.Finding {
	type hit struct {
		cc  *model.Cluster
		dr  model.DestinationRule
		gws []string
	}
	hits := map[string]*hit{} // context/ns/name of the rule
	var order []string
	for _, x := range gateways(f) {
		if x.G.Port == 0 {
			continue
		}
		servers, _ := passthroughServers(f, x.C, x.ID, x.G)
		for _, s := range servers {
			if s.srv.TLSMode != "AUTO_PASSTHROUGH" {
				continue
			}
			cc := f.Cluster(s.ctx)
			for _, dr := range cc.DestinationRules {
				if len(repeatedSubsets(dr)) == 0 || !exportedTo(dr, x.G.Service.Namespace) {
					continue
				}
				name, ns, ok := mesh.HostService(dr.Host, dr.Namespace)
				if !ok || !hostCovered(s.srv.Hosts, serviceFQDN(name, ns)) || len(servicePorts(f, name, ns)) == 0 {
					continue
				}
				key := cc.Context + "/" + dr.Namespace + "/" + dr.Name
				h := hits[key]
				if h == nil {
					h = &hit{cc: cc, dr: dr}
					hits[key] = h
					order = append(order, key)
				}
				gw := fmt.Sprintf("%s of network %s in %s", x.G.Ref(), x.G.Network, x.C.Context)
				if !slices.Contains(h.gws, gw) {
					h.gws = append(h.gws, gw)
				}
			}
		}
	}
	var out []checks.Finding
	for _, key := range order {
		h := hits[key]
		name, ns, _ := mesh.HostService(h.dr.Host, h.dr.Namespace)
		host := serviceFQDN(name, ns)
		repeated := repeatedSubsets(h.dr)
		var snis []string
		for _, p := range servicePorts(f, name, ns) {
			for _, sub := range repeated {
				snis = append(snis, fmt.Sprintf("outbound_.%d_.%s_.%s", p, sub, host))
			}
		}
		quoted := make([]string, len(repeated))
		for i, r := range repeated {
			quoted[i] = fmt.Sprintf("%q (%d times)", r, countSubset(h.dr, r))
		}
		out = append(out, checks.NewMF3021(checks.MF3021Subjects{Cluster: h.cc.Context}, checks.Details{
			Object: &checks.ObjectRef{Kind: "DestinationRule", Namespace: h.dr.Namespace, Name: h.dr.Name},
			Message: fmt.Sprintf("DestinationRule %s/%s in %s names subset %s of %s more than once: istiod gives east-west gateway %s two AUTO_PASSTHROUGH filter chains with the same server name, and Envoy rejects the gateway's whole 15443 listener, so its pods stop taking config and cross-network traffic into the network stops once they restart",
				h.dr.Namespace, h.dr.Name, h.cc.Context, strings.Join(quoted, ", "), host, strings.Join(h.gws, "; ")),
			Evidence: []string{
				fmt.Sprintf("subsets of DestinationRule %s/%s (host %s): %s", h.dr.Namespace, h.dr.Name, h.dr.Host, subsetNames(h.dr)),
				"server names that two filter chains of the 15443 listener match: " + strings.Join(snis, ", "),
				fmt.Sprintf("the rule is exported to the gateways' namespace (exportTo %s)", exportToString(h.dr)),
				"Envoy refuses a listener two of whose filter chains match alike (\"has the same matching rules defined as\"), and the gateway's proxy reports its LDS updates rejected",
			},
		}))
	}
	return out
}

// repeatedSubsets are the subset names a rule lists more than once, sorted.
func repeatedSubsets(dr model.DestinationRule) []string {
	var out []string
	for _, s := range dr.Subsets {
		if countSubset(dr, s.Name) > 1 && !slices.Contains(out, s.Name) {
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out
}

func countSubset(dr model.DestinationRule, name string) int {
	n := 0
	for _, s := range dr.Subsets {
		if s.Name == name {
			n++
		}
	}
	return n
}

func subsetNames(dr model.DestinationRule) string {
	names := make([]string, len(dr.Subsets))
	for i, s := range dr.Subsets {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// exportedTo reports whether a rule is visible to proxies of namespace ns
// (the gateway's): exportTo unset is every namespace (istiod's default,
// meshConfig.defaultDestinationRuleExportTo unset), "*" every, "." its own,
// "~" none, otherwise the namespaces named.
func exportedTo(dr model.DestinationRule, ns string) bool {
	if len(dr.ExportTo) == 0 {
		return true
	}
	for _, e := range dr.ExportTo {
		switch e {
		case "*":
			return true
		case ".":
			if dr.Namespace == ns {
				return true
			}
		case ns:
			return true
		}
	}
	return false
}

func exportToString(dr model.DestinationRule) string {
	if len(dr.ExportTo) == 0 {
		return "unset: every namespace"
	}
	return strings.Join(dr.ExportTo, ",")
}

func serviceFQDN(name, ns string) string { return name + "." + ns + ".svc.cluster.local" }

// hostCovered: a Gateway server's hosts (namespace/ prefixes dropped, as
// istiod drops them for the SNI hosts of an AUTO_PASSTHROUGH server) admit
// the host: "*" anything, "*.suffix" names ending in .suffix, otherwise the
// name itself (host.Name.SubsetOf).
func hostCovered(hosts []string, fqdn string) bool {
	for _, h := range hosts {
		if i := strings.Index(h, "/"); i >= 0 {
			h = h[i+1:]
		}
		switch {
		case h == "*":
			return true
		case strings.HasPrefix(h, "*."):
			if strings.HasSuffix(fqdn, h[1:]) {
				return true
			}
		case h == fqdn:
			return true
		}
	}
	return false
}

// servicePorts are the ports of Service ns/name in the fleet's clusters of
// the mesh that istiod builds chains for (every protocol but UDP), sorted:
// the gateway's istiod holds the Service of every cluster it reads under
// one host name.
func servicePorts(f *model.Fleet, name, ns string) []int32 {
	var out []int32
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, s := range c.Services {
			if s.Name != name || s.Namespace != ns {
				continue
			}
			for _, p := range s.Ports {
				if p.Protocol != "UDP" && !slices.Contains(out, p.Port) {
					out = append(out, p.Port)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

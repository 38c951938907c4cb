package discovery

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// droppedNamespaces (MF4032): a primary's meshConfig.discoverySelectors are
// applied by its istiod to the namespaces of every cluster it reads, not
// only its own: istio.io/istio pkg/kube/multicluster/cluster.go builds, for
// each remote cluster, filter.NewDiscoveryNamespacesFilter(namespaces, mesh,
// …) over that cluster's namespaces with the primary's mesh watcher, and
// kube.SetObjectFilter makes every informer of that cluster's client skip
// the namespaces it does not select (pkg/kube/namespace/filter.go). Users
// label their own cluster's namespaces and forget the peers'
// (istio/istio#54402); the peer's services then vanish from the primary.
//
// A dropped namespace is reported when it holds Services and is plainly part
// of the mesh: the primary selects its own namespace of that name (namespace
// sameness: it is the same namespace), or, where the primary has no such
// namespace, one of its Services has a namesake in another cluster. A
// namespace the primary drops at home as well is a choice, not this mistake.
func droppedNamespaces(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, p := range primaries(f) {
		forDropped(f, p, func(r *model.Cluster, ns model.Namespace, sels []mesh.DiscoverySelector, secret string) {
			if fd, ok := droppedNamespace(f, p, r, ns, sels, secret); ok {
				out = append(out, fd)
			}
		})
	}
	return out
}

// forDropped calls fn for each namespace of another cluster p's istiod
// reads that p's discoverySelectors do not select.
func forDropped(f *model.Fleet, p primary, fn func(r *model.Cluster, ns model.Namespace, sels []mesh.DiscoverySelector, secret string)) {
	if p.id.Mesh == nil {
		return
	}
	sels, err := mesh.DiscoverySelectors(p.id.Mesh)
	if err != nil || len(sels) == 0 {
		return // no selectors, or ones istiod cannot compile: it discovers every namespace
	}
	keys := mesh.RemoteSecretKeys(p.c)
	for _, r := range f.Clusters {
		rid := mesh.Identify(r)
		secret, reads := keys[rid.ClusterID]
		if r == p.c || rid.ClusterID == "" || rid.ClusterID == p.id.ClusterID || !reads {
			continue
		}
		for _, ns := range r.Namespaces {
			if systemNamespaces[ns.Name] {
				continue
			}
			if _, selected := mesh.SelectedBy(sels, ns.Labels); selected {
				continue
			}
			fn(r, ns, sels, secret)
		}
	}
}

// DroppedNamespaceReported says whether MF4032 reports that the istiod of
// primary (a context) drops namespace ns of cluster peer (a context): for
// the checks whose findings would repeat that consequence (MF3030: a
// gateway istiod cannot list because it cannot see its namespace), so they
// leave it to MF4032 by the same criterion and the two never disagree.
func DroppedNamespaceReported(f *model.Fleet, primaryCtx, peerCtx, ns string) bool {
	reported := false
	for _, p := range primaries(f) {
		if p.c.Context != primaryCtx {
			continue
		}
		forDropped(f, p, func(r *model.Cluster, n model.Namespace, sels []mesh.DiscoverySelector, secret string) {
			if r.Context == peerCtx && n.Name == ns {
				if _, ok := droppedNamespace(f, p, r, n, sels, secret); ok {
					reported = true
				}
			}
		})
	}
	return reported
}

func droppedNamespace(f *model.Fleet, p primary, r *model.Cluster, ns model.Namespace, sels []mesh.DiscoverySelector, secret string) (checks.Finding, bool) {
	var services []model.Service
	for _, s := range r.Services {
		if s.Namespace == ns.Name {
			services = append(services, s)
		}
	}
	if len(services) == 0 {
		return checks.Finding{}, false
	}
	var why []string
	if own, ok := namespaceOf(p.c, ns.Name); ok {
		matched, selected := mesh.SelectedBy(sels, own.Labels)
		if !selected {
			return checks.Finding{}, false // dropped at home too: a choice
		}
		why = append(why, fmt.Sprintf("%s's own namespace %s is discovered (%s matches its labels %s): the same namespace, dropped only in %s",
			p.c.Context, ns.Name, mesh.DescribeSelectors(matched), describeLabels(own.Labels), r.Context))
	} else if namesakes := namesakesElsewhere(f, r, services); len(namesakes) > 0 {
		why = append(why, "the same Services are in other clusters of the mesh: "+strings.Join(namesakes, ", "))
	} else {
		return checks.Finding{}, false
	}

	ix := indexOf(r)
	var lost []string
	for _, s := range services {
		lost = append(lost, fmt.Sprintf("%s (%d ready endpoints)", s.Name, ix.ready[svcKey{s.Namespace, s.Name}]))
	}
	sort.Strings(lost)
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Name
	}
	sort.Strings(names)

	cm := p.c.IstioNamespace + "/" + mesh.MeshConfigMap
	if p.id.Revision != "" && p.id.Revision != "default" {
		cm += "-" + p.id.Revision
	}
	ev := []string{
		fmt.Sprintf("ConfigMap %s of %s: meshConfig %s", cm, p.c.Context, mesh.DescribeSelectors(sels)),
		fmt.Sprintf("namespace %s in %s has labels %s, which no selector matches", ns.Name, r.Context, describeLabels(ns.Labels)),
		fmt.Sprintf("%s reads %s through remote secret %s, and istiod filters the namespaces of every cluster it reads with its own selectors (istio/istio#54402)", p.c.Context, r.Context, secret),
		fmt.Sprintf("Services of %s in %s that %s's istiod does not see: %s", ns.Name, r.Context, p.c.Context, strings.Join(lost, ", ")),
	}
	ev = append(ev, why...)
	msg := fmt.Sprintf("%s's istiod drops namespace %s of %s: its discoverySelectors match none of the namespace's labels there, so %s's sidecars get nothing of %s's Services %s",
		p.c.Context, ns.Name, r.Context, p.c.Context, r.Context, strings.Join(names, ", "))
	if gws := gatewaysIn(r, ns.Name); len(gws) > 0 {
		msg += fmt.Sprintf(", and %s no longer knows %s (the east-west gateway of network %s): its sidecars cannot reach that network at all", p.c.Context, strings.Join(gws, ", "), mesh.Identify(r).Network)
	}
	return checks.NewMF4032(checks.MF4032Subjects{Primary: p.c.Context, Peer: r.Context}, checks.Details{
		Object:   &checks.ObjectRef{Kind: "Namespace", Name: ns.Name},
		Message:  msg,
		Evidence: ev,
	}), true
}

// namesakesElsewhere lists, for the Services given (of cluster r), the other
// clusters that have a Service of the same namespace and name.
func namesakesElsewhere(f *model.Fleet, r *model.Cluster, services []model.Service) []string {
	var out []string
	for _, c := range f.Clusters {
		if c == r {
			continue
		}
		if role := mesh.Identify(c).Role; role != mesh.RolePrimary && role != mesh.RoleRemote {
			continue
		}
		ix := indexOf(c)
		var here []string
		for _, s := range services {
			if ix.services[svcKey{s.Namespace, s.Name}] {
				here = append(here, s.Name)
			}
		}
		if len(here) > 0 {
			out = append(out, fmt.Sprintf("%s in %s", strings.Join(here, ", "), c.Context))
		}
	}
	return out
}

// gatewaysIn names the east-west gateway Services of r's network in namespace ns.
func gatewaysIn(r *model.Cluster, ns string) []string {
	nw := mesh.Identify(r).Network
	if nw == "" {
		return nil
	}
	var out []string
	for _, s := range mesh.EastWestGateways(r, nw) {
		if s.Namespace == ns {
			out = append(out, "Service "+s.Namespace+"/"+s.Name)
		}
	}
	return out
}

func namespaceOf(c *model.Cluster, name string) (model.Namespace, bool) {
	for _, n := range c.Namespaces {
		if n.Name == name {
			return n, true
		}
	}
	return model.Namespace{}, false
}

func describeLabels(l map[string]string) string {
	if len(l) == 0 {
		return "{} (none)"
	}
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

package discovery

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// podlessAcrossNetworks (MF4016): istiod builds each endpoint of a
// Service from the Pod behind it (pilot/pkg/serviceregistry/kube/controller
// endpointslice.go getPod, endpoint_builder.go NewEndpointBuilder): with no
// pod, the endpoint has TLS mode disabled (kube.PodTLSMode(nil)), no
// locality and no service account. When istiod sends a proxy the endpoints
// of another network that has gateways, it replaces them by the gateways
// and drops every endpoint whose TLS mode is not istio
// (pilot/pkg/xds/endpoints/ep_filters.go EndpointsByNetworkFilter,
// isMtlsEnabled), since the gateway routes by the mTLS SNI. So the pod-less
// endpoints of a cluster reach only proxies of its own network: a caller on
// another network is sent nothing for them.
func podlessAcrossNetworks(f *model.Fleet) []checks.Finding {
	ms, gateways := networkMembers(f)
	var out []checks.Finding
	for _, m := range ms {
		if m.network == "" || len(gateways[m.network]) == 0 {
			continue // no gateway: istiod sends the addresses themselves (MF3001's concern)
		}
		for _, k := range podlessServices(m.c) {
			var callers, where []string
			for _, o := range ms {
				if o.network == "" || o.network == m.network || !indexOf(o.c).services[k.svcKey] {
					continue
				}
				callers = append(callers, o.c.Context)
				where = append(where, fmt.Sprintf("%s (network %q)", o.c.Context, o.network))
			}
			if len(callers) == 0 {
				continue
			}
			all := "all"
			if k.noPod < k.ready {
				all = fmt.Sprintf("%d of the %d", k.noPod, k.ready)
			}
			fate := "sent nothing for them"
			if k.noPod == k.ready {
				fate = fmt.Sprintf("sent nothing of %s for %s.%s: with no endpoints of their own network, their calls fail", m.c.Context, k.name, k.ns)
			}
			ev := []string{
				fmt.Sprintf("EndpointSlices %s of Service %s/%s in %s: ready endpoints %s name no Pod (targetRef)", strings.Join(k.slices, ", "), k.ns, k.name, m.c.Context, describeAddrs(k.addrs)),
				fmt.Sprintf("istiod holds them with TLS mode disabled, no locality, no service account; network %q is reached through its gateway %s, which istiod uses only for endpoints in TLS mode istio", m.network, strings.Join(gateways[m.network], ", ")),
				"Service " + k.ns + "/" + k.name + " is also defined in " + strings.Join(where, ", "),
			}
			if k.selectorless {
				ev = append(ev, fmt.Sprintf("Service %s/%s in %s has no selector: its endpoints are written by hand or by another controller", k.ns, k.name, m.c.Context))
			}
			out = append(out, checks.NewMF4016(checks.MF4016Subjects{Cluster: m.c.Context, Members: callers}, checks.Details{
				Object: &checks.ObjectRef{Kind: "Service", Namespace: k.ns, Name: k.name},
				Message: fmt.Sprintf("%s ready endpoints of Service %s/%s in %s have no pod behind them: istiod never sends such endpoints through network %q's east-west gateway, so sidecars in %s are %s",
					all, k.ns, k.name, m.c.Context, m.network, strings.Join(callers, ", "), fate),
				Evidence: ev,
			}))
		}
	}
	return out
}

// podless is one Service of a cluster with ready endpoints that name no Pod.
type podless struct {
	svcKey
	ready, noPod int
	addrs        []string
	slices       []string
	selectorless bool
}

// podlessServices lists c's Services (outside the system namespaces and
// Istio's) with ready endpoints that name no Pod, sorted.
func podlessServices(c *model.Cluster) []podless {
	by := map[svcKey]*podless{}
	for _, es := range c.EndpointSlices {
		k := svcKey{es.Namespace, es.Service}
		if es.Service == "" || systemNamespaces[es.Namespace] || es.Namespace == c.IstioNamespace ||
			(es.Namespace == "default" && es.Service == "kubernetes") { // the API server's own endpoints, in every cluster
			continue
		}
		p := by[k]
		if p == nil {
			p = &podless{svcKey: k}
			by[k] = p
		}
		p.ready += es.Ready
		if len(es.NoPod) > 0 {
			p.noPod += len(es.NoPod)
			p.addrs = append(p.addrs, es.NoPod...)
			p.slices = append(p.slices, es.Name)
		}
	}
	for _, s := range c.Services {
		if p := by[svcKey{s.Namespace, s.Name}]; p != nil {
			p.selectorless = len(s.Selector) == 0
		}
	}
	var out []podless
	for _, p := range by {
		if p.noPod > 0 && indexOf(c).services[p.svcKey] {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ns != out[j].ns {
			return out[i].ns < out[j].ns
		}
		return out[i].name < out[j].name
	})
	return out
}

func describeAddrs(a []string) string {
	a = append([]string(nil), a...)
	sort.Strings(a)
	if len(a) > 5 {
		return strings.Join(a[:5], ", ") + fmt.Sprintf(" and %d more", len(a)-5)
	}
	return strings.Join(a, ", ")
}

// networkMember is a primary or remote cluster with its network.
type networkMember struct {
	c       *model.Cluster
	network string
}

// networkMembers returns the mesh's members, and the addresses of each
// network's east-west gateways (any cluster's, as istiod reads them).
func networkMembers(f *model.Fleet) ([]networkMember, map[string][]string) {
	var ms []networkMember
	gateways := map[string][]string{}
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary && id.Role != mesh.RoleRemote {
			continue
		}
		ms = append(ms, networkMember{c, id.Network})
		for _, g := range mesh.NetworkGateways(c) {
			for _, a := range g.Addresses {
				gateways[g.Network] = append(gateways[g.Network], fmt.Sprintf("%s (%s in %s)", a, g.Ref(), c.Context))
			}
		}
	}
	return ms, gateways
}

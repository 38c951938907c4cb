package connectivity

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// systemNamespaces hold the clusters' own services, not the mesh's.
var systemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// podsOf is where a service has ready pods: a cluster and its network.
type podsOf struct {
	context, network string
	ready            int
}

// headlessAcrossNetworks (MF3020): istiod turns a headless Service
// (clusterIP None) into a Passthrough service (istio.io/istio
// pilot/pkg/serviceregistry/kube/conversion.go), and a sidecar's cluster for
// it into ORIGINAL_DST (pilot/pkg/networking/core/cluster.go,
// convertResolution): the sidecar connects to the pod IP the client dialled.
// No east-west gateway is involved, so pods on another network than the
// caller cannot be reached (istio/istio#38327, #36733). Names resolve
// only to the caller's own network's pods: kube-dns answers the cluster's
// own, and Istio's DNS proxy leaves other networks' out
// (pkg/dns/server/name_table.go). So a cluster with pods of its own on its
// network calls those and is fine; one with none there reaches no pod at
// all. istiod treats an empty network as every network
// (pilot/pkg/model/context.go, InNetwork: identifier.IsSameOrEmpty), so
// clusters without one are left out.
func headlessAcrossNetworks(f *model.Fleet) []checks.Finding {
	type key struct{ ns, name string }
	ready := map[key][]podsOf{}
	inMesh := map[*model.Cluster]mesh.Identity{}
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary && id.Role != mesh.RoleRemote {
			continue
		}
		inMesh[c] = id
		counts := map[key]int{}
		for _, es := range c.EndpointSlices {
			if es.Service != "" && es.Ready > 0 {
				counts[key{es.Namespace, es.Service}] += es.Ready
			}
		}
		for _, s := range c.Services {
			if n := counts[key{s.Namespace, s.Name}]; n > 0 {
				ready[key{s.Namespace, s.Name}] = append(ready[key{s.Namespace, s.Name}], podsOf{c.Context, id.Network, n})
			}
		}
	}
	var out []checks.Finding
	for _, c := range f.Clusters {
		id, ok := inMesh[c]
		if !ok || id.Network == "" {
			continue
		}
		for _, s := range c.Services {
			if !s.Headless || systemNamespaces[s.Namespace] || s.Namespace == c.IstioNamespace {
				continue
			}
			var local, far []podsOf
			for _, p := range ready[key{s.Namespace, s.Name}] {
				switch {
				case p.network == "" || p.network == id.Network:
					local = append(local, p)
				default:
					far = append(far, p)
				}
			}
			if len(far) == 0 || len(local) > 0 {
				continue // nothing elsewhere, or pods of its own network that it calls
			}
			out = append(out, headlessFinding(c, id, s, far))
		}
	}
	return out
}

func headlessFinding(c *model.Cluster, id mesh.Identity, s model.Service, far []podsOf) checks.Finding {
	host := fmt.Sprintf("%s.%s.svc.cluster.local", s.Name, s.Namespace)
	farNets := strings.Join(networksOf(far), ", ")
	return checks.NewMF3020(checks.MF3020Subjects{Cluster: c.Context}, checks.Details{
		Object: &checks.ObjectRef{Kind: "Service", Namespace: s.Namespace, Name: s.Name},
		Message: fmt.Sprintf("headless Service %s/%s has ready pods only on %s, none on %s's network %s: %s's sidecars get an ORIGINAL_DST cluster for it that dials pod IPs directly, never through an east-west gateway, and %s cannot route %s's pod IPs, so no call from %s reaches a pod",
			s.Namespace, s.Name, farNets, c.Context, id.Network, c.Context, id.Network, farNets, c.Context),
		Evidence: []string{
			fmt.Sprintf("Service %s/%s in %s is headless (clusterIP None): istiod sends its sidecars an ORIGINAL_DST cluster for %s (a Passthrough service), which connects to the pod IP dialled", s.Namespace, s.Name, c.Context, host),
			fmt.Sprintf("%s is on network %s, with no ready pod of %s", c.Context, id.Network, s.Name),
			"ready pods on other networks: " + describePods(far),
			fmt.Sprintf("%s resolves to no pod in %s: its DNS answers its own pods, and Istio's DNS proxy leaves other networks' pods out", host, c.Context),
		},
	})
}

func networksOf(ps []podsOf) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		if !seen[p.network] {
			seen[p.network] = true
			out = append(out, p.network)
		}
	}
	sort.Strings(out)
	return out
}

func describePods(ps []podsOf) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		nw := p.network
		if nw == "" {
			nw = "no network"
		}
		parts[i] = fmt.Sprintf("%s (%s, %d ready)", p.context, nw, p.ready)
	}
	return strings.Join(parts, ", ")
}

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
// caller cannot be reached (istio/istio#38327, #36733). istiod treats an
// empty network as every network (pilot/pkg/model/context.go, InNetwork: identifier.IsSameOrEmpty), so
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
			if len(far) == 0 {
				continue
			}
			out = append(out, headlessFinding(c, id, s, local, far))
		}
	}
	return out
}

func headlessFinding(c *model.Cluster, id mesh.Identity, s model.Service, local, far []podsOf) checks.Finding {
	host := fmt.Sprintf("%s.%s.svc.cluster.local", s.Name, s.Namespace)
	farNets := networksOf(far)
	ev := []string{
		fmt.Sprintf("Service %s/%s in %s is headless (clusterIP None): istiod sends its sidecars an ORIGINAL_DST cluster for %s, which connects to the pod IP dialled and never to an east-west gateway", s.Namespace, s.Name, c.Context, host),
		fmt.Sprintf("%s is on network %s", c.Context, id.Network),
		"ready pods on other networks: " + describePods(far),
	}
	if len(local) > 0 {
		ev = append(ev, "ready pods on "+id.Network+" (or without a network): "+describePods(local))
	}
	d := checks.Details{Object: &checks.ObjectRef{Kind: "Service", Namespace: s.Namespace, Name: s.Name}, Evidence: ev}
	if len(local) == 0 {
		d.Message = fmt.Sprintf("headless Service %s/%s has ready pods only on %s, not on %s's network %s: %s's sidecars dial those pod IPs directly (ORIGINAL_DST), which %s cannot route, and every call from %s fails",
			s.Namespace, s.Name, strings.Join(farNets, ", "), c.Context, id.Network, c.Context, id.Network, c.Context)
	} else {
		d.Severity = checks.SeverityWarning
		d.Message = fmt.Sprintf("headless Service %s/%s has ready pods on %s as well as on %s's network %s: %s's sidecars dial pod IPs directly (ORIGINAL_DST), so calls that go to the pods on %s fail",
			s.Namespace, s.Name, strings.Join(farNets, ", "), c.Context, id.Network, c.Context, strings.Join(farNets, ", "))
	}
	return checks.NewMF3020(checks.MF3020Subjects{Cluster: c.Context}, d)
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

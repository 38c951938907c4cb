package discovery

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

// shape is what must agree of one Service across clusters: its type,
// whether it is headless, and its ports (name, protocol, port, target
// port), as istioctl analyze's IST0170 compares them (istio.io/istio
// pkg/config/analysis/analyzers/multicluster). Node ports are left out:
// each cluster allocates its own, so they differ for every NodePort and
// LoadBalancer Service without meaning anything.
type shape struct {
	typ      string
	headless bool
	ports    string
}

func shapeOf(s model.Service) shape {
	ports := make([]string, len(s.Ports))
	for i, p := range s.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		ports[i] = fmt.Sprintf("%s %d/%s→%s", p.Name, p.Port, proto, p.TargetPort)
	}
	sort.Strings(ports)
	typ := s.Type
	if typ == "" {
		typ = "ClusterIP"
	}
	return shape{typ: typ, headless: s.Headless, ports: strings.Join(ports, ", ")}
}

func (s shape) String() string {
	h := ""
	if s.headless {
		h = " headless"
	}
	return fmt.Sprintf("%s%s, ports [%s]", s.typ, h, s.ports)
}

// serviceSameness (MF4012): a Service with the same namespace and name in
// several clusters of the mesh is one service to Istio; its type,
// headless-ness and ports must agree, or clients see whichever cluster's
// definition istiod merged first.
func serviceSameness(f *model.Fleet) []checks.Finding {
	type seen struct {
		context string
		shape   shape
	}
	by := map[string][]seen{}
	for _, c := range f.Clusters {
		if role := mesh.Identify(c).Role; role != mesh.RolePrimary && role != mesh.RoleRemote {
			continue
		}
		for _, s := range c.Services {
			if systemNamespaces[s.Namespace] || s.Namespace == c.IstioNamespace {
				continue // Istio's own services differ by role (a remote's istiod Service, a primary's gateway ports)
			}
			k := s.Namespace + "/" + s.Name
			by[k] = append(by[k], seen{c.Context, shapeOf(s)})
		}
	}
	var out []checks.Finding
	for k, list := range by {
		if len(list) < 2 {
			continue
		}
		var why []string
		first := list[0].shape
		var typ, headless, ports bool
		for _, s := range list[1:] {
			typ = typ || s.shape.typ != first.typ
			headless = headless || s.shape.headless != first.headless
			ports = ports || s.shape.ports != first.ports
		}
		if headless {
			why = append(why, "headless in some clusters, with a cluster IP in others")
		}
		if typ {
			why = append(why, "the type differs")
		}
		if ports {
			why = append(why, "the ports differ")
		}
		if len(why) == 0 {
			continue
		}
		ns, name, _ := strings.Cut(k, "/")
		var ctxs, ev []string
		for _, s := range list {
			ctxs = append(ctxs, s.context)
			ev = append(ev, fmt.Sprintf("%s: %s", s.context, s.shape))
		}
		out = append(out, checks.NewMF4012(checks.MF4012Subjects{Members: ctxs}, checks.Details{
			Object:   &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name},
			Message:  fmt.Sprintf("Service %s is one service across %s, but %s: which definition clients get is undefined", k, strings.Join(ctxs, ", "), strings.Join(why, "; ")),
			Evidence: ev,
		}))
	}
	return out
}

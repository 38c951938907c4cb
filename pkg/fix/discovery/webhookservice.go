package discovery

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// RemoteIstiodService answers MF4040 on a remote cluster: the Service its
// injection webhook calls (istiod-<revision>) is created as Istio's remote
// chart writes it (istio-discovery's remote-istiod-service.yaml: no
// selector, 15012 tcp-istiod, 443→15017 tcp-webhook) with its EndpointSlice
// (remote-istiod-endpointslices.yaml: remotePilotAddress on 15012 and
// 15017), only when the fleet gives that address unambiguously: the one
// address the remote's other istiod Service already leads to, or else the
// one load-balancer address through which a primary exposes istiod's
// webhook port. Nothing is deleted or renamed. On a primary the missing
// Service would select a revision's istiod pods that are not there: that
// is refused, with what to do.
type RemoteIstiodService struct{}

// Answers is MF4040.
func (RemoteIstiodService) Answers() []checks.ID { return []checks.ID{checks.MF4040} }

// Plan creates each missing Service once, or refuses with the reason.
func (RemoteIstiodService) Plan(in fix.Input) (fix.Plan, error) {
	var p fix.Plan
	done := map[string]bool{}
	for _, fd := range in.FindingsOf(checks.MF4040) {
		if fd.Severity == checks.SeverityUnknown || fd.Object == nil {
			continue
		}
		c := in.Fleet.Cluster(fd.Subject(checks.RoleCluster))
		if c == nil || !c.Reachable {
			continue
		}
		for _, ref := range missingServices(c, fd.Object.Name) {
			if key := c.Context + "/" + ref; !done[key] {
				done[key] = true
				p.Add(planRemoteService(in.Fleet, c, ref))
			}
		}
	}
	return p, nil
}

// missingServices are namespace/name of the Services webhook's hooks call
// that c does not have.
func missingServices(c *model.Cluster, webhook string) []string {
	var out []string
	for _, w := range c.Webhooks {
		if w.Name != webhook {
			continue
		}
		for _, h := range w.Hooks {
			ns, name, _, ok := h.ServiceRef()
			if ok && mesh.UncallableService(c, ns, name) == "missing" {
				ref := ns + "/" + name
				if !contains(out, ref) {
					out = append(out, ref)
				}
			}
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func planRemoteService(f *model.Fleet, c *model.Cluster, ref string) fix.Plan {
	answers := []checks.ID{checks.MF4040}
	ns, name, _ := strings.Cut(ref, "/")
	refuse := func(format string, a ...any) fix.Plan {
		return fix.Plan{Refused: []fix.Refusal{{Context: c.Context, Answers: answers, Reason: fmt.Sprintf(format, a...)}}}
	}
	if mesh.Identify(c).Role != mesh.RoleRemote {
		return refuse("Service %s is missing in %s, which runs istiod: there it would select the pods of an istiod revision that is not installed. Install that revision, or point the webhook (a revision tag: istioctl tag set <tag> --revision <installed> --overwrite) at one that is", ref, c.Context)
	}
	if ns != c.IstioNamespace || (name != mesh.IstiodApp && !strings.HasPrefix(name, mesh.IstiodApp+"-")) {
		return refuse("the webhook calls Service %s, which is not an istiod Service of the Istio namespace %s: fix makes only the Service Istio's remote chart writes", ref, c.IstioNamespace)
	}
	revision := strings.TrimPrefix(strings.TrimPrefix(name, mesh.IstiodApp), "-")
	addr, from, err := remotePilotAddress(f, c)
	if err != nil {
		return refuse("Service %s of remote cluster %s: %v; create it by hand as the remote chart does (no selector, 15012 tcp-istiod, 443→15017 tcp-webhook) with an EndpointSlice holding the primary's gateway address", ref, c.Context, err)
	}
	rev := revision
	if rev == "" {
		rev = "default"
	}
	labels := map[string]any{"istio.io/rev": rev, "app.kubernetes.io/name": "istiod"}
	svc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels},
		"spec": map[string]any{"ports": []any{
			map[string]any{"name": "tcp-istiod", "port": int64(mesh.IstiodXDSPort), "protocol": "TCP"},
			map[string]any{"name": "tcp-webhook", "port": int64(443), "targetPort": int64(mesh.IstiodWebhookPort), "protocol": "TCP"},
		}},
	}}
	addressType := "IPv4"
	if net.ParseIP(addr).To4() == nil {
		addressType = "IPv6"
	}
	slice := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{
			"kubernetes.io/service-name": name, "app.kubernetes.io/name": "istiod",
		}},
		"addressType": addressType,
		"endpoints":   []any{map[string]any{"addresses": []any{addr}}},
		"ports": []any{
			map[string]any{"name": "tcp-istiod", "port": int64(mesh.IstiodXDSPort), "protocol": "TCP"},
			map[string]any{"name": "tcp-webhook", "port": int64(mesh.IstiodWebhookPort), "protocol": "TCP"},
		},
	}}
	why := fmt.Sprintf("The injection webhook of remote cluster %s calls Service %s, which does not exist, so the API server refuses the pods it matches or admits them without a sidecar. "+
		"This is the Service Istio's remote chart writes for revision %s (remote-istiod-service.yaml), without selector, and its EndpointSlice holds the primary's istiod address %s (%s), as remotePilotAddress would.",
		c.Context, ref, rev, addr, from)
	return fix.Plan{Changes: []fix.Change{
		{Context: c.Context, Object: svc, Answers: answers, Reason: why, Phase: fix.PhaseConfigure},
		{Context: c.Context, Object: slice, Answers: answers, Reason: why, Phase: fix.PhaseConfigure},
	}}
}

// remotePilotAddress is the one IP a remote's istiod Service should lead
// to: the addresses the remote's other selectorless istiod Services
// already lead to, when they agree; else the load-balancer IPs of the
// primaries' Services that expose istiod's webhook port, when there is
// exactly one. Anything else is ambiguous, and says what it saw.
func remotePilotAddress(f *model.Fleet, c *model.Cluster) (addr, from string, err error) {
	set := map[string]string{}
	for _, s := range c.Services {
		if s.Namespace != c.IstioNamespace || len(s.Selector) > 0 || s.Type == "ExternalName" ||
			(s.Name != mesh.IstiodApp && !strings.HasPrefix(s.Name, mesh.IstiodApp+"-")) {
			continue
		}
		for _, es := range c.EndpointSlices {
			if es.Namespace == s.Namespace && es.Service == s.Name {
				for _, a := range es.Addresses {
					set[a] = fmt.Sprintf("the endpoint of Service %s/%s in %s", s.Namespace, s.Name, c.Context)
				}
			}
		}
	}
	if len(set) == 0 {
		for _, p := range f.Clusters {
			if !p.Reachable || mesh.Identify(p).Role != mesh.RolePrimary {
				continue
			}
			for _, s := range p.Services {
				if _, ok := mesh.ServicePort(s, mesh.IstiodWebhookPort); !ok || s.Type != "LoadBalancer" {
					continue
				}
				for _, in := range s.LoadBalancer {
					if in.IP != "" {
						set[in.IP] = fmt.Sprintf("the load balancer of Service %s/%s in %s, which exposes %d", s.Namespace, s.Name, p.Context, mesh.IstiodWebhookPort)
					}
				}
			}
		}
	}
	var addrs []string
	for a := range set {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	switch {
	case len(addrs) == 0:
		return "", "", fmt.Errorf("the fleet read gives no address for the primary's istiod (no other istiod Service here leads anywhere, and no primary read exposes %d through a load balancer with an IP)", mesh.IstiodWebhookPort)
	case len(addrs) > 1:
		return "", "", fmt.Errorf("the fleet read gives several addresses for the primary's istiod (%s): which one is not for fix to guess", strings.Join(addrs, ", "))
	case !mesh.IsIP(addrs[0]):
		return "", "", fmt.Errorf("the primary's istiod address %s is not an IP, which an EndpointSlice cannot hold", addrs[0])
	}
	return addrs[0], set[addrs[0]], nil
}

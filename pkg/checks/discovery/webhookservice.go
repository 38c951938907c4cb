package discovery

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/members"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// hookCall is the injection webhooks of one MutatingWebhookConfiguration
// that call one Service, with their failure policies.
type hookCall struct {
	webhook   model.Webhook
	namespace string
	service   string
	port      int32
	path      string
	hooks     []string
	policies  map[string][]string // Fail|Ignore → hooks
}

// serviceHookCalls lists, per injection webhook configuration of c, the
// Services its hooks call (clientConfig.service), one entry per Service.
func serviceHookCalls(c *model.Cluster) []*hookCall {
	var out []*hookCall
	for _, w := range c.Webhooks {
		if !mesh.IsInjectionWebhook(w) {
			continue
		}
		byService := map[string]*hookCall{}
		for _, h := range w.Hooks {
			ns, name, port, ok := h.ServiceRef()
			if !ok {
				continue
			}
			key := fmt.Sprintf("%s/%s:%d", ns, name, port)
			hc := byService[key]
			if hc == nil {
				hc = &hookCall{webhook: w, namespace: ns, service: name, port: port, path: h.Path, policies: map[string][]string{}}
				byService[key] = hc
				out = append(out, hc)
			}
			hc.hooks = append(hc.hooks, h.Name)
			policy := h.FailurePolicy
			if policy == "" {
				policy = "Fail" // admissionregistration/v1's default
			}
			hc.policies[policy] = append(hc.policies[policy], h.Name)
		}
	}
	return out
}

// hooksNamed names the hooks of a call, as "injection webhook(s) … of <configuration>".
func (hc *hookCall) hooksNamed() string {
	if len(hc.hooks) == 1 {
		return fmt.Sprintf("injection webhook %s of %s", hc.hooks[0], hc.webhook.Name)
	}
	return fmt.Sprintf("injection webhooks %s of %s", strings.Join(hc.hooks, ", "), hc.webhook.Name)
}

// effect says what a call that cannot be made does to the pods the hooks
// match, by their failure policy, and whether any hook fails closed.
func (hc *hookCall) effect(apiError string) (text string, failsClosed bool) {
	fail, ignore := hc.policies["Fail"], hc.policies["Ignore"]
	who := func(hs []string) string {
		if len(fail) == 0 || len(ignore) == 0 {
			return "the pods it matches" // one policy for every hook
		}
		return "the pods that " + strings.Join(hs, ", ") + " match"
	}
	var parts []string
	if len(fail) > 0 {
		parts = append(parts, fmt.Sprintf("%s are rejected (failurePolicy Fail): the API server answers %s", who(fail), apiError))
		failsClosed = true
	}
	if len(ignore) > 0 {
		parts = append(parts, fmt.Sprintf("%s are created without a sidecar (failurePolicy Ignore)", who(ignore)))
	}
	return strings.Join(parts, "; "), failsClosed
}

// roleOf names a cluster for a message: "remote cluster west".
func roleOf(c *model.Cluster) string {
	switch mesh.Identify(c).Role {
	case mesh.RoleRemote:
		return "remote cluster " + c.Context
	case mesh.RolePrimary:
		return "primary " + c.Context
	}
	return "cluster " + c.Context
}

// istiodServicesIn describes the Services of namespace ns that stand for an
// istiod (istiod, istiod-<revision>, istiod-remote…): what exists instead
// of the one a webhook calls, with where each one leads.
func istiodServicesIn(c *model.Cluster, ns string) []string {
	var out []string
	for _, s := range c.Services {
		if s.Namespace != ns || (s.Name != mesh.IstiodApp && !strings.HasPrefix(s.Name, mesh.IstiodApp+"-")) {
			continue
		}
		desc := fmt.Sprintf("Service %s/%s", s.Namespace, s.Name)
		switch {
		case s.Type == "ExternalName":
			desc += " (ExternalName " + s.ExternalName + ")"
		case len(s.Selector) > 0:
			desc += " (selects pods of this cluster"
			if rev := s.Labels["istio.io/rev"]; rev != "" {
				desc += ", revision " + rev
			}
			desc += ")"
		default:
			var addrs []string
			for _, es := range c.EndpointSlices {
				if es.Namespace == s.Namespace && es.Service == s.Name {
					for _, a := range es.Addresses {
						for _, p := range es.Ports {
							addrs = append(addrs, net.JoinHostPort(a, strconv.Itoa(int(p.Port)))+" ("+p.Name+")")
						}
					}
				}
			}
			if len(addrs) == 0 {
				desc += " (no selector, no endpoints)"
			} else {
				desc += " (no selector; endpoints " + strings.Join(addrs, ", ") + ")"
			}
		}
		out = append(out, desc)
	}
	sort.Strings(out)
	return out
}

// webhookServiceMissing (MF4040): an injection webhook whose
// clientConfig.service names a Service that does not exist. The API
// server resolves it through its service lister (k8s.io/apiserver
// pkg/util/proxy ResolveCluster, or ResolveEndpoint with
// --enable-aggregator-routing) and fails the call with `service "<name>"
// not found`; the hook's failurePolicy then rejects the pod (Fail, the
// chart's) or admits it without a sidecar (Ignore). Istio's charts name
// the Service after the revision (istiod-<revision>, mutatingwebhook.yaml
// and revision-tags-mwc.yaml of istio-discovery), and the remote profile
// writes that Service (remote-istiod-service.yaml); the istiod-remote
// chart of older releases wrote "istiod" whatever the revision
// (istio/istio#47552), and a revision tag outlives the revision it names.
func webhookServiceMissing(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, hc := range serviceHookCalls(c) {
			if _, ok := findService(c, hc.namespace, hc.service); ok {
				continue
			}
			effect, closed := hc.effect(fmt.Sprintf("service %q not found", hc.service))
			sev := checks.SeverityError
			if !closed {
				sev = checks.SeverityWarning
			}
			instead := istiodServicesIn(c, hc.namespace)
			insteadText := "no istiod Service exists there at all"
			if len(instead) > 0 {
				insteadText = "what exists instead: " + strings.Join(instead, "; ")
			}
			ev := []string{
				fmt.Sprintf("%s call Service %s/%s port %d, path %s", hc.hooksNamed(), hc.namespace, hc.service, hc.port, hc.path),
				fmt.Sprintf("no Service %s/%s in %s; %s", hc.namespace, hc.service, c.Context, insteadText),
			}
			if rev := hc.webhook.Labels["istio.io/rev"]; rev != "" {
				ev = append(ev, fmt.Sprintf("%s is labelled istio.io/rev=%s", hc.webhook.Name, rev))
			}
			if tag := hc.webhook.Labels["istio.io/tag"]; tag != "" {
				ev = append(ev, fmt.Sprintf("%s is revision tag %q", hc.webhook.Name, tag))
			}
			out = append(out, checks.NewMF4040(checks.MF4040Subjects{Cluster: c.Context}, checks.Details{
				Severity: sev,
				Object:   &checks.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: hc.webhook.Name},
				Message: fmt.Sprintf("the injection webhook %s of %s calls Service %s/%s, which does not exist there: %s",
					hc.webhook.Name, roleOf(c), hc.namespace, hc.service, effect),
				Evidence: ev,
			}))
		}
	}
	return out
}

// webhookServiceExternalName (MF4041): an injection webhook that calls an
// ExternalName Service. kube-apiserver's default service resolver
// (k8s.io/apiserver pkg/util/proxy ResolveCluster, chosen by
// cmd/kube-apiserver/app/server.go buildServiceResolver unless
// --enable-aggregator-routing) calls https://<externalName>:<the webhook's
// port>: no kube-proxy is behind an ExternalName, so the Service's
// targetPort (Istio's remote chart maps 443 to 15017) is never applied, and
// the call goes to the external host's 443, where the primary's east-west
// gateway exposes istiod's webhook on 15017 only. With
// --enable-aggregator-routing (ResolveEndpoint) the API server refuses the
// Service outright: `unsupported service type "ExternalName"`
// (istio/istio#45014). Istio's remote chart writes the istiod Service as an
// ExternalName itself when remotePilotAddress is a host name
// (remote-istiod-service.yaml), as users set it to an NLB's name.
func webhookServiceExternalName(f *model.Fleet) []checks.Finding {
	exposed := loadBalancerPorts(f)
	partial := members.Of(f).Partial()
	var out []checks.Finding
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, hc := range serviceHookCalls(c) {
			s, ok := findService(c, hc.namespace, hc.service)
			if !ok || s.Type != "ExternalName" {
				continue
			}
			target := net.JoinHostPort(s.ExternalName, strconv.Itoa(int(hc.port)))
			ev := []string{
				fmt.Sprintf("%s call Service %s/%s port %d, path %s", hc.hooksNamed(), hc.namespace, hc.service, hc.port, hc.path),
				fmt.Sprintf("Service %s/%s is type ExternalName %s, ports %s", s.Namespace, s.Name, s.ExternalName, describePorts(s.Ports)),
				fmt.Sprintf("kube-apiserver's default service resolver calls https://%s%s (the webhook's port; an ExternalName's targetPort is never applied); with --enable-aggregator-routing it refuses the Service: unsupported service type \"ExternalName\"", target, hc.path),
			}
			host := s.ExternalName
			lbs := map[string][]string{} // the load balancer of that name → its ports
			for hp, what := range exposed {
				if h, p, _ := net.SplitHostPort(hp); h == host {
					lbs[what] = append(lbs[what], p)
				}
			}
			if len(lbs) == 0 {
				ev = append(ev, fmt.Sprintf("no primary read has a load balancer named %s", host))
			}
			for what, ports := range lbs {
				sort.Slice(ports, func(i, j int) bool { a, _ := strconv.Atoi(ports[i]); b, _ := strconv.Atoi(ports[j]); return a < b })
				ev = append(ev, fmt.Sprintf("%s is the load balancer of %s, ports %s", host, what, strings.Join(ports, ", ")))
			}
			_, served := exposed[target]
			sev := checks.SeverityError
			var msg string
			switch {
			case served:
				// It can work: an API server without aggregator routing
				// reaches something on that port.
				sev = checks.SeverityWarning
				effect, _ := hc.effect(`unsupported service type "ExternalName"`)
				msg = fmt.Sprintf("the injection webhook %s of %s calls ExternalName Service %s/%s: an API server run with --enable-aggregator-routing cannot call it (%s); without it the call goes to %s, which %s exposes",
					hc.webhook.Name, roleOf(c), s.Namespace, s.Name, effect, target, exposed[target])
			case partial:
				sev = checks.SeverityUnknown
				msg = fmt.Sprintf("the injection webhook %s of %s calls ExternalName Service %s/%s, so the API server calls %s (or refuses the Service, with --enable-aggregator-routing); no primary read exposes that port there, and whether an unread member does is not known",
					hc.webhook.Name, roleOf(c), s.Namespace, s.Name, target)
			default:
				effect, _ := hc.effect(fmt.Sprintf(`unsupported service type "ExternalName", or an error calling %s`, target))
				msg = fmt.Sprintf("the injection webhook %s of %s calls ExternalName Service %s/%s, which the API server cannot use for it: it refuses an ExternalName with --enable-aggregator-routing, and otherwise calls %s, the webhook's port, which no primary's load balancer exposes: %s",
					hc.webhook.Name, roleOf(c), s.Namespace, s.Name, target, effect)
				if _, closed := hc.effect(""); !closed {
					sev = checks.SeverityWarning
				}
			}
			out = append(out, checks.NewMF4041(checks.MF4041Subjects{Cluster: c.Context}, checks.Details{
				Severity: sev,
				Object:   &checks.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: hc.webhook.Name},
				Message:  msg,
				Evidence: ev,
			}))
		}
	}
	return out
}

// loadBalancerPorts maps host:port → the Service of a primary that exposes
// it through its load balancer (IP or host name).
func loadBalancerPorts(f *model.Fleet) map[string]string {
	out := map[string]string{}
	for _, p := range f.Clusters {
		if !p.Reachable || mesh.Identify(p).Role != mesh.RolePrimary {
			continue
		}
		for _, s := range p.Services {
			if s.Type != "LoadBalancer" {
				continue
			}
			for _, in := range s.LoadBalancer {
				for _, host := range []string{in.IP, in.Hostname} {
					if host == "" {
						continue
					}
					for _, port := range s.Ports {
						out[net.JoinHostPort(host, strconv.Itoa(int(port.Port)))] = fmt.Sprintf("Service %s/%s in %s", s.Namespace, s.Name, p.Context)
					}
				}
			}
		}
	}
	return out
}

func describePorts(ps []model.ServicePort) string {
	var parts []string
	for _, p := range ps {
		s := strconv.Itoa(int(p.Port))
		if p.TargetPort != "" && p.TargetPort != "0" && p.TargetPort != s {
			s += "→" + p.TargetPort
		}
		if p.Name != "" {
			s += " (" + p.Name + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func findService(c *model.Cluster, ns, name string) (model.Service, bool) {
	for _, s := range c.Services {
		if s.Namespace == ns && s.Name == name {
			return s, true
		}
	}
	return model.Service{}, false
}

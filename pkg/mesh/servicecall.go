package mesh

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// ServiceCall is where a cluster's API server sends a webhook request whose
// clientConfig names a Service (as Istio's istio-discovery chart renders
// the injection webhook with istiodRemote.injectionPath), worked out as
// the API server and kube-proxy do it:
//
//   - the API server's default service resolver
//     (k8s.io/apiserver/pkg/util/proxy ResolveCluster, used by
//     kube-apiserver unless --enable-aggregator-routing) calls
//     https://<clusterIP>:<port> for a ClusterIP, NodePort or LoadBalancer
//     Service, https://<externalName>:<port> for an ExternalName Service
//     (the webhook's port as it is: an ExternalName has no kube-proxy
//     behind it to apply targetPort), and refuses a headless Service;
//   - it verifies the server as <name>.<namespace>.svc
//     (k8s.io/apiserver/pkg/util/webhook);
//   - kube-proxy sends the cluster IP's port to the endpoints of the
//     Service's EndpointSlices, on the slice port named like the Service
//     port (for a Service with a selector, that port comes from the pods'
//     targetPort; for a selectorless one, from the slices written by hand
//     or by an installer, such as the remote profile's
//     remote-istiod-endpointslices.yaml).
type ServiceCall struct {
	// Targets are the host:port pairs the request ends up at, sorted.
	Targets []string
	// ServerName is the name the API server verifies the certificate by.
	ServerName string
	// Via describes the path: "Service istio-system/istiod:443 → its
	// EndpointSlices" or "… (ExternalName)".
	Via string
	// Local: the Service selects pods of this cluster (kube-proxy sends
	// the call to them), so it does not leave the cluster.
	Local bool
	// Problem says why the API server cannot call the Service at all (no
	// such Service or port, headless, no endpoints); "" when it can.
	Problem string
}

// ResolveServiceCall works out where c's API server sends a call to Service
// namespace/name on port.
func ResolveServiceCall(c *model.Cluster, namespace, name string, port int32) ServiceCall {
	call := ServiceCall{ServerName: name + "." + namespace + ".svc"}
	ref := fmt.Sprintf("Service %s/%s:%d", namespace, name, port)
	call.Via = ref
	var svc *model.Service
	for i := range c.Services {
		if s := &c.Services[i]; s.Namespace == namespace && s.Name == name {
			svc = s
		}
	}
	if svc == nil {
		call.Problem = fmt.Sprintf("there is no Service %s/%s in %s, so the API server cannot resolve it", namespace, name, c.Context)
		return call
	}
	if svc.Type == "ExternalName" {
		call.Via = ref + " (ExternalName " + svc.ExternalName + ")"
		call.Targets = []string{net.JoinHostPort(svc.ExternalName, strconv.Itoa(int(port)))}
		return call
	}
	if svc.Headless || svc.ClusterIP == "None" {
		call.Problem = fmt.Sprintf("Service %s/%s is headless (clusterIP None): the API server does not call such a Service", namespace, name)
		return call
	}
	sp, ok := ServicePort(*svc, port)
	if !ok {
		call.Problem = fmt.Sprintf("Service %s/%s has no port %d", namespace, name, port)
		return call
	}
	call.Local = len(svc.Selector) > 0
	call.Via = ref + " → its EndpointSlices"
	seen := map[string]bool{}
	for _, es := range c.EndpointSlices {
		if es.Namespace != namespace || es.Service != name {
			continue
		}
		to, ok := slicePort(es, sp)
		if !ok {
			continue
		}
		for _, a := range es.Addresses {
			t := net.JoinHostPort(a, strconv.Itoa(int(to)))
			if !seen[t] {
				seen[t] = true
				call.Targets = append(call.Targets, t)
			}
		}
	}
	sort.Strings(call.Targets)
	if len(call.Targets) == 0 {
		call.Problem = fmt.Sprintf("Service %s/%s has no endpoint for port %d (%s): kube-proxy rejects the call", namespace, name, port, portName(sp))
	}
	return call
}

// slicePort is the endpoint port kube-proxy sends Service port sp to in
// slice es: the slice port with sp's name. A slice read without ports
// (older snapshots) falls back to a numeric targetPort, or the port.
func slicePort(es model.EndpointSlice, sp model.ServicePort) (int32, bool) {
	if len(es.Ports) == 0 {
		if n, err := strconv.Atoi(sp.TargetPort); err == nil && n > 0 {
			return int32(n), true
		}
		return sp.Port, true
	}
	for _, p := range es.Ports {
		if p.Name == sp.Name {
			return p.Port, true
		}
	}
	return 0, false
}

func portName(sp model.ServicePort) string {
	if sp.Name == "" {
		return "unnamed"
	}
	return "named " + sp.Name
}

// IsInjectionWebhook reports whether a MutatingWebhookConfiguration is
// Istio's sidecar injector: istio-sidecar-injector[-<revision>] and the
// revision tags' istio-revision-tag-<tag> (istio-discovery's
// mutatingwebhook.yaml and revision-tags-mwc.yaml), all labelled
// app=sidecar-injector.
func IsInjectionWebhook(w model.Webhook) bool {
	return w.Labels["app"] == "sidecar-injector" || strings.Contains(w.Name, "sidecar-injector") ||
		strings.HasPrefix(w.Name, "istio-revision-tag-")
}

// UncallableService says why an API server cannot use a webhook's Service
// the way Istio's charts mean it to: "missing" (no such Service: `service
// "<name>" not found`) or "externalname" (an ExternalName, whose
// targetPort is never applied and which aggregator routing refuses); ""
// otherwise. MF4040 and MF4041 report these; the checks that follow the
// same call (MF3015, MF3016) leave them to those.
func UncallableService(c *model.Cluster, namespace, name string) string {
	for _, s := range c.Services {
		if s.Namespace == namespace && s.Name == name {
			if s.Type == "ExternalName" {
				return "externalname"
			}
			return ""
		}
	}
	return "missing"
}

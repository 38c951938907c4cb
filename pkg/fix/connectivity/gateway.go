package connectivity

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// ensureGateway plans an east-west gateway for network in c: Istio's chart
// objects when there is none, or what an existing one lacks. It returns the
// labels Gateway objects select its pods by; false when it refused.
func (p *planner) ensureGateway(c *model.Cluster, network string, id checks.ID, why string) (map[string]any, bool) {
	ns := c.IstioNamespace
	if s, ok := existingGatewayService(c); ok {
		sel := gatewaySelectorOf(c, s)
		if sel == nil {
			p.refuse(c.Context, id, fmt.Sprintf("Service %s/%s has no selector, so there are no gateway pods to program", s.Namespace, s.Name))
			return nil, false
		}
		deps, pods := mesh.SelectedWorkloads(c, s)
		install := len(deps) == 0 && len(pods) == 0
		if install && !mesh.LabelsMatch(s.Selector, gatewayPodLabels(network, mesh.Identify(c).Revision)) {
			p.refuse(c.Context, id, fmt.Sprintf("Service %s/%s selects %s, which Istio's gateway pods would not carry, and no Deployment or Pod with those labels was read: install its gateway pods, or delete the Service and run fix again", s.Namespace, s.Name, labelString(s.Selector)))
			return nil, false
		}
		p.patchService(c, s, id, why+fmt.Sprintf(" %s/%s is meant as its gateway (label istio=%s or its name) but istiod cannot use it: this gives it what it lacks.", s.Namespace, s.Name, s.Labels["istio"]))
		for _, d := range deps {
			p.patchDeployment(c, d, network, id, fmt.Sprintf("The pods of %s/%s are network %q's gateway: they must be on that network and ask istiod for its endpoints only.", d.Namespace, d.Name, network))
		}
		if install {
			p.installWorkload(c, s.Namespace, network, id, why)
		}
		return sel, true
	}
	if d, ok := findDeployment(c, ns, gatewayName); ok {
		if !mesh.LabelsMatch(stringMap(gatewaySelector()), d.PodLabels) {
			p.refuse(c.Context, id, fmt.Sprintf("Deployment %s/%s exists with pod labels %s, which the gateway Service would not select: rename or remove it, then run fix again", ns, gatewayName, labelString(d.PodLabels)))
			return nil, false
		}
		p.patchDeployment(c, d, network, id, fmt.Sprintf("Deployment %s/%s runs the gateway pods the new Service selects: they must be on network %q and ask istiod for its endpoints only.", ns, gatewayName, network))
	} else {
		p.installWorkload(c, ns, network, id, why)
	}
	svc := gatewayService(ns, network, p.awsScheme)
	p.change(c.Context, svc, fix.PhaseConfigure, id, serviceReason(network, p.awsScheme))
	p.note(c.Context, id, fmt.Sprintf("Service %s/%s is of type LoadBalancer: it is usable once the cloud's load balancer controller gives it an address (status.loadBalancer.ingress); until then doctor reports MF3002. Allow TCP 15443 (and 15012, 15017 for remote clusters) to it from the peer networks.%s",
		ns, gatewayName, awsNote(p.awsScheme)))
	return map[string]any{"istio": gatewayIstio}, true
}

// installWorkload plans the gateway's identity and Deployment.
func (p *planner) installWorkload(c *model.Cluster, ns, network string, id checks.ID, why string) {
	td := mesh.Identify(c).TrustDomain
	if td == "" {
		td = "<trust domain>"
	}
	p.change(c.Context, gatewayServiceAccount(ns), fix.PhaseIdentity, id,
		fmt.Sprintf("The east-west gateway's pods run as this service account; their mesh identity is spiffe://%s/ns/%s/sa/%s.", td, ns, gatewayName))
	p.change(c.Context, gatewayRole(ns), fix.PhaseIdentity, id,
		"As Istio's gateway chart does: lets the gateway read the TLS secrets that Gateway objects in its namespace name (credentialName).")
	p.change(c.Context, gatewayRoleBinding(ns), fix.PhaseIdentity, id,
		fmt.Sprintf("Grants the Role %s to the gateway's service account.", gatewayName))
	rev := mesh.Identify(c).Revision
	view := ""
	if network != "" {
		view = fmt.Sprintf(", labelled %s=%s so the proxy knows its network, and with %s=%s so istiod sends it only the endpoints it can reach directly", mesh.NetworkLabel, network, mesh.RequestedNetworkView, network)
	}
	p.change(c.Context, gatewayDeployment(ns, network, rev), fix.PhaseConfigure, id,
		why+fmt.Sprintf(" This runs the gateway in %s as Istio's gateway chart does for a network gateway: pods that istiod's injector fills in with its gateway template (image \"auto\" becomes the control plane's proxy image)%s.", c.Context, view))
	for _, n := range c.Namespaces {
		if n.Name == ns && n.Labels["istio-injection"] == "disabled" {
			p.note(c.Context, id, fmt.Sprintf("Namespace %s is labelled istio-injection=disabled, so istiod's injector skips the gateway pods and their image \"auto\" cannot be pulled: remove the label, or install the gateway in another namespace.", ns))
		}
	}
}

func serviceReason(network, awsScheme string) string {
	s := "Gives the gateway an address other networks can dial: a load balancer"
	if network != "" {
		s += fmt.Sprintf(" labelled %s=%s, which is how istiod finds network %q's gateway,", mesh.NetworkLabel, network, network)
	}
	s += " with the ports Istio's multicluster manifests name: status-port 15021 (health), tls 15443 (cross-network mTLS, passed through by SNI), tls-istiod 15012 and tls-webhook 15017 (istiod, for remote clusters)."
	if awsScheme != "" {
		s += fmt.Sprintf(" The annotations make the AWS Load Balancer Controller create an %s NLB that targets the pod IPs and passes TCP through untouched (nothing terminates TLS in front of 15443).", awsScheme)
	}
	return s
}

func awsNote(scheme string) string {
	switch scheme {
	case "internal":
		return " With --aws-lb internal the AWS Load Balancer Controller must run in the cluster, and the peers must reach this VPC (peering or Transit Gateway)."
	case "internet-facing":
		return " With --aws-lb internet-facing the AWS Load Balancer Controller must run in the cluster and the NLB gets public addresses: restrict its security groups to the peers."
	}
	return ""
}

// existingGatewayService is a Service in c that is meant as the east-west
// gateway but is not one istiod can use (no network label or no 15443).
func existingGatewayService(c *model.Cluster) (model.Service, bool) {
	for _, s := range c.Services {
		if s.Labels["istio"] == gatewayIstio {
			return s, true
		}
	}
	return findService(c, c.IstioNamespace, gatewayName)
}

// patchService plans the gateway Service as meshfed wants it: the whole
// object when meshfed made it, otherwise only the fields meshfed sets on it
// (its network label and its gateway ports), with the values it already has
// where they are right. The same fields every time, so applying one fix
// never drops what an earlier one set.
func (p *planner) patchService(c *model.Cluster, s model.Service, id checks.ID, reason string) {
	network := mesh.Identify(c).Network
	if network == "" {
		network = s.Labels[mesh.NetworkLabel]
	}
	if ours(s.Meta) {
		// Keep the load balancer as it was made: changing its annotations
		// later would replace it, and its address with it.
		u := gatewayService(s.Namespace, network, s.Annotations[awsLBScheme])
		u.SetName(s.Name)
		p.change(c.Context, u, fix.PhaseConfigure, id, reason)
		return
	}
	p.foreign(c, "Service", s.Meta, id)
	u := object("v1", "Service", s.Namespace, s.Name)
	if network != "" {
		u.Object["metadata"].(map[string]any)["labels"] = map[string]any{mesh.NetworkLabel: network}
	}
	ports := []any{servicePortAs(s, portTLS, true)}
	if exposesIstiod(p.f, c) {
		ports = append(ports, servicePortAs(s, portIstiod, false), servicePortAs(s, portWebhook, false))
	}
	u.Object["spec"] = map[string]any{"ports": ports}
	p.change(c.Context, u, fix.PhaseConfigure, id, reason)
}

// servicePortAs is port p of s as meshfed wants it: the name Istio gives it
// (forced when rename, else the one it has), and its protocol and target
// port as they are, or Istio's when the port is new.
func servicePortAs(s model.Service, p gatewayPort, rename bool) map[string]any {
	out := p.servicePort()
	have, ok := mesh.ServicePort(s, int32(p.port))
	if !ok {
		return out
	}
	if !rename && have.Name != "" {
		out["name"] = have.Name
	}
	if have.Protocol != "" {
		out["protocol"] = have.Protocol
	}
	if have.TargetPort != "" && have.TargetPort != "0" { // "0": not set, it defaults to the port
		if n, err := strconv.Atoi(have.TargetPort); err == nil {
			out["targetPort"] = int64(n)
		} else {
			out["targetPort"] = have.TargetPort
		}
	}
	return out
}

// exposesIstiod: a primary whose fleet has remote clusters serves them
// through its gateway.
func exposesIstiod(f *model.Fleet, c *model.Cluster) bool {
	if mesh.Identify(c).Role != mesh.RolePrimary {
		return false
	}
	for _, o := range f.Clusters {
		if o.Reachable && mesh.Identify(o).Role == mesh.RoleRemote {
			return true
		}
	}
	return false
}

// patchDeployment plans the gateway Deployment as meshfed wants it: the
// whole object when meshfed made it, otherwise its pod template's network
// label and the proxy's network environment.
func (p *planner) patchDeployment(c *model.Cluster, w model.Workload, network string, id checks.ID, reason string) {
	if network == "" {
		return
	}
	if ours(w.Meta) {
		u := gatewayDeployment(w.Namespace, network, mesh.Identify(c).Revision)
		u.SetName(w.Name)
		p.change(c.Context, u, fix.PhaseConfigure, id, reason+" Changing the pod template rolls the gateway's pods.")
		return
	}
	container := proxyContainer(w)
	if container == "" {
		p.refuse(c.Context, id, fmt.Sprintf("Deployment %s/%s has no container to set the proxy's environment in", w.Namespace, w.Name))
		return
	}
	p.foreign(c, "Deployment", w.Meta, id)
	view := network
	if v, ok := w.Env(mesh.RequestedNetworkView); ok && mesh.NetworkViewIncludes(v, network) {
		view = v // it already names the network, perhaps among others
	}
	env := []any{envVar(mesh.RequestedNetworkView, view)}
	if _, ok := w.Env("ISTIO_META_NETWORK"); ok {
		env = append(env, envVar("ISTIO_META_NETWORK", network))
	}
	u := object("apps/v1", "Deployment", w.Namespace, w.Name)
	u.Object["spec"] = map[string]any{
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{mesh.NetworkLabel: network}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": container, "env": env}}},
		},
	}
	p.change(c.Context, u, fix.PhaseConfigure, id, reason+" Changing the pod template rolls the gateway's pods.")
}

// foreign notes, once per object, what changing an object another installer
// made means.
func (p *planner) foreign(c *model.Cluster, kind string, m model.Meta, id checks.ID) {
	p.note(c.Context, id, fmt.Sprintf("%s %s/%s was installed by something else (Helm, istioctl, an operator): where fix changes a field that installer set, --apply needs --force-conflicts, and the installer's next upgrade sets it back unless its own values say the same.", kind, m.Namespace, m.Name))
}

// proxyContainer names the gateway's proxy container: the one that already
// sets Istio's network variables, else istio-proxy, else the first.
func proxyContainer(w model.Workload) string {
	for _, c := range w.Containers {
		if _, ok := c.Env[mesh.RequestedNetworkView]; ok {
			return c.Name
		}
		if _, ok := c.Env["ISTIO_META_NETWORK"]; ok {
			return c.Name
		}
	}
	for _, c := range w.Containers {
		if c.Name == gatewayProxy {
			return c.Name
		}
	}
	if len(w.Containers) > 0 {
		return w.Containers[0].Name
	}
	return ""
}

// ensureCrossNetworkGateway plans expose-services.yaml's Gateway for the
// gateway pods selected by sel in c, in the clusters whose istiod programs
// them, unless one is there already.
func (p *planner) ensureCrossNetworkGateway(c *model.Cluster, network string, sel map[string]any, id checks.ID) {
	for _, t := range configClusters(p.f, c) {
		name, ok := p.gatewayName(t, sel, crossNetworkGW, network, id, func(s model.GatewayServer) (bool, bool) {
			if s.Port != mesh.CrossNetworkPort {
				return false, false
			}
			return true, s.TLSMode == "AUTO_PASSTHROUGH" && mesh.HostsCoverLocal(s.Hosts)
		})
		if !ok {
			continue
		}
		reason := fmt.Sprintf("The east-west gateway of network %q only listens on 15443 when a Gateway selects it with a server there. This is Istio's expose-services.yaml: AUTO_PASSTHROUGH routes each connection by its SNI (outbound_.<port>_._.<service>) to that service, for every *.local service, without terminating the mTLS.", network)
		if t != c {
			reason += fmt.Sprintf(" The gateway is in remote cluster %s, whose proxies istiod in %s programs from %s's objects, so the Gateway goes there.", c.Context, t.Context, t.Context)
		}
		p.change(t.Context, crossNetworkGateway(t.IstioNamespace, name, sel), fix.PhaseConfigure, id, reason)
	}
}

// ensureIstiodExposure plans expose-istiod.yaml in primary c.
func (p *planner) ensureIstiodExposure(c *model.Cluster, sel map[string]any, id checks.ID, remotes string) {
	name, ok := p.gatewayName(c, sel, istiodGW, "", id, func(s model.GatewayServer) (bool, bool) {
		if s.Port != mesh.IstiodXDSPort && s.Port != mesh.IstiodWebhookPort {
			return false, false
		}
		return true, true // a server there already: the check accepts it, and a second would conflict
	})
	if !ok {
		return
	}
	p.change(c.Context, istiodGateway(c.IstioNamespace, name, sel), fix.PhaseConfigure, id,
		fmt.Sprintf("The remote clusters (%s) have no istiod: their proxies connect to 15012 and their API servers call the injection webhook on 15017 at this gateway's address. This Gateway (Istio's expose-istiod.yaml) makes the gateway listen on both and pass the TLS through, so the remotes verify istiod's own certificate.", remotes))
	p.change(c.Context, istiodVirtualService(c.IstioNamespace, istiodVS, name, istiodHost(c)), fix.PhaseConfigure, id,
		fmt.Sprintf("Sends what arrives on the gateway's 15012 to istiod's xDS port and what arrives on 15017 to its webhook (Service port 443 of %s); a PASSTHROUGH server needs a route to know where to go.", istiodHost(c)))
}

// gatewayName decides the name of a Gateway object to plan in t for the
// pods selected by sel: ok is false when t already has a Gateway selecting
// them whose server does the job, or one whose server on the port would
// conflict with a new one (refused, with the change to make). classify says
// of a server whether it is on the port in question and whether it is right.
func (p *planner) gatewayName(t *model.Cluster, sel map[string]any, base, network string, id checks.ID, classify func(model.GatewayServer) (onPort, right bool)) (string, bool) {
	pods := stringMap(sel)
	taken := false
	for _, gw := range t.Gateways {
		if gw.Namespace == t.IstioNamespace && gw.Name == base && !ours(gw.Meta) {
			taken = true
		}
		if !mesh.LabelsMatch(gw.Selector, pods) {
			continue
		}
		for _, s := range gw.Servers {
			onPort, right := classify(s)
			switch {
			case onPort && right:
				return "", false
			case onPort && ours(gw.Meta):
				return gw.Name, true // meshfed's own: rewrite it
			case onPort:
				p.refuse(t.Context, id, fmt.Sprintf("Gateway %s/%s already has a server on port %d for these gateway pods (mode %s, hosts %s); a second Gateway would conflict with it: change it to tls.mode AUTO_PASSTHROUGH for hosts [\"*.local\"] as in Istio's expose-services.yaml",
					gw.Namespace, gw.Name, s.Port, orNone(s.TLSMode), strings.Join(s.Hosts, ",")))
				return "", false
			}
		}
	}
	if taken {
		suffix := network
		if suffix == "" {
			suffix = "meshfed"
		}
		return base + "-" + suffix, true
	}
	return base, true
}

// configClusters are the clusters whose istiod programs c's gateway: c for
// a primary; for a remote, the primaries holding a remote secret for it, or
// every primary when none does.
func configClusters(f *model.Fleet, c *model.Cluster) []*model.Cluster {
	id := mesh.Identify(c)
	if id.Role != mesh.RoleRemote {
		return []*model.Cluster{c}
	}
	var holders, primaries []*model.Cluster
	for _, o := range f.Clusters {
		if !o.Reachable || mesh.Identify(o).Role != mesh.RolePrimary {
			continue
		}
		primaries = append(primaries, o)
		if _, ok := mesh.RemoteSecretKeys(o)[id.ClusterID]; ok && id.ClusterID != "" {
			holders = append(holders, o)
		}
	}
	if len(holders) > 0 {
		return holders
	}
	return primaries
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func stringMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

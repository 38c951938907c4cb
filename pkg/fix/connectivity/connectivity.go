// Package connectivity plans the objects that answer the connectivity
// findings objects can answer: an east-west gateway for a network without
// one, its Service's port names and network label, the gateway pods' network
// and network view, the cross-network Gateway, and for primary-remote the
// exposure of istiod. What objects cannot fix (a load balancer that gives no
// address, a path that is cut, a TLS-terminating load balancer) the doctor
// already explains; duplicates get a note, and nothing is ever deleted.
//
// The objects are Istio's own: the gateway Helm chart's Deployment,
// ServiceAccount, Role and Service for a network gateway, and
// samples/multicluster's expose-services.yaml and expose-istiod.yaml.
package connectivity

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Check IDs this fixer answers. It reads each finding's subjects by role
// (the catalog declares them), never by the position of a context: the
// runner sorts contexts for display.
const (
	networkWithoutGateway = checks.MF3001
	portNotTLS            = checks.MF3003
	networkLabels         = checks.MF3004
	networkView           = checks.MF3005
	noCrossNetworkGateway = checks.MF3006
	duplicateGateway      = checks.MF3007
	istiodNotExposed      = checks.MF3010
)

// Fixer plans the connectivity fixes.
type Fixer struct{}

// Answers lists the checks whose findings the fixer acts on.
func (Fixer) Answers() []checks.ID {
	return []checks.ID{networkWithoutGateway, portNotTLS, networkLabels, networkView, noCrossNetworkGateway, duplicateGateway, istiodNotExposed}
}

// Plan turns the findings into changes, notes and refusals.
func (fx Fixer) Plan(in fix.Input) (fix.Plan, error) {
	switch in.Options.AWSLoadBalancer {
	case "", "internal", "internet-facing":
	default:
		return fix.Plan{}, fmt.Errorf("AWS load balancer scheme %q: want internal or internet-facing", in.Options.AWSLoadBalancer)
	}
	p := &planner{f: in.Fleet, awsScheme: in.Options.AWSLoadBalancer, index: map[string]int{}, said: map[string]bool{}}
	for _, fd := range in.FindingsOf(fx.Answers()...) {
		if fd.Severity == checks.SeverityUnknown || fd.Severity == checks.SeverityOK {
			continue // nothing was found wrong, only not decided
		}
		switch fd.Check {
		case networkWithoutGateway:
			p.networkWithoutGateway(fd)
		case portNotTLS:
			p.portNotTLS(fd)
		case networkLabels:
			p.networkLabels(fd)
		case networkView:
			p.networkView(fd)
		case noCrossNetworkGateway:
			p.noCrossNetworkGateway(fd)
		case duplicateGateway:
			p.duplicateGateway(fd)
		case istiodNotExposed:
			p.istiodNotExposed(fd)
		}
	}
	return p.plan, nil
}

// planner collects one run's plan. One object gets one change however many
// findings it answers: the object is merged, the answers and reasons joined.
type planner struct {
	f         *model.Fleet
	awsScheme string
	plan      fix.Plan
	index     map[string]int  // context/apiVersion/kind/namespace/name → change
	said      map[string]bool // notes and refusals already added
}

func (p *planner) change(ctx string, u *unstructured.Unstructured, phase fix.Phase, id checks.ID, reason string) {
	key := strings.Join([]string{ctx, u.GetAPIVersion(), u.GetKind(), u.GetNamespace(), u.GetName()}, "/")
	if i, ok := p.index[key]; ok {
		c := &p.plan.Changes[i]
		mergeObject(c.Object.Object, u.Object)
		if !containsID(c.Answers, id) {
			c.Answers = append(c.Answers, id)
		}
		for _, sentence := range strings.SplitAfter(reason, ". ") {
			if sentence = strings.TrimSpace(sentence); !strings.Contains(c.Reason, sentence) {
				c.Reason += " " + sentence
			}
		}
		return
	}
	p.index[key] = len(p.plan.Changes)
	p.plan.Changes = append(p.plan.Changes, fix.Change{Context: ctx, Object: u, Answers: []checks.ID{id}, Reason: reason, Phase: phase})
}

func (p *planner) note(ctx string, id checks.ID, text string) {
	if k := "note/" + ctx + "/" + text; !p.said[k] {
		p.said[k] = true
		p.plan.Notes = append(p.plan.Notes, fix.Note{Context: ctx, Answers: []checks.ID{id}, Text: text})
	}
}

func (p *planner) refuse(ctx string, id checks.ID, reason string) {
	if k := "refuse/" + ctx + "/" + reason; !p.said[k] {
		p.said[k] = true
		p.plan.Refused = append(p.plan.Refused, fix.Refusal{Context: ctx, Answers: []checks.ID{id}, Reason: reason})
	}
}

func containsID(ids []checks.ID, id checks.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// networkWithoutGateway gives the network an east-west gateway in one of its
// clusters (a primary when it has one: its istiod then programs the gateway
// from its own cluster) and the Gateway that opens 15443 on it.
func (p *planner) networkWithoutGateway(fd checks.Finding) {
	var c *model.Cluster
	members := fd.SubjectsOf(checks.RoleMember)
	for _, ctx := range members {
		cc := p.f.Cluster(ctx)
		if cc == nil || !cc.Reachable {
			continue
		}
		if c == nil || (mesh.Identify(cc).Role == mesh.RolePrimary && mesh.Identify(c).Role != mesh.RolePrimary) {
			c = cc
		}
	}
	if c == nil {
		p.refuse(strings.Join(members, ","), fd.Check, "no cluster of the network could be read, so there is nowhere to plan its gateway")
		return
	}
	network := mesh.Identify(c).Network
	why := fmt.Sprintf("Network %q (%s) has no east-west gateway, so no other network can reach its endpoints.", network, strings.Join(members, ", "))
	sel, ok := p.ensureGateway(c, network, fd.Check, why)
	if !ok {
		return
	}
	p.ensureCrossNetworkGateway(c, network, sel, fd.Check)
}

// portNotTLS renames the gateway Service's mTLS port to tls.
func (p *planner) portNotTLS(fd checks.Finding) {
	c, g, ok := p.gatewayOf(fd)
	if !ok {
		return
	}
	for _, sp := range g.Service.Ports {
		if sp.Name == "tls" && sp.Port != g.Port {
			p.refuse(c.Context, fd.Check, fmt.Sprintf("Service %s already names port %d tls, so port %d cannot take the name; rename or remove port %d first", g.Ref(), sp.Port, g.Port, sp.Port))
			return
		}
	}
	p.patchService(c, g.Service, fd.Check, fmt.Sprintf("Port %d of %s carries the cross-network mTLS that AUTO_PASSTHROUGH routes by SNI; Istio takes a port's protocol from its name, and its manifests name this port tls.", g.Port, g.Ref()))
}

// networkLabels puts the gateway Service and the gateway's pods on the
// cluster's network.
func (p *planner) networkLabels(fd checks.Finding) {
	if fd.Object == nil {
		return
	}
	c := p.f.Cluster(fd.Subject(checks.RoleCluster))
	if c == nil {
		return
	}
	id := mesh.Identify(c)
	switch fd.Object.Kind {
	case "Service":
		s, ok := findService(c, fd.Object.Namespace, fd.Object.Name)
		if !ok || id.Network == "" {
			return
		}
		p.patchService(c, s, fd.Check, fmt.Sprintf("istiod takes a Service labelled %s=<network> as that network's gateway; %s is in %s, whose network is %q (the label of namespace %s), so its gateway must say %q.",
			mesh.NetworkLabel, s.Namespace+"/"+s.Name, c.Context, id.Network, c.IstioNamespace, id.Network))
	case "Deployment":
		w, svc, ok := p.gatewayWorkload(c, fd.Object)
		if !ok {
			return
		}
		network := id.Network
		if network == "" {
			network = svc.Labels[mesh.NetworkLabel]
		}
		p.patchDeployment(c, w, network, fd.Check, fmt.Sprintf("The pods of %s/%s serve as network %q's gateway (Service %s/%s), so they must be on that network themselves: a proxy that believes it is elsewhere sends traffic for its own network to another network's gateway.",
			w.Namespace, w.Name, network, svc.Namespace, svc.Name))
	case "Pod":
		p.refuse(c.Context, fd.Check, fmt.Sprintf("Pod %s/%s behind an east-west gateway belongs to no Deployment that was read, so there is no template to correct: change whatever creates it, then restart it", fd.Object.Namespace, fd.Object.Name))
	}
}

// networkView makes the gateway proxy ask istiod for its own network's
// endpoints only.
func (p *planner) networkView(fd checks.Finding) {
	if fd.Object == nil {
		return
	}
	c := p.f.Cluster(fd.Subject(checks.RoleCluster))
	if c == nil {
		return
	}
	if fd.Object.Kind != "Deployment" {
		p.refuse(c.Context, fd.Check, fmt.Sprintf("%s %s/%s belongs to no Deployment that was read, so there is no template to set %s in: set it where the gateway is installed", fd.Object.Kind, fd.Object.Namespace, fd.Object.Name, mesh.RequestedNetworkView))
		return
	}
	w, svc, ok := p.gatewayWorkload(c, fd.Object)
	if !ok {
		return
	}
	network := mesh.Identify(c).Network
	if network == "" {
		network = svc.Labels[mesh.NetworkLabel]
	}
	p.patchDeployment(c, w, network, fd.Check, fmt.Sprintf("With %s=%s istiod sends the gateway only the endpoints of network %q, which it can reach directly; without it, traffic arriving through AUTO_PASSTHROUGH can be sent on to other networks' endpoints it cannot reach.",
		mesh.RequestedNetworkView, network, network))
}

// noCrossNetworkGateway opens 15443 on an existing gateway.
func (p *planner) noCrossNetworkGateway(fd checks.Finding) {
	c, g, ok := p.gatewayOf(fd)
	if !ok {
		return
	}
	sel := gatewaySelectorOf(c, g.Service)
	if sel == nil {
		p.refuse(c.Context, fd.Check, fmt.Sprintf("Service %s has no selector, so there are no gateway pod labels for a Gateway to select", g.Ref()))
		return
	}
	network := mesh.Identify(c).Network
	if network == "" {
		network = g.Network
	}
	p.ensureCrossNetworkGateway(c, network, sel, fd.Check)
}

// duplicateGateway only explains: which copy is meant to stay is the
// user's call, and fix deletes nothing.
func (p *planner) duplicateGateway(fd checks.Finding) {
	p.note(fd.Subject(checks.RoleCluster), fd.Check, "Several Gateway servers listen on the same port of one east-west gateway for the same hosts; istiod keeps one and skips the others, so which settings apply depends on their order. Keep one and delete the others (`kubectl delete gateway -n <namespace> <name> --context <context>`); fix deletes nothing. The servers: "+strings.Join(fd.Evidence, "; "))
}

// istiodNotExposed exposes the primary's istiod to its remotes through the
// primary's east-west gateway, installing the gateway when it has none.
func (p *planner) istiodNotExposed(fd checks.Finding) {
	c := p.f.Cluster(fd.Subject(checks.RolePrimary))
	if c == nil || !c.Reachable {
		return
	}
	remotes := strings.Join(fd.SubjectsOf(checks.RoleRemote), ", ")
	var sel map[string]any
	if fd.Object == nil {
		network := mesh.Identify(c).Network
		var ok bool
		sel, ok = p.ensureGateway(c, network, fd.Check, fmt.Sprintf("Primary %s has no east-west gateway, and its remote clusters (%s) reach its istiod only through one.", c.Context, remotes))
		if !ok {
			return
		}
	} else {
		s, ok := findService(c, fd.Object.Namespace, fd.Object.Name)
		if !ok {
			return
		}
		var missing []string
		for _, port := range []int32{mesh.IstiodXDSPort, mesh.IstiodWebhookPort} {
			if _, ok := mesh.ServicePort(s, port); !ok {
				missing = append(missing, fmt.Sprint(port))
			}
		}
		if len(missing) > 0 {
			p.patchService(c, s, fd.Check, fmt.Sprintf("The remote clusters (%s) reach istiod through %s/%s: their proxies on 15012 (configuration and certificates), their API servers on 15017 (the injection webhook); it lacks %s.",
				remotes, s.Namespace, s.Name, strings.Join(missing, " and ")))
		}
		if sel = gatewaySelectorOf(c, s); sel == nil {
			p.refuse(c.Context, fd.Check, fmt.Sprintf("Service %s/%s has no selector, so there are no gateway pod labels for a Gateway to select", s.Namespace, s.Name))
			return
		}
	}
	p.ensureIstiodExposure(c, sel, fd.Check, remotes)
}

// gatewayOf finds the network gateway a finding's object names.
func (p *planner) gatewayOf(fd checks.Finding) (*model.Cluster, mesh.NetworkGateway, bool) {
	if fd.Object == nil {
		return nil, mesh.NetworkGateway{}, false
	}
	c := p.f.Cluster(fd.Subject(checks.RoleCluster))
	if c == nil {
		return nil, mesh.NetworkGateway{}, false
	}
	for _, g := range mesh.NetworkGateways(c) {
		if g.Service.Namespace == fd.Object.Namespace && g.Service.Name == fd.Object.Name {
			return c, g, true
		}
	}
	return nil, mesh.NetworkGateway{}, false
}

// gatewayWorkload finds the Deployment a finding names and the gateway
// Service that selects it.
func (p *planner) gatewayWorkload(c *model.Cluster, ref *checks.ObjectRef) (model.Workload, model.Service, bool) {
	for _, g := range mesh.NetworkGateways(c) {
		deps, _ := mesh.SelectedWorkloads(c, g.Service)
		for _, d := range deps {
			if d.Namespace == ref.Namespace && d.Name == ref.Name {
				return d, g.Service, true
			}
		}
	}
	return model.Workload{}, model.Service{}, false
}

func findService(c *model.Cluster, ns, name string) (model.Service, bool) {
	for _, s := range c.Services {
		if s.Namespace == ns && s.Name == name {
			return s, true
		}
	}
	return model.Service{}, false
}

func findDeployment(c *model.Cluster, ns, name string) (model.Workload, bool) {
	for _, d := range c.Deployments {
		if d.Namespace == ns && d.Name == name {
			return d, true
		}
	}
	return model.Workload{}, false
}

func ours(m model.Meta) bool { return m.Labels[managedByLabel] == managedByMeshfd }

// gatewaySelectorOf is the selector a Gateway object uses for the pods of
// gateway Service s: istio=<value> as Istio's samples do when the pods carry
// the istio label, else the Service's own selector.
func gatewaySelectorOf(c *model.Cluster, s model.Service) map[string]any {
	if len(s.Selector) == 0 {
		return nil
	}
	if v, ok := s.Selector["istio"]; ok {
		return map[string]any{"istio": v}
	}
	out := map[string]any{}
	for k, v := range s.Selector {
		out[k] = v
	}
	return out
}

// istiodHost is the istiod Service of the primary's revision.
func istiodHost(c *model.Cluster) string {
	name := "istiod"
	if rev := mesh.Identify(c).Revision; rev != "" && rev != "default" {
		name += "-" + rev
	}
	return name + "." + c.IstioNamespace + ".svc.cluster.local"
}

package fleet

import (
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"

	networkingapi "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
)

// The conversions below reduce API objects to the few fields the checks use,
// as each page arrives, so the decoded objects can be let go at once.

func meta(m metav1.ObjectMeta) model.Meta {
	return model.Meta{Namespace: m.Namespace, Name: m.Name, UID: string(m.UID), Labels: m.Labels, Annotations: trimAnnotations(m.Annotations)}
}

// trimAnnotations drops kubectl's last-applied-configuration: it is large,
// and on a Secret it would be a second copy of the data.
func trimAnnotations(a map[string]string) map[string]string {
	if _, ok := a[corev1.LastAppliedConfigAnnotation]; !ok {
		return a
	}
	out := make(map[string]string, len(a)-1)
	for k, v := range a {
		if k != corev1.LastAppliedConfigAnnotation {
			out[k] = v
		}
	}
	return out
}

func addNamespace(c *model.Cluster, m metav1.ObjectMeta) {
	c.Namespaces = append(c.Namespaces, model.Namespace{Meta: meta(m)})
	if m.Name == "kube-system" {
		c.KubeSystemUID = string(m.UID)
	}
}

func fromNode(o *corev1.Node) model.Node {
	n := model.Node{Meta: meta(o.ObjectMeta), PodCIDRs: o.Spec.PodCIDRs}
	if len(n.PodCIDRs) == 0 && o.Spec.PodCIDR != "" {
		n.PodCIDRs = []string{o.Spec.PodCIDR}
	}
	for _, a := range o.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			n.InternalIPs = append(n.InternalIPs, a.Address)
		}
	}
	// Node labels are many; only locality and Istio's own matter here.
	n.Labels = filterKeys(n.Labels, func(k string) bool {
		return strings.HasPrefix(k, "topology.") || strings.HasPrefix(k, "failure-domain.") || strings.Contains(k, "istio.io/")
	})
	n.Annotations = nil
	return n
}

func fromService(o *corev1.Service) model.Service {
	s := model.Service{
		Meta: meta(o.ObjectMeta), Type: string(o.Spec.Type), ClusterIP: o.Spec.ClusterIP,
		Headless: o.Spec.ClusterIP == corev1.ClusterIPNone, ExternalName: o.Spec.ExternalName,
		Selector: o.Spec.Selector, ExternalIPs: o.Spec.ExternalIPs,
	}
	if s.Type == "" {
		s.Type = string(corev1.ServiceTypeClusterIP)
	}
	for _, p := range o.Spec.Ports {
		s.Ports = append(s.Ports, model.ServicePort{Name: p.Name, Protocol: string(p.Protocol), Port: p.Port, TargetPort: p.TargetPort.String()})
	}
	for _, in := range o.Status.LoadBalancer.Ingress {
		s.LoadBalancer = append(s.LoadBalancer, model.LoadBalancerIngress{IP: in.IP, Hostname: in.Hostname})
	}
	return s
}

func fromEndpointSlice(o *discoveryv1.EndpointSlice) model.EndpointSlice {
	e := model.EndpointSlice{Meta: meta(o.ObjectMeta), Service: o.Labels[discoveryv1.LabelServiceName], AddressType: string(o.AddressType)}
	for _, ep := range o.Endpoints {
		e.Addresses = append(e.Addresses, ep.Addresses...)
		if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
			if e.Pods == nil {
				e.Pods = map[string]string{}
			}
			for _, a := range ep.Addresses {
				e.Pods[a] = ep.TargetRef.Name
			}
		}
		if ep.NodeName != nil && *ep.NodeName != "" {
			if e.Nodes == nil {
				e.Nodes = map[string]string{}
			}
			for _, a := range ep.Addresses {
				e.Nodes[a] = *ep.NodeName
			}
		}
		if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
			e.Ready++
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				e.NoPod = append(e.NoPod, ep.Addresses...)
			}
		} else {
			e.NotReady = append(e.NotReady, ep.Addresses...)
		}
	}
	for _, p := range o.Ports {
		ep := model.EndpointPort{}
		if p.Name != nil {
			ep.Name = *p.Name
		}
		if p.Port != nil {
			ep.Port = *p.Port
		}
		e.Ports = append(e.Ports, ep)
	}
	e.Annotations = nil
	return e
}

func fromDeployment(o *appsv1.Deployment) model.Workload {
	w := model.Workload{Meta: meta(o.ObjectMeta), PodLabels: o.Spec.Template.Labels, ServiceAcct: o.Spec.Template.Spec.ServiceAccountName}
	w.Replicas = 1
	if o.Spec.Replicas != nil {
		w.Replicas = *o.Spec.Replicas
	}
	w.Containers = containers(o.Spec.Template.Spec.Containers)
	return w
}

// fromDaemonSet reduces ztunnel's DaemonSet like a Deployment: its pods'
// labels and containers (their Istio settings).
func fromDaemonSet(o *appsv1.DaemonSet) model.Workload {
	w := model.Workload{Meta: meta(o.ObjectMeta), PodLabels: o.Spec.Template.Labels, ServiceAcct: o.Spec.Template.Spec.ServiceAccountName}
	w.Containers = containers(o.Spec.Template.Spec.Containers)
	return w
}

func fromPod(o *corev1.Pod) model.Workload {
	w := model.Workload{Meta: meta(o.ObjectMeta), PodIP: o.Status.PodIP, Phase: string(o.Status.Phase), ServiceAcct: o.Spec.ServiceAccountName}
	w.Containers = containers(o.Spec.Containers)
	return w
}

func containers(cs []corev1.Container) []model.Container {
	out := make([]model.Container, 0, len(cs))
	for _, c := range cs {
		oc := model.Container{Name: c.Name, Image: c.Image, Args: c.Args}
		for _, e := range c.Env {
			if e.ValueFrom == nil && IstioEnv(e.Name) {
				if oc.Env == nil {
					oc.Env = map[string]string{}
				}
				oc.Env[e.Name] = e.Value
			}
		}
		out = append(out, oc)
	}
	return out
}

// IstioEnv reports whether an environment variable is one of Istio's settings,
// the only ones whose values the snapshot keeps.
func IstioEnv(name string) bool {
	for _, p := range []string{"CLUSTER_ID", "REVISION", "NETWORK", "ISTIO_", "PILOT_", "AMBIENT_", "ENABLE_CA_SERVER", "CA_", "EXTERNAL_", "RESOLVE_HOSTNAME_GATEWAYS", "TRUST_DOMAIN", "PROXY_CONFIG"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func fromConfigMap(o *corev1.ConfigMap) model.ConfigMap {
	return model.ConfigMap{Meta: meta(o.ObjectMeta), Data: o.Data}
}

func fromSecret(o *corev1.Secret) model.Secret {
	s := model.Secret{Meta: meta(o.ObjectMeta), Type: string(o.Type), Data: model.SecretData(o.Data)}
	if !o.CreationTimestamp.IsZero() {
		t := o.CreationTimestamp.UTC()
		s.Created = &t
	}
	return s
}

func fromWebhook(o *admissionv1.MutatingWebhookConfiguration) model.Webhook {
	w := model.Webhook{Meta: meta(o.ObjectMeta)}
	for _, h := range o.Webhooks {
		c := model.WebhookClient{Name: h.Name, CABundle: h.ClientConfig.CABundle}
		if h.FailurePolicy != nil {
			c.FailurePolicy = string(*h.FailurePolicy)
		}
		if h.ClientConfig.URL != nil {
			c.URL = *h.ClientConfig.URL
			if u, err := url.Parse(c.URL); err == nil {
				c.Path = u.Path
			}
		}
		if s := h.ClientConfig.Service; s != nil {
			c.Service = s.Namespace + "/" + s.Name
			if s.Port != nil {
				c.Service += ":" + strconv.Itoa(int(*s.Port))
			}
			if s.Path != nil {
				c.Path = *s.Path
			}
		}
		if b, _ := pem.Decode(h.ClientConfig.CABundle); b != nil {
			if cert, err := x509.ParseCertificate(b.Bytes); err == nil {
				c.CABundleFingerprint = pki.Fingerprint(cert.Raw)
			}
		}
		w.Hooks = append(w.Hooks, c)
	}
	return w
}

func fromGateway(o *istionet.Gateway) model.Gateway {
	g := model.Gateway{Meta: meta(o.ObjectMeta), Selector: o.Spec.GetSelector()}
	for _, s := range o.Spec.GetServers() {
		gs := model.GatewayServer{Hosts: s.GetHosts()}
		if p := s.GetPort(); p != nil {
			gs.Port, gs.PortName, gs.Protocol = p.GetNumber(), p.GetName(), p.GetProtocol()
		}
		if t := s.GetTls(); t != nil {
			gs.TLSMode = t.GetMode().String()
		}
		g.Servers = append(g.Servers, gs)
	}
	return g
}

func fromDestinationRule(o *istionet.DestinationRule) model.DestinationRule {
	d := model.DestinationRule{Meta: meta(o.ObjectMeta), Host: o.Spec.GetHost(), ExportTo: o.Spec.GetExportTo(), TrafficPolicy: trafficPolicy(o.Spec.GetTrafficPolicy())}
	for _, s := range o.Spec.GetSubsets() {
		d.Subsets = append(d.Subsets, model.SubsetPolicy{Name: s.GetName(), TrafficPolicy: trafficPolicy(s.GetTrafficPolicy())})
	}
	for _, pl := range o.Spec.GetTrafficPolicy().GetPortLevelSettings() {
		d.PortLevelPorts = append(d.PortLevelPorts, pl.GetPort().GetNumber())
	}
	return d
}

func fromWorkloadEntry(o *istionet.WorkloadEntry) model.WorkloadEntry {
	return model.WorkloadEntry{Meta: meta(o.ObjectMeta), WorkloadLabels: o.Spec.GetLabels(), Address: o.Spec.GetAddress(),
		Network: o.Spec.GetNetwork(), ServiceAccount: o.Spec.GetServiceAccount(), Locality: o.Spec.GetLocality(), Weight: o.Spec.GetWeight()}
}

func trafficPolicy(p *networkingapi.TrafficPolicy) *model.TrafficPolicy {
	if p == nil {
		return nil
	}
	tp := &model.TrafficPolicy{OutlierDetection: p.GetOutlierDetection() != nil}
	if l := p.GetLoadBalancer().GetLocalityLbSetting(); l != nil {
		lp := &model.LocalityPolicy{FailoverPriority: l.GetFailoverPriority()}
		if l.GetEnabled() != nil {
			v := l.GetEnabled().GetValue()
			lp.Enabled = &v
		}
		for _, f := range l.GetFailover() {
			lp.Failover = append(lp.Failover, model.LocalityFailover{From: f.GetFrom(), To: f.GetTo()})
		}
		for _, d := range l.GetDistribute() {
			lp.Distribute = append(lp.Distribute, model.LocalityDistribute{From: d.GetFrom(), To: d.GetTo()})
		}
		tp.Locality = lp
	}
	if !tp.OutlierDetection && tp.Locality == nil {
		return nil
	}
	return tp
}

func filterKeys(m map[string]string, keep func(string) bool) map[string]string {
	var out map[string]string
	for k, v := range m {
		if keep(k) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

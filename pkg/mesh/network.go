package mesh

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"istio.io/api/label"
	meshconfig "istio.io/api/mesh/v1alpha1"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Ports of an east-west gateway (istio.io/istio pilot/pkg/serviceregistry/kube/controller
// DefaultNetworkGatewayPort and DefaultNetworkGatewayHBONEPort; istiod and
// webhook ports as samples/multicluster exposes them).
const (
	HBONEGatewayPort  = 15008
	IstiodXDSPort     = 15012
	IstiodWebhookPort = 15017
	// GatewayPortLabel overrides 15443 as a network gateway's mTLS port.
	GatewayPortLabel = "networking.istio.io/gatewayPort"
	// RequestedNetworkView is the gateway proxy's environment variable that
	// keeps it to endpoints of its own network.
	RequestedNetworkView = "ISTIO_META_REQUESTED_NETWORK_VIEW"
	// ResolveHostnameGateways is istiod's switch for gateway addresses that
	// are DNS names (default on).
	ResolveHostnameGateways = "RESOLVE_HOSTNAME_GATEWAYS"
	// MeshNetworksKey is the key of the mesh ConfigMap holding meshNetworks.
	MeshNetworksKey = "meshNetworks"
)

func init() {
	if label.NetworkingGatewayPort.Name != GatewayPortLabel {
		panic("gateway port label moved: " + label.NetworkingGatewayPort.Name)
	}
}

// NetworkGateway is a Service that istiod takes as the gateway of a network,
// the way istiod's kube controller finds it (getGatewayDetails): any Service
// labelled topology.istio.io/network in any namespace that listens on the
// mTLS gateway port (15443, or its networking.istio.io/gatewayPort label) or
// on the HBONE port 15008. Its addresses are the load balancer's, as istiod
// reads them for a LoadBalancer Service.
type NetworkGateway struct {
	Context string
	Network string
	Service model.Service
	// Port is the mTLS port (0 when the Service only speaks HBONE).
	Port int32
	// Addresses are IPs or hostnames from status.loadBalancer.ingress.
	Addresses []string
}

// Ref is namespace/name of the gateway's Service.
func (g NetworkGateway) Ref() string { return g.Service.Namespace + "/" + g.Service.Name }

// NetworkGateways returns the network gateways of one cluster, for every network.
func NetworkGateways(c *model.Cluster) []NetworkGateway {
	return c.Memo("mesh.NetworkGateways", func() any { return networkGateways(c) }).([]NetworkGateway)
}

func networkGateways(c *model.Cluster) []NetworkGateway {
	var out []NetworkGateway
	for _, s := range c.Services {
		nw := s.Labels[NetworkLabel]
		if nw == "" {
			continue
		}
		port := int32(CrossNetworkPort)
		if v := s.Labels[GatewayPortLabel]; v != "" {
			if p, err := strconv.Atoi(v); err == nil {
				port = int32(p)
			}
		}
		mtls, hbone := hasPort(s, port), hasPort(s, HBONEGatewayPort)
		if !mtls && !hbone {
			continue
		}
		if !mtls {
			port = 0
		}
		g := NetworkGateway{Context: c.Context, Network: nw, Service: s, Port: port}
		// istiod's external addresses of a Service: the load balancer's,
		// then spec.externalIPs whatever the type
		// (pilot/pkg/serviceregistry/kube/conversion.go, ConvertService).
		if s.Type == "LoadBalancer" {
			for _, in := range s.LoadBalancer {
				if in.IP != "" {
					g.Addresses = append(g.Addresses, in.IP)
				} else if in.Hostname != "" {
					g.Addresses = append(g.Addresses, in.Hostname)
				}
			}
		}
		for _, ip := range s.ExternalIPs {
			if !slices.Contains(g.Addresses, ip) {
				g.Addresses = append(g.Addresses, ip)
			}
		}
		out = append(out, g)
	}
	return out
}

func hasPort(s model.Service, port int32) bool {
	_, ok := ServicePort(s, port)
	return ok
}

// ServicePort returns the port of s numbered port.
func ServicePort(s model.Service, port int32) (model.ServicePort, bool) {
	for _, p := range s.Ports {
		if p.Port == port {
			return p, true
		}
	}
	return model.ServicePort{}, false
}

// IsIP reports whether a gateway address is an IP (not a DNS name).
func IsIP(addr string) bool {
	_, err := netip.ParseAddr(addr)
	return err == nil
}

// SelectedWorkloads returns the Deployments and Pods in the Service's
// namespace whose (template) labels match its selector.
func SelectedWorkloads(c *model.Cluster, s model.Service) (deployments, pods []model.Workload) {
	if len(s.Selector) == 0 {
		return nil, nil
	}
	for _, d := range c.Deployments {
		if d.Namespace == s.Namespace && LabelsMatch(s.Selector, d.PodLabels) {
			deployments = append(deployments, d)
		}
	}
	for _, p := range c.Pods {
		if p.Namespace == s.Namespace && LabelsMatch(s.Selector, p.Labels) {
			pods = append(pods, p)
		}
	}
	return deployments, pods
}

// LabelsMatch reports whether every key of selector has its value in labels
// (an empty selector matches nothing, as for a Gateway's workload selector).
func LabelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// WorkloadNetwork is the network Istio's injector gives a workload: its own
// topology.istio.io/network label, else ISTIO_META_NETWORK in its
// environment, else its namespace's label. source says which.
func WorkloadNetwork(c *model.Cluster, w model.Workload) (network, source string) {
	lbls := w.Labels
	if w.PodLabels != nil {
		lbls = w.PodLabels
	}
	if v := lbls[NetworkLabel]; v != "" {
		return v, "label " + NetworkLabel
	}
	if v, ok := w.Env("ISTIO_META_NETWORK"); ok && v != "" {
		return v, "env ISTIO_META_NETWORK"
	}
	if v, ok := namespaceLabel(c, w.Namespace, NetworkLabel); ok && v != "" {
		return v, "label " + NetworkLabel + " of namespace " + w.Namespace
	}
	return "", ""
}

// MeshNetworks reads the meshNetworks of the cluster's mesh ConfigMap (nil
// when there is none or it lists no network).
func MeshNetworks(c *model.Cluster) (*meshconfig.MeshNetworks, string, error) {
	id := Identify(c)
	name := meshConfigName(id.Revision)
	cm, ok := findConfigMap(c, c.IstioNamespace, name)
	if !ok {
		return nil, "", nil
	}
	doc := strings.TrimSpace(cm.Data[MeshNetworksKey])
	if doc == "" {
		return nil, "", nil
	}
	ref := "ConfigMap " + c.IstioNamespace + "/" + name + " key " + MeshNetworksKey
	n, err := ParseMeshNetworks(doc)
	if err != nil {
		return nil, ref, err
	}
	if len(n.GetNetworks()) == 0 {
		return nil, ref, nil
	}
	return n, ref, nil
}

// Istiod returns the cluster's istiod Deployment (or Pod).
func Istiod(c *model.Cluster) (model.Workload, bool) { return findIstiod(c) }

// IstiodEnv is an istiod setting as its environment holds it.
func IstiodEnv(c *model.Cluster, name string) (string, bool) {
	w, ok := findIstiod(c)
	if !ok {
		return "", false
	}
	return w.Env(name)
}

// MinorVersion parses "1.28.2", "1.28-dev" or "1.28.0-distroless" into (1, 28).
func MinorVersion(v string) (major, minor int, ok bool) {
	v = strings.TrimPrefix(v, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi := parts[1]
	if i := strings.IndexAny(mi, "-+_"); i >= 0 {
		mi = mi[:i]
	}
	mn, err2 := strconv.Atoi(mi)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return ma, mn, true
}

// Networks returns the networks of the fleet's Istio clusters with the
// contexts on each, sorted; clusters without a network are under "".
func Networks(f *model.Fleet) (names []string, members map[string][]string) {
	members = map[string][]string{}
	for _, c := range f.Clusters {
		id := Identify(c)
		if !c.Reachable || id.Role == RoleNone || id.Role == RoleUnknown {
			continue
		}
		members[id.Network] = append(members[id.Network], c.Context)
	}
	for n := range members {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, members
}

// NamedNetworks is the number of distinct non-empty networks.
func NamedNetworks(f *model.Fleet) []string {
	names, _ := Networks(f)
	var out []string
	for _, n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// GatewayAddressFor says what address the istiod of cluster c hands out for
// network: its meshNetworks gateways for that network when it lists them by
// address, else the load-balancer addresses of the labelled gateways found
// in the fleet. source says which.
func GatewayAddressFor(f *model.Fleet, c *model.Cluster, network string) (addrs []string, source string) {
	if mn, ref, err := MeshNetworks(c); err == nil && mn != nil {
		if n, ok := mn.GetNetworks()[network]; ok {
			for _, gw := range n.GetGateways() {
				if a := gw.GetAddress(); a != "" {
					addrs = append(addrs, a)
				}
			}
			if len(addrs) > 0 {
				return addrs, "meshNetworks of " + c.Context + " (" + ref + ")"
			}
		}
	}
	for _, o := range f.Clusters {
		if !o.Reachable {
			continue
		}
		for _, g := range NetworkGateways(o) {
			if g.Network == network {
				addrs = append(addrs, g.Addresses...)
			}
		}
	}
	return addrs, fmt.Sprintf("load-balancer status of the Services labelled %s=%s", NetworkLabel, network)
}

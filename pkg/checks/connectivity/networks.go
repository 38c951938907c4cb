package connectivity

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	meshconfig "istio.io/api/mesh/v1alpha1"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/members"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// meshNetworksAgree: meshNetworks (the mesh ConfigMap's meshNetworks key)
// can name each network's gateway by address or by registry Service. istiod
// hands out those addresses in addition to the ones it finds from labelled
// gateway Services, so a stale address sends part of the traffic nowhere,
// and a registryServiceName that no cluster has gives no address at all.
func meshNetworksAgree(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	ms := members.Of(f)
	real := map[string][]string{} // network → load-balancer addresses of its labelled gateways
	for _, x := range gateways(f) {
		real[x.G.Network] = append(real[x.G.Network], x.G.Addresses...)
	}
	for _, c := range f.Clusters {
		if !c.Reachable || mesh.Identify(c).Role != mesh.RolePrimary {
			continue
		}
		mn, ref, err := mesh.MeshNetworks(c)
		cmRef := &checks.ObjectRef{Kind: "ConfigMap", Namespace: c.IstioNamespace, Name: mesh.MeshConfigMap}
		if err != nil {
			out = append(out, checks.NewMF3009(checks.MF3009Subjects{Cluster: c.Context}, checks.Details{
				Object:   cmRef,
				Message:  fmt.Sprintf("meshNetworks of %s cannot be read by istiod: %v", c.Context, err),
				Evidence: []string{ref},
			}))
			continue
		}
		if mn == nil {
			continue
		}
		names := make([]string, 0, len(mn.GetNetworks()))
		for n := range mn.GetNetworks() {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			for _, gw := range mn.GetNetworks()[n].GetGateways() {
				if a := gw.GetAddress(); a != "" {
					have := real[n]
					if len(have) == 0 || slices.Contains(have, a) {
						continue // no labelled gateway to compare with (MF3001/MF3002 say so), or it agrees
					}
					if maybe := members.OnNetwork(ms, n); len(maybe) > 0 {
						out = append(out, checks.NewMF3009(checks.MF3009Subjects{Cluster: c.Context}, checks.Details{
							Severity: checks.SeverityUnknown,
							Object:   cmRef,
							Message: fmt.Sprintf("meshNetworks in %s gives network %q the gateway address %s, which no east-west gateway read has (%s); whether a gateway of the unread members on it has it is not known: add %s",
								c.Context, n, a, strings.Join(have, ", "), members.Describe(maybe)),
							Evidence: []string{ref},
						}))
						continue
					}
					out = append(out, checks.NewMF3009(checks.MF3009Subjects{Cluster: c.Context}, checks.Details{
						Object: cmRef,
						Message: fmt.Sprintf("meshNetworks in %s gives network %q the gateway address %s, but its east-west gateway's address is %s: istiod hands out both",
							c.Context, n, a, strings.Join(have, ", ")),
						Evidence: []string{ref, fmt.Sprintf("load-balancer addresses of Services labelled %s=%s: %s", mesh.NetworkLabel, n, strings.Join(have, ", "))},
					}))
				}
				if svc := gw.GetRegistryServiceName(); svc != "" {
					regs := fromRegistries(mn.GetNetworks()[n])
					if msg, ok := registryGatewayIn(f, regs, svc); !ok {
						if maybe := unreadRegistries(ms, regs); len(maybe) > 0 {
							out = append(out, checks.NewMF3009(checks.MF3009Subjects{Cluster: c.Context}, checks.Details{
								Severity: checks.SeverityUnknown,
								Object:   cmRef,
								Message: fmt.Sprintf("meshNetworks in %s names %s as the gateway of network %q: %s, and whether it is in the unread members %s is not known: add them",
									c.Context, svc, n, msg, members.Describe(maybe)),
								Evidence: []string{ref},
							}))
							continue
						}
						out = append(out, checks.NewMF3009(checks.MF3009Subjects{Cluster: c.Context}, checks.Details{
							Object:   cmRef,
							Message:  fmt.Sprintf("meshNetworks in %s names %s as the gateway of network %q, but %s", c.Context, svc, n, msg),
							Evidence: []string{ref},
						}))
					}
				}
			}
		}
	}
	return out
}

// unreadRegistries are the unread members a meshNetworks network's
// endpoints come from (every unread member when it names no registry).
func unreadRegistries(ms *model.Membership, regs []string) []model.Member {
	var out []model.Member
	for _, u := range ms.Unread {
		if len(regs) == 0 || slices.Contains(regs, u.ClusterID) {
			out = append(out, u)
		}
	}
	return out
}

// registryGatewayIn looks for a meshNetworks registryServiceName
// (name.namespace.svc.<domain>) in the clusters the network's endpoints
// come from (fromRegistry: cluster IDs; every cluster when none is named).
func registryGatewayIn(f *model.Fleet, regs []string, svc string) (string, bool) {
	parts := strings.Split(svc, ".")
	if len(parts) < 3 || parts[2] != "svc" {
		return fmt.Sprintf("%q is not a Service host name (name.namespace.svc.<domain>)", svc), false
	}
	name, ns := parts[0], parts[1]
	var looked []string
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if !c.Reachable || (len(regs) > 0 && !slices.Contains(regs, id.ClusterID)) {
			continue
		}
		looked = append(looked, c.Context)
		for _, s := range c.Services {
			if s.Namespace == ns && s.Name == name {
				if s.Type == "LoadBalancer" && len(s.LoadBalancer) == 0 {
					return fmt.Sprintf("Service %s/%s in %s has no load-balancer address", ns, name, c.Context), false
				}
				return "", true
			}
		}
	}
	if len(looked) == 0 {
		return "", true // its registry is not in the fleet: nothing to compare
	}
	return fmt.Sprintf("no Service %s/%s exists in %s", ns, name, strings.Join(looked, ", ")), false
}

// istiodExposed: in a primary-remote mesh the remotes' proxies (15012, xDS
// and certificates) and API servers (15017, the injection webhook) reach the
// primary's istiod through the primary's east-west gateway: it must expose
// both ports, and a Gateway must pass them through to istiod.
func istiodExposed(f *model.Fleet) []checks.Finding {
	var primaries []*model.Cluster
	var remotes []string
	for _, c := range f.Clusters {
		switch mesh.Identify(c).Role {
		case mesh.RolePrimary:
			primaries = append(primaries, c)
		case mesh.RoleRemote:
			remotes = append(remotes, c.Context)
		}
	}
	if len(remotes) == 0 {
		return nil
	}
	var out []checks.Finding
	for _, p := range primaries {
		if direct := istiodLoadBalancer(p); direct != "" {
			continue // istiod has a load balancer of its own (external istiod, or its Service of type LoadBalancer)
		}
		var cands []model.Service
		for _, s := range p.Services {
			if s.Labels["istio"] == "eastwestgateway" || s.Labels[mesh.NetworkLabel] != "" {
				cands = append(cands, s)
			}
		}
		if len(cands) == 0 {
			out = append(out, checks.NewMF3010(checks.MF3010Subjects{Primary: p.Context, Remotes: remotes}, checks.Details{
				Message:  fmt.Sprintf("primary %s has no east-west gateway through which its remote clusters (%s) reach istiod on %d and %d", p.Context, strings.Join(remotes, ", "), mesh.IstiodXDSPort, mesh.IstiodWebhookPort),
				Evidence: []string{fmt.Sprintf("no Service labelled istio=eastwestgateway or %s in %s", mesh.NetworkLabel, p.Context)},
			}))
			continue
		}
		var problems []string
		var worst *model.Service
		done := false
		for i, s := range cands {
			var missing []string
			for _, port := range []int32{mesh.IstiodXDSPort, mesh.IstiodWebhookPort} {
				if _, ok := mesh.ServicePort(s, port); !ok {
					missing = append(missing, fmt.Sprintf("Service port %d", port))
				} else if !gatewayListens(p, s, port) {
					missing = append(missing, fmt.Sprintf("a Gateway server on %d selecting it", port))
				}
			}
			if len(missing) == 0 {
				done = true
				break
			}
			problems = append(problems, fmt.Sprintf("%s/%s lacks %s", s.Namespace, s.Name, strings.Join(missing, " and ")))
			if worst == nil {
				worst = &cands[i]
			}
		}
		if done {
			continue
		}
		out = append(out, checks.NewMF3010(checks.MF3010Subjects{Primary: p.Context, Remotes: remotes}, checks.Details{
			Object:   svcRef(*worst),
			Message:  fmt.Sprintf("primary %s does not expose istiod (%d, %d) through its east-west gateway, so its remotes (%s) get no configuration and their pods are not injected", p.Context, mesh.IstiodXDSPort, mesh.IstiodWebhookPort, strings.Join(remotes, ", ")),
			Evidence: problems,
		}))
	}
	return out
}

// istiodLoadBalancer names a LoadBalancer Service with an address that
// exposes 15012 and 15017 and selects istiod itself, so remotes reach it
// without a gateway.
func istiodLoadBalancer(c *model.Cluster) string {
	for _, s := range c.Services {
		if s.Type != "LoadBalancer" || len(s.LoadBalancer) == 0 || s.Selector["app"] != mesh.IstiodApp {
			continue
		}
		if _, ok := mesh.ServicePort(s, mesh.IstiodXDSPort); !ok {
			continue
		}
		if _, ok := mesh.ServicePort(s, mesh.IstiodWebhookPort); ok {
			return s.Namespace + "/" + s.Name
		}
	}
	return ""
}

func gatewayListens(c *model.Cluster, s model.Service, port int32) bool {
	deps, pods := mesh.SelectedWorkloads(c, s)
	lbls := []map[string]string{s.Selector}
	for _, d := range deps {
		lbls = append(lbls, d.PodLabels)
	}
	for _, p := range pods {
		lbls = append(lbls, p.Labels)
	}
	for _, gw := range c.Gateways {
		sel := false
		for _, l := range lbls {
			sel = sel || mesh.LabelsMatch(gw.Selector, l)
		}
		if !sel {
			continue
		}
		for _, srv := range gw.Servers {
			if int32(srv.Port) == port {
				return true
			}
		}
	}
	return false
}

// podCIDRsOverlap: on one network istiod hands every client the pod IPs of
// every cluster. That works only if pod IPs are unique across the network's
// clusters: with overlapping pod CIDRs an endpoint address means a pod in
// each cluster, and requests land on the wrong one or on nothing.
func podCIDRsOverlap(f *model.Fleet) []checks.Finding {
	named := len(mesh.NamedNetworks(f)) > 0
	groups := map[string][]*model.Cluster{}
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if !c.Reachable || (id.Role != mesh.RolePrimary && id.Role != mesh.RoleRemote) {
			continue
		}
		if id.Network == "" && named {
			continue // a cluster without network in a multi-network mesh is MF1003's
		}
		groups[id.Network] = append(groups[id.Network], c)
	}
	var nets []string
	for n, cs := range groups {
		if len(cs) > 1 {
			nets = append(nets, n)
		}
	}
	sort.Strings(nets)
	var out []checks.Finding
	for _, n := range nets {
		cs := groups[n]
		label := fmt.Sprintf("network %q", n)
		if n == "" {
			label = "the one network"
		}
		prefixes := map[string][]netip.Prefix{}
		var noCIDR []string
		for _, c := range cs {
			for _, node := range c.Nodes {
				for _, s := range node.PodCIDRs {
					if p, err := netip.ParsePrefix(s); err == nil {
						prefixes[c.Context] = append(prefixes[c.Context], p.Masked())
					}
				}
			}
			for _, pod := range c.Pods {
				if a, err := netip.ParseAddr(pod.PodIP); err == nil && !covered(prefixes[c.Context], a) {
					prefixes[c.Context] = append(prefixes[c.Context], netip.PrefixFrom(a, a.BitLen()))
				}
			}
			if len(prefixes[c.Context]) == 0 {
				noCIDR = append(noCIDR, c.Context)
			}
		}
		for i := 0; i < len(cs); i++ {
			for j := i + 1; j < len(cs); j++ {
				a, b := cs[i].Context, cs[j].Context
				var ev []string
				for _, pa := range prefixes[a] {
					for _, pb := range prefixes[b] {
						if pa.Overlaps(pb) {
							ev = append(ev, fmt.Sprintf("%s %s overlaps %s %s", a, pa, b, pb))
						}
					}
				}
				if len(ev) == 0 {
					continue
				}
				if len(ev) > 5 {
					ev = append(ev[:5], fmt.Sprintf("… and %d more", len(ev)-5))
				}
				out = append(out, checks.NewMF3011(checks.MF3011Subjects{Members: []string{a, b}}, checks.Details{
					Message: fmt.Sprintf("%s and %s share %s but their pod address ranges overlap: an endpoint IP names a pod in each, so requests reach the wrong pod or none",
						a, b, label),
					Evidence: ev,
				}))
			}
		}
		if len(noCIDR) > 0 && len(noCIDR) < len(cs)+1 {
			out = append(out, checks.NewMF3011(checks.MF3011Subjects{Members: noCIDR}, checks.Details{
				Severity: checks.SeverityUnknown,
				Message:  fmt.Sprintf("no node podCIDR and no pod IP was read in %s, so overlap on %s cannot be ruled out", strings.Join(noCIDR, ", "), label),
			}))
		}
	}
	return out
}

func covered(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func fromRegistries(n *meshconfig.Network) []string {
	var out []string
	for _, e := range n.GetEndpoints() {
		if r := e.GetFromRegistry(); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// AWS annotations that make the load balancer terminate TLS on a Service's
// ports (the in-tree cloud provider and the AWS Load Balancer Controller).
const (
	awsSSLCert  = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"
	awsSSLPorts = "service.beta.kubernetes.io/aws-load-balancer-ssl-ports"
)

// tlsTerminated: a load balancer that terminates TLS in front of the mTLS
// port hands the gateway plaintext (or its own certificate to the client):
// AUTO_PASSTHROUGH has no SNI to route on and the peers' mTLS breaks, with
// 503s and TLS errors.
func tlsTerminated(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, x := range gateways(f) {
		s := x.G.Service
		cert, ok := s.Annotations[awsSSLCert]
		if !ok || cert == "" || x.G.Port == 0 {
			continue
		}
		p, _ := mesh.ServicePort(s, x.G.Port)
		ports, listed := s.Annotations[awsSSLPorts]
		if listed && !sslPortCovers(ports, p) {
			continue
		}
		why := fmt.Sprintf("%s is set and %s lists %s", awsSSLCert, awsSSLPorts, ports)
		if !listed {
			why = fmt.Sprintf("%s is set without %s, so every port terminates TLS", awsSSLCert, awsSSLPorts)
		}
		out = append(out, checks.NewMF3014(checks.MF3014Subjects{Cluster: x.C.Context}, checks.Details{
			Object:   svcRef(s),
			Message:  fmt.Sprintf("the load balancer of east-west gateway %s in %s terminates TLS on port %d: cross-network mTLS cannot pass through it", x.G.Ref(), x.C.Context, x.G.Port),
			Evidence: []string{why},
		}))
	}
	return out
}

func sslPortCovers(list string, p model.ServicePort) bool {
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || v == p.Name || v == fmt.Sprint(p.Port) {
			return true
		}
	}
	return false
}

// remoteWebhook: a remote cluster's API server calls the sidecar injector
// of its primary's istiod by URL, or through the remote's istiod Service
// whose endpoints are the primary's address (injectionPath; resolved as
// the API server and kube-proxy do, mesh.ResolveServiceCall), through the
// primary's east-west gateway (or istiod's own load balancer) on 15017. A URL whose host:port no
// primary of the fleet exposes means pod creation in the remote fails or
// goes unmeshed.
func remoteWebhook(f *model.Fleet) []checks.Finding {
	exposed := map[string]string{} // host:port → what exposes it
	primaries := 0
	for _, p := range f.Clusters {
		if !p.Reachable || mesh.Identify(p).Role != mesh.RolePrimary {
			continue
		}
		primaries++
		for _, s := range p.Services {
			if s.Type != "LoadBalancer" {
				continue
			}
			for _, in := range s.LoadBalancer {
				host := in.IP
				if host == "" {
					host = in.Hostname
				}
				for _, port := range s.Ports {
					exposed[net.JoinHostPort(host, strconv.Itoa(int(port.Port)))] = fmt.Sprintf("Service %s/%s in %s", s.Namespace, s.Name, p.Context)
				}
			}
		}
	}
	if primaries == 0 {
		return nil
	}
	var out []checks.Finding
	for _, c := range f.Clusters {
		if !c.Reachable || mesh.Identify(c).Role != mesh.RoleRemote {
			continue
		}
		for _, w := range c.Webhooks {
			if !mesh.IsInjectionWebhook(w) {
				continue
			}
			// Istio's chart renders four hooks with one URL: one finding
			// per address, naming the hooks that call it.
			var order []string
			hooksAt := map[string][]string{}
			through := map[string]string{} // hostport → the Service it is reached through
			for _, h := range w.Hooks {
				var targets []string
				if ns, name, port, ok := h.ServiceRef(); ok {
					// injectionPath: the hook calls the remote's istiod
					// Service, whose endpoints (or ExternalName) are
					// remotePilotAddress.
					switch mesh.UncallableService(c, ns, name) {
					case "missing":
						out = append(out, checks.ReportedUnder(checks.MF4040, c.Context))
						continue
					case "externalname":
						out = append(out, checks.ReportedUnder(checks.MF4041, c.Context))
						continue
					}
					call := mesh.ResolveServiceCall(c, ns, name, port)
					if call.Local || call.Problem != "" {
						continue // local pods answer; or nothing to call, which MF3016 reports
					}
					targets = call.Targets
					for _, t := range targets {
						through[t] = " (through " + call.Via + ")"
					}
				} else {
					u, err := url.Parse(h.URL)
					if h.URL == "" || err != nil || u.Host == "" {
						continue
					}
					hostport := u.Host
					if u.Port() == "" {
						hostport = net.JoinHostPort(u.Hostname(), "443")
					}
					targets = []string{hostport}
				}
				for _, hostport := range targets {
					if _, ok := exposed[hostport]; ok {
						continue
					}
					if _, seen := hooksAt[hostport]; !seen {
						order = append(order, hostport)
					}
					hooksAt[hostport] = append(hooksAt[hostport], h.Name)
				}
			}
			for _, hostport := range order {
				hooks := "injection webhook " + hooksAt[hostport][0]
				if len(hooksAt[hostport]) > 1 {
					hooks = "injection webhooks " + strings.Join(hooksAt[hostport], ", ")
				}
				hooks += through[hostport]
				if ms := members.Of(f); ms.Partial() {
					// The remote's own primary may be one of the clusters
					// not read: that part is unknown, not an error.
					out = append(out, checks.NewMF3015(checks.MF3015Subjects{Remote: c.Context}, checks.Details{
						Severity: checks.SeverityUnknown,
						Object:   &checks.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: w.Name},
						Message: fmt.Sprintf("the %s of remote cluster %s calls %s, which no primary read exposes; whether one of the unread members %s does is not known: add them",
							hooks, c.Context, hostport, members.Describe(ms.Unread)),
						Evidence: []string{"load-balancer addresses of the primaries read: " + describeExposed(exposed)},
					}))
					continue
				}
				out = append(out, checks.NewMF3015(checks.MF3015Subjects{Remote: c.Context}, checks.Details{
					Object:   &checks.ObjectRef{Kind: "MutatingWebhookConfiguration", Name: w.Name},
					Message:  fmt.Sprintf("the %s of remote cluster %s calls %s, which no primary of the fleet exposes through a load balancer: pods created there fail or are not injected", hooks, c.Context, hostport),
					Evidence: []string{"load-balancer addresses of the primaries: " + describeExposed(exposed)},
				}))
			}
		}
	}
	return out
}

func describeExposed(m map[string]string) string {
	var parts []string
	for hp, what := range m {
		parts = append(parts, hp+" ("+what+")")
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	if len(parts) > 8 {
		parts = append(parts[:8], fmt.Sprintf("… and %d more", len(parts)-8))
	}
	return strings.Join(parts, ", ")
}

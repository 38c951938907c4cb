package connectivity

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	meshconfig "istio.io/api/mesh/v1alpha1"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/discovery"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The checks of this file hold istiod's own list of cross-network gateways
// (model.IstiodView.Networkz, /debug/networkz) to the gateways the doctor
// finds in the clusters that istiod reads. istiod builds its list the way
// pilot/pkg/model/network.go NetworkManager.reload does: meshNetworks'
// gateways given by address (cluster ""), then each registry's gateways
// (pilot/pkg/serviceregistry/kube/controller/network.go: a Service labelled
// topology.istio.io/network listening on its gateway port or 15008, one
// entry per load-balancer address), DNS names resolved.

// networkzUnknown says why a replica's networkz cannot be judged, or "".
func networkzUnknown(v model.IstiodView) string {
	switch {
	case v.NotRun != "":
		return v.NotRun
	case v.Error != "":
		return fmt.Sprintf("its /debug/clusterz (%s) could not be read, so neither could its /debug/networkz: %s", v.Address, v.Error)
	case v.Networkz == nil:
		return "its /debug/networkz was not read"
	case v.Networkz.Error != "":
		return fmt.Sprintf("reading its /debug/networkz (%s) failed: %s", v.Address, v.Networkz.Error)
	}
	return ""
}

func unknownNetworkz(p discovery.IstiodPrimary, v model.IstiodView, why string, mk func(primary string, d checks.Details) checks.Finding) checks.Finding {
	obj := &checks.ObjectRef{Kind: "Deployment", Namespace: p.Cluster.IstioNamespace, Name: mesh.IstiodApp}
	msg := fmt.Sprintf("which cross-network gateways istiod of %s hands out is unknown: %s", p.Cluster.Context, why)
	if ns, name, ok := strings.Cut(v.Pod, "/"); ok {
		obj = &checks.ObjectRef{Kind: "Pod", Namespace: ns, Name: name}
		msg = fmt.Sprintf("which cross-network gateways istiod replica %s of %s hands out is unknown: %s", name, p.Cluster.Context, why)
	}
	return mk(p.Cluster.Context, checks.Details{Severity: checks.SeverityUnknown, Object: obj, Message: msg})
}

// readCluster is a cluster a replica reads, as the doctor read it.
type readCluster struct {
	c  *model.Cluster
	id string
}

// clustersRead are the clusters the replica reads that the doctor read too:
// its own, and each its clusterz shows synced (a cluster not synced is
// MF4011's), whose Services the doctor could list.
func clustersRead(f *model.Fleet, p discovery.IstiodPrimary, v model.IstiodView) []readCluster {
	out := []readCluster{{p.Cluster, p.Identity.ClusterID}}
	for _, e := range v.Clusters {
		if e.SecretName == "" || e.SyncStatus != "synced" || e.ID == p.Identity.ClusterID {
			continue
		}
		for _, c := range f.Clusters {
			if !c.Reachable || c == p.Cluster {
				continue
			}
			if ok, _ := c.Readable(mesh.IdentityKinds...); !ok {
				continue
			}
			if mesh.Identify(c).ClusterID == e.ID {
				out = append(out, readCluster{c, e.ID})
			}
		}
	}
	return out
}

func listedFor(gws []model.IstiodGateway, network, cluster string) []model.IstiodGateway {
	var out []model.IstiodGateway
	for _, g := range gws {
		if g.Network == network && (cluster == "*" || g.Cluster == cluster) {
			out = append(out, g)
		}
	}
	return out
}

func describeListed(gws []model.IstiodGateway) string {
	if len(gws) == 0 {
		return "nothing"
	}
	var s []string
	for _, g := range gws {
		where := "meshNetworks"
		if g.Cluster != "" {
			where = "cluster " + g.Cluster
		}
		port := fmt.Sprintf("%d", g.Port)
		if g.Port == 0 {
			port = fmt.Sprintf("HBONE %d", g.HBONEPort)
		}
		s = append(s, fmt.Sprintf("%s:%s (%s)", g.Address, port, where))
	}
	return strings.Join(s, ", ")
}

// missingGateway is a gateway the doctor finds that a replica does not list.
type missingGateway struct {
	network, clusterCtx, clusterID string
	obj                            *checks.ObjectRef
	doctor                         []string // what the doctor sees
	cause                          string
}

// unlistedGateways (MF3030): a gateway the doctor finds in a cluster the
// replica reads that its networkz does not list. One finding per primary,
// cluster and network, naming the replicas that lack it.
func unlistedGateways(f *model.Fleet) []checks.Finding {
	mk := func(primary string, d checks.Details) checks.Finding {
		return checks.NewMF3030(checks.MF3030Subjects{Primary: primary}, d)
	}
	var out []checks.Finding
	for _, p := range discovery.IstiodPrimaries(f) {
		type agg struct {
			m        missingGateway
			replicas []string
			istiod   []string
			severe   bool
		}
		byKey := map[string]*agg{}
		var keys []string
		for _, v := range p.Views {
			if why := networkzUnknown(v); why != "" {
				out = append(out, unknownNetworkz(p, v, why, mk))
				continue
			}
			listed := v.Networkz.Gateways
			for _, rc := range clustersRead(f, p, v) {
				for _, m := range expectedMissing(rc, listed) {
					if rc.c != p.Cluster && discovery.DroppedNamespaceReported(f, p.Cluster.Context, rc.c.Context, m.obj.Namespace) {
						// istiod cannot list a gateway whose namespace its
						// discoverySelectors drop in that cluster: MF4032
						// says so, naming the selectors and the labels.
						out = append(out, checks.ReportedUnder(checks.MF4032, p.Cluster.Context, rc.c.Context))
						continue
					}
					key := m.clusterCtx + "\x00" + m.network + "\x00" + m.obj.Namespace + "/" + m.obj.Name
					a := byKey[key]
					if a == nil {
						a = &agg{m: m}
						byKey[key] = a
						keys = append(keys, key)
					}
					a.replicas = append(a.replicas, v.Replica())
					a.istiod = append(a.istiod, fmt.Sprintf("%s (%s): /debug/networkz lists for network %q: %s", v.Replica(), v.Address, m.network, describeListed(listedFor(listed, m.network, "*"))))
					if len(listedFor(listed, m.network, "*")) == 0 && m.network != p.Identity.Network {
						a.severe = true
					}
				}
			}
			// meshNetworks' gateways given by address are listed as they are.
			if mn, ref, err := mesh.MeshNetworks(p.Cluster); err == nil && mn != nil {
				for n, nw := range mn.GetNetworks() {
					for _, gw := range nw.GetGateways() {
						a := gw.GetAddress()
						if a == "" || !mesh.IsIP(a) || slices.ContainsFunc(listedFor(listed, n, ""), func(g model.IstiodGateway) bool { return g.Address == a }) {
							continue
						}
						key := p.Cluster.Context + "\x00" + n + "\x00meshNetworks " + a
						ag := byKey[key]
						if ag == nil {
							ag = &agg{m: missingGateway{network: n, clusterCtx: p.Cluster.Context,
								obj:    &checks.ObjectRef{Kind: "ConfigMap", Namespace: p.Cluster.IstioNamespace, Name: mesh.MeshConfigMap},
								doctor: []string{fmt.Sprintf("%s gives network %q the gateway %s:%d", ref, n, a, gw.GetPort())},
								cause:  "istiod has not loaded this meshNetworks (it reloads the mesh ConfigMap on change; a version it cannot parse is kept out)"}}
							byKey[key] = ag
							keys = append(keys, key)
						}
						ag.replicas = append(ag.replicas, v.Replica())
						ag.istiod = append(ag.istiod, fmt.Sprintf("%s (%s): /debug/networkz lists for network %q: %s", v.Replica(), v.Address, n, describeListed(listedFor(listed, n, "*"))))
					}
				}
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			a := byKey[k]
			sev := checks.SeverityWarning
			effect := fmt.Sprintf("istiod sends proxies the other gateways of network %q only", a.m.network)
			if a.m.network == p.Identity.Network {
				effect = "this is istiod's own network, whose gateway only the proxies it configures on other networks (remote clusters there) are sent, and they are not sent this one"
			}
			if a.severe {
				sev = checks.SeverityError
				effect = fmt.Sprintf("istiod lists no gateway at all for network %q, so its proxies cannot reach that network's pods", a.m.network)
			}
			peer := ""
			if a.m.clusterCtx != p.Cluster.Context {
				peer = a.m.clusterCtx
			}
			ev := append(append([]string{}, a.m.doctor...), a.istiod...)
			out = append(out, checks.NewMF3030(checks.MF3030Subjects{Primary: p.Cluster.Context, Peer: peer}, checks.Details{
				Severity: sev,
				Object:   a.m.obj,
				Message: fmt.Sprintf("istiod of %s (%s) does not list the gateway of network %q that the doctor finds in %s (%s %s/%s): %s; %s",
					p.Cluster.Context, strings.Join(a.replicas, ", "), a.m.network, a.m.clusterCtx, a.m.obj.Kind, a.m.obj.Namespace, a.m.obj.Name, a.m.cause, effect),
				Evidence: ev,
			}))
		}
	}
	return out
}

// expectedMissing compares one cluster's gateways, as the doctor finds
// them, with a replica's list. A labelled gateway without an address is
// MF3002's and is not returned.
func expectedMissing(rc readCluster, listed []model.IstiodGateway) []missingGateway {
	var out []missingGateway
	for _, g := range mesh.NetworkGateways(rc.c) {
		if len(g.Addresses) == 0 {
			continue
		}
		have := listedFor(listed, g.Network, rc.id)
		var missing []string
		hostnames := false
		for _, a := range g.Addresses {
			if !mesh.IsIP(a) {
				hostnames = true
				continue
			}
			if !slices.ContainsFunc(have, func(l model.IstiodGateway) bool { return l.Address == a }) {
				missing = append(missing, a)
			}
		}
		cause := ""
		switch {
		case hostnames && len(have) == 0:
			cause = fmt.Sprintf("its address is a DNS name istiod did not resolve (%s=false on istiod, or the name does not resolve from istiod's pod)", mesh.ResolveHostnameGateways)
		case len(missing) > 0:
			cause = fmt.Sprintf("istiod's list lacks %s, which the Service's load balancer holds (a change istiod has not seen yet, or a Service it does not watch)", strings.Join(missing, ", "))
		default:
			continue
		}
		out = append(out, missingGateway{network: g.Network, clusterCtx: rc.c.Context, clusterID: rc.id,
			obj: &checks.ObjectRef{Kind: "Service", Namespace: g.Service.Namespace, Name: g.Service.Name},
			doctor: []string{fmt.Sprintf("%s: Service %s labelled %s=%s, type %s, ports %s, load-balancer address %s",
				rc.c.Context, g.Ref(), mesh.NetworkLabel, g.Network, g.Service.Type, ports(g.Service), strings.Join(g.Addresses, ", "))},
			cause: cause})
	}
	out = append(out, unlabelledGateways(rc, listed)...)
	return out
}

// unlabelledGateways are Services that expose the cross-network port with
// a load-balancer address and select east-west gateway workloads that carry
// the network (label, or the gateway's requested network view), while the
// Service itself has no network label: istiod reads only the Service's.
func unlabelledGateways(rc readCluster, listed []model.IstiodGateway) []missingGateway {
	var out []missingGateway
	for _, s := range rc.c.Services {
		if s.Labels[mesh.NetworkLabel] != "" || !hasPort(s, mesh.CrossNetworkPort) || s.Type != "LoadBalancer" || len(s.LoadBalancer) == 0 {
			continue
		}
		deps, pods := mesh.SelectedWorkloads(rc.c, s)
		network, where := "", ""
		for _, w := range append(deps, pods...) {
			lbls := w.Labels
			if w.PodLabels != nil {
				lbls = w.PodLabels
			}
			kind := "Pod"
			if w.PodLabels != nil {
				kind = "Deployment"
			}
			if n := lbls[mesh.NetworkLabel]; n != "" {
				network, where = n, fmt.Sprintf("%s %s/%s carries %s=%s", kind, w.Namespace, w.Name, mesh.NetworkLabel, n)
				break
			}
			if n, ok := w.Env(mesh.RequestedNetworkView); ok && n != "" && !strings.Contains(n, ",") {
				network, where = n, fmt.Sprintf("%s %s/%s sets %s=%s", kind, w.Namespace, w.Name, mesh.RequestedNetworkView, n)
			}
		}
		if network == "" || len(listedFor(listed, network, rc.id)) > 0 {
			continue
		}
		var addrs []string
		for _, in := range s.LoadBalancer {
			addrs = append(addrs, in.IP+in.Hostname)
		}
		out = append(out, missingGateway{network: network, clusterCtx: rc.c.Context, clusterID: rc.id,
			obj: &checks.ObjectRef{Kind: "Service", Namespace: s.Namespace, Name: s.Name},
			doctor: []string{fmt.Sprintf("%s: Service %s/%s exposes %d with load-balancer address %s and has no %s label; %s",
				rc.c.Context, s.Namespace, s.Name, mesh.CrossNetworkPort, strings.Join(addrs, ", "), mesh.NetworkLabel, where)},
			cause: fmt.Sprintf("the network label is on its workload, not on the Service, and istiod takes a gateway only from a Service's own %s label", mesh.NetworkLabel)})
	}
	return out
}

func hasPort(s model.Service, port int32) bool {
	_, ok := mesh.ServicePort(s, port)
	return ok
}

// unknownGateways (MF3031): an entry of a replica's networkz that the
// doctor finds no gateway for: no labelled gateway Service of the entry's
// cluster with that address on that network, no address in the primary's
// meshNetworks. Clusters the doctor did not read, and those whose gateways
// are DNS names or NodePorts (istiod lists addresses the doctor does not
// see), are not compared.
func unknownGateways(f *model.Fleet) []checks.Finding {
	mk := func(primary string, d checks.Details) checks.Finding {
		return checks.NewMF3031(checks.MF3031Subjects{Primary: primary}, d)
	}
	var out []checks.Finding
	for _, p := range discovery.IstiodPrimaries(f) {
		type agg struct {
			g        model.IstiodGateway
			ctx      string
			replicas []string
			doctor   []string
		}
		byKey := map[string]*agg{}
		var keys []string
		mn, ref, _ := mesh.MeshNetworks(p.Cluster)
		for _, v := range p.Views {
			if why := networkzUnknown(v); why != "" {
				out = append(out, unknownNetworkz(p, v, why, mk))
				continue
			}
			read := map[string]*model.Cluster{}
			for _, rc := range clustersRead(f, p, v) {
				read[rc.id] = rc.c
			}
			for _, e := range v.Networkz.Gateways {
				var doctor []string
				if e.Cluster == "" {
					if meshNetworksHas(mn, e.Network, e.Address) || hasHostnameGateway(mn.GetNetworks()[e.Network].GetGateways()) {
						continue
					}
					doctor = []string{fmt.Sprintf("meshNetworks of %s (%s) gives network %q no gateway %s", p.Cluster.Context, meshNetworksRef(ref), e.Network, e.Address)}
				} else {
					c := read[e.Cluster]
					if c == nil {
						continue // not read by the doctor, or not synced (MF4011)
					}
					known, skip := knownAddresses(c, mn, e.Network)
					if skip || known[e.Address] != "" && known[e.Address] == e.Network {
						continue
					}
					if n := known[e.Address]; n != "" {
						doctor = []string{fmt.Sprintf("%s: %s is the address of a gateway of network %q, not %q", c.Context, e.Address, n, e.Network)}
					} else {
						doctor = []string{fmt.Sprintf("%s: no Service labelled %s=%s with a gateway port has load-balancer address %s (its gateways of that network: %s)",
							c.Context, mesh.NetworkLabel, e.Network, e.Address, describeKnown(known, e.Network))}
					}
				}
				key := fmt.Sprintf("%s\x00%s\x00%s\x00%d", e.Network, e.Cluster, e.Address, e.Port)
				a := byKey[key]
				if a == nil {
					ctx := ""
					if c := read[e.Cluster]; c != nil {
						ctx = c.Context
					}
					a = &agg{g: e, ctx: ctx, doctor: doctor}
					byKey[key] = a
					keys = append(keys, key)
				}
				a.replicas = append(a.replicas, fmt.Sprintf("%s (%s)", v.Replica(), v.Address))
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			a := byKey[k]
			peer := ""
			if a.ctx != p.Cluster.Context {
				peer = a.ctx
			}
			from := "meshNetworks"
			if a.g.Cluster != "" {
				from = "the registry of cluster " + a.g.Cluster
			}
			ev := append(append([]string{}, a.doctor...), fmt.Sprintf("/debug/networkz of %s lists %s:%d for network %q from %s", strings.Join(a.replicas, ", "), a.g.Address, a.g.Port, a.g.Network, from))
			out = append(out, checks.NewMF3031(checks.MF3031Subjects{Primary: p.Cluster.Context, Peer: peer}, checks.Details{
				Object: &checks.ObjectRef{Kind: "Deployment", Namespace: p.Cluster.IstioNamespace, Name: mesh.IstiodApp},
				Message: fmt.Sprintf("istiod of %s hands out %s:%d as a gateway of network %q (from %s), which the doctor finds no gateway for: proxies of other networks send a share of their calls to that network there",
					p.Cluster.Context, a.g.Address, a.g.Port, a.g.Network, from),
				Evidence: ev,
			}))
		}
	}
	return out
}

// knownAddresses are the addresses the doctor knows as gateways in c, each
// with its network: its labelled gateway Services' external addresses (the
// load balancer's and spec.externalIPs, as istiod takes them), and those
// of Services that meshNetworks names by registryServiceName.
// skip says the network's gateways in c cannot be compared by address (a
// DNS name istiod resolves, a NodePort Service istiod gives node addresses
// for).
func knownAddresses(c *model.Cluster, mn *meshconfig.MeshNetworks, network string) (map[string]string, bool) {
	known := map[string]string{}
	skip := false
	note := func(s model.Service, nw string) {
		if s.Type == "NodePort" && nw == network {
			skip = true
		}
		for _, in := range s.LoadBalancer {
			if in.Hostname != "" && in.IP == "" && nw == network {
				skip = true
			}
			if in.IP != "" {
				known[in.IP] = nw
			}
		}
		for _, ip := range s.ExternalIPs {
			known[ip] = nw
		}
	}
	for _, g := range mesh.NetworkGateways(c) {
		note(g.Service, g.Network)
	}
	for n, nw := range mn.GetNetworks() {
		for _, gw := range nw.GetGateways() {
			name := gw.GetRegistryServiceName()
			if name == "" {
				continue
			}
			for _, s := range c.Services {
				if strings.HasPrefix(name, s.Name+"."+s.Namespace+".svc.") {
					note(s, n)
				}
			}
		}
	}
	return known, skip
}

func describeKnown(known map[string]string, network string) string {
	var out []string
	for a, n := range known {
		if n == network {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func hasHostnameGateway(gws []*meshconfig.Network_IstioNetworkGateway) bool {
	for _, g := range gws {
		if a := g.GetAddress(); a != "" && !mesh.IsIP(a) {
			return true
		}
	}
	return false
}

func meshNetworksHas(mn *meshconfig.MeshNetworks, network, addr string) bool {
	for _, g := range mn.GetNetworks()[network].GetGateways() {
		if g.GetAddress() == addr {
			return true
		}
	}
	return false
}

func meshNetworksRef(ref string) string {
	if ref == "" {
		return "none set"
	}
	return ref
}

package discovery

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/locality"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The checks of this file judge what istiod sent a sidecar of each cluster
// (model.SidecarView, asked by pkg/probe over xDS) against what the
// clusters' EndpointSlices hold. A view istiod did not give is not judged
// here; the doctor's report shows it through the probes' results.

// sidecarViews returns the views istiod answered whose sidecar's cluster
// is in the runner's view of f (identity, Services and EndpointSlices
// read), and, for each view it did not answer, an unknown finding made by
// unknown: a view not read is never a pass.
func sidecarViews(f *model.Fleet, unknown func(checks.MF4025Subjects, checks.Details) checks.Finding) (read []model.SidecarView, unread []checks.Finding) {
	if f.Probes == nil {
		return nil, nil
	}
	for _, v := range f.Probes.SidecarViews {
		if f.Cluster(v.Context) == nil {
			continue
		}
		if v.Read() {
			read = append(read, v)
			continue
		}
		ns, name := serviceOf(v)
		unread = append(unread, unknown(checks.MF4025Subjects{Cluster: v.Context}, checks.Details{
			Severity: checks.SeverityUnknown, Object: &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name},
			Message: fmt.Sprintf("what istiod sends a sidecar of %s for %s port %d is unknown: %s", v.Context, v.Service, v.Port, v.Why()),
		}))
	}
	return read, unread
}

// serviceOf splits a view's host (name.namespace.svc.<domain>).
func serviceOf(v model.SidecarView) (namespace, name string) {
	parts := strings.SplitN(v.Service, ".", 3)
	if len(parts) < 2 {
		return "", v.Service
	}
	return parts[1], parts[0]
}

// readyAddresses are the addresses of a service's EndpointSlices in c, and
// whether any endpoint is ready.
func readyAddresses(c *model.Cluster, namespace, name string) (addrs []string, ready int) {
	for _, s := range c.EndpointSlices {
		if s.Namespace == namespace && s.Service == name {
			addrs = append(addrs, s.Addresses...)
			ready += s.Ready
		}
	}
	return addrs, ready
}

// missingCluster (MF4025): a cluster with ready endpoints of the service is
// not in what istiod sent the sidecar: none of its addresses on the
// sidecar's network, no gateway of its network on another.
func missingCluster(f *model.Fleet) []checks.Finding {
	views, out := sidecarViews(f, checks.NewMF4025)
	for _, v := range views {
		ns, name := serviceOf(v)
		me := f.Cluster(v.Context)
		for _, x := range f.Clusters {
			if !x.Reachable {
				continue
			}
			addrs, ready := readyAddresses(x, ns, name)
			if ready == 0 {
				continue
			}
			network := mesh.Identify(x).Network
			sent := v.Endpoints
			if !slices.ContainsFunc(sent, func(e model.XDSEndpoint) bool { return slices.Contains(addrs, e.Address) }) &&
				locality.DistributeDropsUnlocated(istiodCluster(f, me), ns, name, v.ProxyLocality, x, addrs) {
				// istiod's distribute rule leaves these endpoints out for
				// lacking a locality: MF5010 names the rule and the nodes.
				out = append(out, checks.ReportedUnder("MF5010", v.Context))
				continue
			}
			if network == v.Network {
				if slices.ContainsFunc(sent, func(e model.XDSEndpoint) bool { return slices.Contains(addrs, e.Address) }) {
					continue
				}
				out = append(out, checks.NewMF4025(checks.MF4025Subjects{Cluster: v.Context, Peer: other(v.Context, x.Context)}, checks.Details{
					Object: &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name},
					Message: fmt.Sprintf("istiod sends a sidecar of %s none of the %d ready endpoints of %s/%s in %s, on the same network %s: %s cannot call them",
						v.Context, ready, ns, name, x.Context, quoted(network), v.Context),
					Evidence: viewEvidence(v, fmt.Sprintf("%s's EndpointSlices of %s/%s: %s", x.Context, ns, name, strings.Join(addrs, ", "))),
				}))
				continue
			}
			gateways, source := mesh.GatewayAddressFor(f, istiodCluster(f, me), network)
			if slices.ContainsFunc(sent, func(e model.XDSEndpoint) bool {
				// Its pod addresses sent directly are MF4026's (seen on the
				// lab: istiod does so when the network's gateway has no address).
				return slices.Contains(gateways, e.Address) || slices.Contains(addrs, e.Address)
			}) {
				continue
			}
			why := fmt.Sprintf("network %s's east-west gateway has no address (%s)", quoted(network), source)
			if reader := istiodCluster(f, me); reader != x && !readsCluster(reader, x) {
				// istiod holds no endpoint of a cluster it has no remote
				// secret for, gateway or not: MF4001 (or the check that
				// says why the secret istiod reads is unusable) reports it.
				out = append(out, checks.ReportedUnder("MF4001", v.Context))
				continue
			} else if sel := discoverySelected(mesh.Identify(reader).Mesh); reader != x && sel != nil && !sel(x, ns) && sel(reader, ns) {
				// istiod's discoverySelectors drop the namespace in x while
				// keeping it at home: MF4032 names the selectors and labels.
				out = append(out, checks.ReportedUnder("MF4032", v.Context))
				continue
			} else if reader != x && !syncedBy(f, reader, x) {
				// istiod does not hold the peer synced: MF4011 says why
				// (or reports it under the credential check that does).
				out = append(out, checks.ReportedUnder("MF4011", v.Context))
				continue
			} else if len(gateways) > 0 {
				why = fmt.Sprintf("its network %s's gateway (%s, from %s) is not among them: istiod does not hold %s's endpoints (its remote secret), or its pods have no sidecar (istiod sends plain-text pods to no other network)",
					quoted(network), strings.Join(gateways, ", "), source, x.Context)
			}
			out = append(out, checks.NewMF4025(checks.MF4025Subjects{Cluster: v.Context, Peer: other(v.Context, x.Context)}, checks.Details{
				Object: &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name},
				Message: fmt.Sprintf("istiod sends a sidecar of %s nothing for the %d ready endpoints of %s/%s in %s: %s",
					v.Context, ready, ns, name, x.Context, why),
				Evidence: viewEvidence(v, fmt.Sprintf("%s's EndpointSlices of %s/%s: %s", x.Context, ns, name, strings.Join(addrs, ", "))),
			}))
		}
	}
	return out
}

// otherNetworkPods (MF4026): istiod sent the sidecar pod addresses of a
// cluster on another network.
func otherNetworkPods(f *model.Fleet) []checks.Finding {
	views, out := sidecarViews(f, func(s checks.MF4025Subjects, d checks.Details) checks.Finding {
		return checks.NewMF4026(checks.MF4026Subjects{Cluster: s.Cluster}, d)
	})
	for _, v := range views {
		ns, name := serviceOf(v)
		for _, x := range f.Clusters {
			if !x.Reachable {
				continue
			}
			network := mesh.Identify(x).Network
			if network == v.Network {
				continue
			}
			addrs, _ := readyAddresses(x, ns, name)
			var sent []string
			for _, e := range v.Endpoints {
				if slices.Contains(addrs, e.Address) {
					sent = append(sent, fmt.Sprintf("%s:%d", e.Address, e.Port))
				}
			}
			if len(sent) == 0 {
				continue
			}
			if gateways, _ := mesh.GatewayAddressFor(f, istiodCluster(f, f.Cluster(v.Context)), network); len(gateways) == 0 {
				// istiod sends a remote network's pods as they are when it
				// knows no gateway for that network (pilot/pkg/xds/endpoints/
				// ep_filters.go: "len(gateways) == 0" counts as directly
				// reachable): the gateway's finding says why.
				out = append(out, checks.ReportedUnder(missingGatewayFinding(f, network), v.Context))
				continue
			}
			out = append(out, checks.NewMF4026(checks.MF4026Subjects{Cluster: v.Context, Peer: other(v.Context, x.Context)}, checks.Details{
				Object: &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name},
				Message: fmt.Sprintf("istiod sends a sidecar of %s (network %s) the pod addresses %s of %s/%s in %s (network %s) instead of that network's east-west gateway on 15443",
					v.Context, quoted(v.Network), strings.Join(sent, ", "), ns, name, x.Context, quoted(network)),
				Evidence: viewEvidence(v),
			}))
		}
	}
	return out
}

// missingGatewayFinding is the check that reports why network has no
// gateway address: MF3002 when a gateway Service of the network was read
// without one, MF3001 when none was.
func missingGatewayFinding(f *model.Fleet, network string) checks.ID {
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, g := range mesh.NetworkGateways(c) {
			if g.Network == network {
				return "MF3002"
			}
		}
	}
	return "MF3001"
}

// istiodCluster is the cluster whose istiod answers the sidecars of c: c
// for a primary, else a primary reading it.
func istiodCluster(f *model.Fleet, c *model.Cluster) *model.Cluster {
	if mesh.Identify(c).Role == mesh.RolePrimary {
		return c
	}
	id := mesh.Identify(c).ClusterID
	for _, p := range f.Clusters {
		if p.Reachable && mesh.Identify(p).Role == mesh.RolePrimary {
			if _, ok := mesh.RemoteSecretKeys(p)[id]; ok {
				return p
			}
		}
	}
	return c
}

// readsCluster reports whether primary p has a remote secret for cluster x.
func readsCluster(p, x *model.Cluster) bool {
	_, ok := mesh.RemoteSecretKeys(p)[mesh.Identify(x).ClusterID]
	return ok
}

// syncedBy reports whether every replica of p's istiod that was read
// lists x synced in its clusterz (true when none was read: the view itself
// is then the only evidence).
func syncedBy(f *model.Fleet, p, x *model.Cluster) bool {
	id := mesh.Identify(x).ClusterID
	for _, v := range f.Probes.IstiodViews(p.Context) {
		if v.Error != "" || v.NotRun != "" {
			continue
		}
		if !slices.ContainsFunc(v.Clusters, func(c model.IstiodCluster) bool { return c.ID == id && c.SyncStatus == "synced" }) {
			return false
		}
	}
	return true
}

// other is peer unless it is the sidecar's own cluster (one subject).
func other(self, peer string) string {
	if peer == self {
		return ""
	}
	return peer
}

func quoted(s string) string {
	if s == "" {
		return "(none)"
	}
	return fmt.Sprintf("%q", s)
}

// viewEvidence describes the view: who asked what, and the answer.
func viewEvidence(v model.SidecarView, more ...string) []string {
	who := "a sidecar with no pod"
	if v.Proxy != "" {
		who = "as pod " + v.Proxy
	}
	sent := make([]string, 0, len(v.Endpoints))
	for _, e := range v.Endpoints {
		sent = append(sent, fmt.Sprintf("%s:%d (%s, priority %d, weight %d, %s)", e.Address, e.Port, orNoLocality(e.Locality), e.Priority, e.Weight, e.Health))
	}
	answer := "nothing"
	if len(sent) > 0 {
		answer = strings.Join(sent, "; ")
	}
	out := []string{fmt.Sprintf("EDS %s for a sidecar of %s (cluster %s, network %s, %s), %s: %s", v.Cluster, v.Context, quoted(v.ClusterID), quoted(v.Network), who, v.Istiod, answer)}
	return append(out, more...)
}

func orNoLocality(l string) string {
	if l == "" || l == "//" {
		return "no locality"
	}
	return l
}

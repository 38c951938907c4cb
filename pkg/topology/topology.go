// Package topology describes the shape of a mesh as the fleet shows it:
// networks with the clusters on them (role, cluster ID, version), each
// network's east-west gateway addresses, and the discovery edges (which
// primary's istiod reads which cluster, from its remote secrets). It is
// data only; pkg/render draws it as text boxes, JSON or Graphviz dot.
package topology

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/members"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// APIVersion and Kind identify the document of `topology -o json`.
const (
	APIVersion = "meshfed.dev/v1alpha1"
	Kind       = "Topology"
)

// Control-plane and network models.
const (
	MultiPrimary  = "multi-primary"
	PrimaryRemote = "primary-remote"
	SinglePrimary = "single-cluster"
	NoControl     = "no-control-plane"
	SingleNetwork = "single-network"
	MultiNetwork  = "multi-network"
	// MultiCluster: one primary (or none) was read, and the mesh has
	// clusters that were not read, whose roles are not known here.
	MultiCluster = "multi-cluster"
	// NetworksUnknown: one network was read, and the networks of the
	// clusters not read are not known.
	NetworksUnknown = "networks not known"
)

// RoleConfig is a remote cluster that holds the configuration of an
// external istiod (values.global.configCluster).
const RoleConfig = "config"

// Edge states: what the remote secrets say about one discovery edge.
const (
	// EdgeConfigured: the reader holds a remote secret for the cluster.
	EdgeConfigured = "configured"
	// EdgeMissing: the reader is a primary and the cluster is in the mesh,
	// but no remote secret names it; the reader cannot see it.
	EdgeMissing = "missing"
	// EdgeOutside: a remote secret names a cluster ID no chosen context has.
	EdgeOutside = "not-in-fleet"
)

// Topology is the mesh as drawn.
type Topology struct {
	APIVersion   string    `json:"apiVersion"`
	Kind         string    `json:"kind"`
	ControlPlane string    `json:"controlPlane"`
	Networking   string    `json:"networking"`
	Networks     []Network `json:"networks"`
	Edges        []Edge    `json:"edges"`
	// EdgesFrom says where the edges come from (remote secrets, not istiod's live view).
	EdgesFrom string `json:"edgesFrom"`
	// Reachability is the probes' network × network view (nil when no probe ran).
	Reachability *model.ReachabilityMatrix `json:"reachability,omitempty"`
	// TradeOffs explains, in one paragraph, what this shape gives and costs.
	TradeOffs string `json:"tradeOffs"`
	// UnreadMembers are the clusters of the mesh the read ones point at
	// that were not read (pkg/members): the shape above counts them.
	UnreadMembers []model.Member `json:"unreadMembers,omitempty"`
}

// Network is one network with its clusters and gateways. A network named ""
// holds the clusters that name none.
type Network struct {
	Name     string    `json:"name"`
	Clusters []Cluster `json:"clusters"`
	Gateways []Gateway `json:"gateways,omitempty"`
}

// Cluster is one context as the mesh sees it.
type Cluster struct {
	Context   string `json:"context"`
	ClusterID string `json:"clusterID,omitempty"`
	Role      string `json:"role"`
	Version   string `json:"version,omitempty"`
	Revision  string `json:"revision,omitempty"`
	MeshID    string `json:"meshID,omitempty"`
	// DataPlane is sidecar, ambient, mixed, none or unknown (mesh.DataPlane).
	DataPlane string `json:"dataPlane,omitempty"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// Gateway is a network's east-west gateway Service.
type Gateway struct {
	Context   string   `json:"context"`
	Service   string   `json:"service"`
	Port      int32    `json:"port,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	// Pending is true when the Service has no load-balancer address.
	Pending bool `json:"pending,omitempty"`
}

// Edge is one discovery edge: the istiod of From reads the API server of To.
type Edge struct {
	From string `json:"from"`         // reader's context
	To   string `json:"to,omitempty"` // read cluster's context ("" when not in the fleet)
	ToID string `json:"toID"`         // the cluster ID the secret names
	// Secret is the remote secret (namespace/name) the edge stands on:
	// when several name the cluster, the one istiod's /debug/clusterz says
	// it registered the cluster from, else the one istiod keeps when it
	// starts (the first by namespace/name).
	Secret string `json:"secret,omitempty"`
	// Ignored are the other remote secrets naming the cluster, which
	// istiod ignores as duplicates.
	Ignored []string `json:"ignored,omitempty"`
	State   string   `json:"state"`
	// Istiod is the sync status the reader's istiod reports for the cluster
	// at /debug/clusterz (synced, syncing, timeout, closed), "not listed"
	// when it does not list it; empty when istiod was not asked.
	Istiod string `json:"istiod,omitempty"`
	// Credentials is how the peer's API server answered the secret's own
	// credentials, called from this machine (ok, unauthorized, …); empty
	// when not probed.
	Credentials string `json:"credentials,omitempty"`
}

// Build reads the topology out of a fleet (and its probe results, if any).
func Build(f *model.Fleet) *Topology {
	t := &Topology{APIVersion: APIVersion, Kind: Kind, EdgesFrom: "remote secrets (istio/multiCluster=true) in each primary's Istio namespace; not istiod's live view"}
	byNet := map[string]*Network{}
	var primaries, remotes int
	idOf := map[string]string{} // cluster ID → context
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		cl := Cluster{Context: c.Context, ClusterID: id.ClusterID, Role: string(id.Role), Version: id.Version, Revision: id.Revision,
			MeshID: id.MeshID, Reachable: c.Reachable, Error: c.Error}
		if c.Reachable {
			cl.DataPlane = string(mesh.DataPlane(c).Mode)
		}
		switch id.Role {
		case mesh.RolePrimary:
			primaries++
		case mesh.RoleRemote:
			remotes++
			if id.ConfigCluster {
				cl.Role = RoleConfig
			}
		}
		if id.ClusterID != "" {
			if _, dup := idOf[id.ClusterID]; !dup {
				idOf[id.ClusterID] = c.Context
			}
		}
		n := byNet[id.Network]
		if n == nil {
			n = &Network{Name: id.Network}
			byNet[id.Network] = n
		}
		n.Clusters = append(n.Clusters, cl)
		if !c.Reachable {
			continue
		}
		for _, g := range mesh.NetworkGateways(c) {
			gn := byNet[g.Network]
			if gn == nil {
				gn = &Network{Name: g.Network}
				byNet[g.Network] = gn
			}
			gn.Gateways = append(gn.Gateways, Gateway{Context: c.Context, Service: g.Ref(), Port: g.Port, Addresses: g.Addresses, Pending: len(g.Addresses) == 0})
		}
	}
	var names []string
	for n := range byNet {
		names = append(names, n)
	}
	sort.Strings(names)
	named := 0
	for _, n := range names {
		t.Networks = append(t.Networks, *byNet[n])
		if n != "" {
			named++
		}
	}
	switch {
	case primaries > 1:
		t.ControlPlane = MultiPrimary
		if remotes > 0 {
			t.ControlPlane = MultiPrimary + " with remotes"
		}
	case primaries == 1 && remotes > 0:
		t.ControlPlane = PrimaryRemote
	case primaries == 1:
		t.ControlPlane = SinglePrimary
	default:
		t.ControlPlane = NoControl
	}
	t.Networking = SingleNetwork
	if named > 1 {
		t.Networking = MultiNetwork
	}
	partOfMesh(t, f, byNet)
	t.Edges = edges(f, idOf)
	liveState(t, f.Probes)
	if f.Probes != nil {
		m := model.NewReachabilityMatrix(f.Probes)
		m.From = f.Probes.From
		t.Reachability = &m
	}
	t.TradeOffs = tradeOffs(t)
	return t
}

// partOfMesh makes the shape that of the mesh, not of the selection, when
// the clusters read point at others that were not read: those are counted
// (on their network when meshNetworks names it), a single read primary
// with unread members is a multi-cluster mesh whose other roles are not
// known, and one read network with members of unknown network is not
// called single-network.
func partOfMesh(t *Topology, f *model.Fleet, byNet map[string]*Network) {
	ms := members.Of(f)
	if !ms.Partial() {
		return
	}
	t.UnreadMembers = ms.Unread
	nets := map[string]bool{}
	for n := range byNet {
		if n != "" {
			nets[n] = true
		}
	}
	unknownNet := false
	for _, m := range ms.Unread {
		if m.Network == "" {
			unknownNet = true
		} else {
			nets[m.Network] = true
		}
	}
	for _, n := range ms.UnreadNetworks {
		nets[n] = true
	}
	switch {
	case len(nets) > 1:
		t.Networking = MultiNetwork
	case unknownNet:
		t.Networking = NetworksUnknown
	}
	if t.ControlPlane == SinglePrimary || t.ControlPlane == NoControl {
		t.ControlPlane = MultiCluster
	}
}

func edges(f *model.Fleet, idOf map[string]string) []Edge {
	var out []Edge
	for _, p := range f.Clusters {
		pid := mesh.Identify(p)
		if pid.Role != mesh.RolePrimary {
			continue
		}
		holders := secretsByKey(p)
		covered := map[string]bool{}
		var ids []string
		for k := range holders {
			ids = append(ids, k)
		}
		sort.Strings(ids)
		for _, k := range ids {
			if k == pid.ClusterID {
				continue // istiod ignores a secret for itself
			}
			covered[k] = true
			// When it starts, istiod keeps the first secret its informer
			// lists (by namespace/name) and ignores the others;
			// liveState corrects this by istiod's own view.
			e := Edge{From: p.Context, ToID: k, Secret: holders[k][0], Ignored: holders[k][1:], State: EdgeConfigured}
			if to, ok := idOf[k]; ok {
				e.To = to
			} else {
				e.State = EdgeOutside
			}
			out = append(out, e)
		}
		for _, q := range f.Clusters {
			qid := mesh.Identify(q)
			if q == p || qid.ClusterID == "" || qid.ClusterID == pid.ClusterID || covered[qid.ClusterID] ||
				(qid.Role != mesh.RolePrimary && qid.Role != mesh.RoleRemote) {
				continue
			}
			out = append(out, Edge{From: p.Context, To: q.Context, ToID: qid.ClusterID, State: EdgeMissing})
		}
	}
	return out
}

// secretsByKey lists, per data key, the remote secrets istiod reads
// (Istio's namespace, labelled istio/multiCluster=true) that hold it,
// sorted by namespace/name.
func secretsByKey(c *model.Cluster) map[string][]string {
	out := map[string][]string{}
	for _, s := range mesh.RemoteSecrets(c) {
		if !s.Read() {
			continue
		}
		for _, e := range s.Entries {
			out[e.Key] = append(out[e.Key], s.Ref())
		}
	}
	for _, refs := range out {
		sort.Strings(refs)
	}
	return out
}

// liveState adds to each edge what the probes saw: istiod's own view of the
// cluster and the answer to the remote secret's credentials.
func liveState(t *Topology, p *model.Probes) {
	if p == nil {
		return
	}
	// reader context → cluster ID → sync status; replicas of one istiod
	// that disagree show every status they report, e.g. "synced/timeout".
	views := map[string]map[string]string{}
	for _, v := range p.Istiod {
		if !v.Read() {
			continue
		}
		m := views[v.Context]
		if m == nil {
			m = map[string]string{}
			views[v.Context] = m
		}
		for _, c := range v.Clusters {
			m[c.ID] = mergeStatus(m[c.ID], c.SyncStatus)
		}
	}
	creds := map[string]string{} // context|secret|key → outcome
	for _, c := range p.Credentials {
		creds[c.Context+"|"+c.Secret+"|"+c.Key] = string(c.Outcome)
	}
	asked := false
	for i := range t.Edges {
		e := &t.Edges[i]
		if m, ok := views[e.From]; ok {
			asked = true
			if st, ok := m[e.ToID]; ok {
				e.Istiod = st
			} else {
				e.Istiod = "not listed"
			}
		}
		if used := p.SecretsInUse(e.From, e.ToID); len(used) == 1 && len(e.Ignored) > 0 {
			// The edge istiod really uses: the secret its clusterz names.
			all := append([]string{e.Secret}, e.Ignored...)
			if slices.Contains(all, used[0]) {
				e.Secret = used[0]
				e.Ignored = slices.DeleteFunc(all, func(s string) bool { return s == used[0] })
			}
		}
		e.Credentials = creds[e.From+"|"+e.Secret+"|"+e.ToID]
	}
	if asked {
		t.EdgesFrom = "remote secrets in each primary's Istio namespace, with each istiod's own view (/debug/clusterz)"
	}
}

// mergeStatus adds one replica's status to those already seen, sorted
// and each once.
func mergeStatus(seen, status string) string {
	if seen == "" {
		return status
	}
	all := strings.Split(seen, "/")
	if slices.Contains(all, status) {
		return seen
	}
	all = append(all, status)
	sort.Strings(all)
	return strings.Join(all, "/")
}

// tradeOffs explains the shape found, in one paragraph.
func tradeOffs(t *Topology) string {
	var s []string
	switch {
	case strings.HasPrefix(t.ControlPlane, MultiPrimary):
		s = append(s, "Multi-primary: every primary runs its own istiod and reads the other clusters' API servers, so a cluster cut off from the others keeps configuring its own proxies and issuing their certificates; what it loses is the cut-off clusters' endpoints. Each primary needs a remote secret for every peer, and all must share a root of trust.")
		if strings.Contains(t.ControlPlane, "remotes") {
			s = append(s, "Its remote clusters depend on their primary's istiod, reached through that primary's east-west gateway.")
		}
	case t.ControlPlane == PrimaryRemote:
		s = append(s, "Primary-remote: only the primary runs istiod; the remote clusters' proxies get configuration and certificates from it (15012) and their API servers call its injection webhook (15017), through the primary's east-west gateway. When the primary or the path to it is cut, remote proxies keep their last configuration but get no updates and no new certificates, and pods cannot be created where the webhook fails closed. One control plane to run and upgrade, at the price of that dependency.")
	case t.ControlPlane == MultiCluster:
		s = append(s, fmt.Sprintf("Several clusters: %d read, and %d more in the mesh that were not read, whose roles (primary or remote) and health are not known here: add their contexts to see the whole mesh.", countClusters(t), len(t.UnreadMembers)))
	case t.ControlPlane == SinglePrimary:
		s = append(s, "One primary and no remote cluster: a single-cluster mesh, or the other clusters were not chosen (see --contexts).")
	default:
		s = append(s, "No istiod was found in the chosen clusters.")
	}
	if t.Networking == NetworksUnknown {
		s = append(s, "The networks of the clusters not read are not known: whether traffic to them crosses an east-west gateway depends on them.")
	} else if t.Networking == MultiNetwork {
		s = append(s, "Several networks: traffic between them goes through the destination network's east-west gateway on 15443 (mTLS passed through by SNI), so each network needs a gateway with a reachable address, and pod IP ranges may overlap across networks.")
	} else if len(t.Networks) > 0 && countClusters(t) > 1 {
		s = append(s, "One network: proxies send traffic straight to the other clusters' pod IPs, with no gateway in the path, which requires routable, non-overlapping pod CIDRs between all clusters.")
	}
	return strings.Join(s, " ")
}

func countClusters(t *Topology) int {
	n := 0
	for _, nw := range t.Networks {
		n += len(nw.Clusters)
	}
	return n
}

// Compact is the one-line-per-network summary the doctor's text report can
// open with, e.g. `network-east: east (primary east, 1.28.0) · gateway 10.0.0.1`.
func Compact(t *Topology) []string {
	out := []string{fmt.Sprintf("%s, %s", t.ControlPlane, t.Networking)}
	for _, n := range t.Networks {
		var cs []string
		for _, c := range n.Clusters {
			cs = append(cs, fmt.Sprintf("%s (%s)", c.Context, describeCluster(c)))
		}
		for _, m := range t.UnreadMembers {
			if m.Network == n.Name && n.Name != "" {
				cs = append(cs, m.ClusterID+" (not read)")
			}
		}
		line := fmt.Sprintf("%s: %s", NetworkName(n.Name), strings.Join(cs, ", "))
		for _, g := range n.Gateways {
			line += " · gateway " + GatewayAddress(g)
		}
		out = append(out, line)
	}
	// Members on networks no read cluster is on, then those whose network
	// is not known.
	elsewhere := map[string][]string{}
	var names []string
	for _, m := range t.UnreadMembers {
		if !slices.ContainsFunc(t.Networks, func(n Network) bool { return n.Name == m.Network && m.Network != "" }) {
			if _, ok := elsewhere[m.Network]; !ok {
				names = append(names, m.Network)
			}
			elsewhere[m.Network] = append(elsewhere[m.Network], m.ClusterID+" (not read)")
		}
	}
	sort.Strings(names)
	for _, n := range names {
		label := n
		if n == "" {
			label = "network not known"
		}
		out = append(out, fmt.Sprintf("%s: %s", label, strings.Join(elsewhere[n], ", ")))
	}
	return out
}

func describeCluster(c Cluster) string {
	if !c.Reachable {
		return "unreachable"
	}
	parts := []string{c.Role}
	if c.ClusterID != "" {
		parts = append(parts, "ID "+c.ClusterID)
	}
	if c.Version != "" {
		parts = append(parts, c.Version)
	}
	// Sidecar is the default and goes unsaid; ambient changes what every
	// check of the cluster's east-west path means.
	if c.DataPlane == "ambient" || c.DataPlane == "mixed" {
		parts = append(parts, c.DataPlane+" data plane")
	}
	return strings.Join(parts, ", ")
}

// NetworkName is how a network is named in output ("" is "(no network)").
func NetworkName(n string) string {
	if n == "" {
		return "(no network)"
	}
	return n
}

// GatewayAddress names a gateway's address, or says it is pending.
func GatewayAddress(g Gateway) string {
	if g.Pending {
		return "pending (" + g.Service + " in " + g.Context + ")"
	}
	return strings.Join(g.Addresses, ",")
}

// Describe is a cluster's box line, e.g. "primary · ID east · 1.28.0".
func Describe(c Cluster) string { return describeCluster(c) }

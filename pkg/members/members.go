// Package members works out who is in the mesh when a run reads only part of
// it: the clusters the read ones point at (their remote secrets, their
// istiod's /debug/clusterz, their meshNetworks registries) that no chosen
// context reads, each with the kubeconfig context that would read it.
//
// It is pure: it reads a fleet snapshot (and its probes' results) and
// returns data. The checks use it to judge what they can from the clusters
// read and to name the cluster to add for the rest, instead of taking an
// unread member for a missing one; the report lists the members as "in the
// mesh, not read".
package members

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Of returns who else is in the mesh: the membership the check runner put in
// the fleet, or, for a fleet that has none (a snapshot as read), derived now.
func Of(f *model.Fleet) *model.Membership {
	if f.Members != nil {
		return f.Members
	}
	m := Derive(f)
	return &m
}

// Derive works out the clusters of the mesh that f did not read.
//
// A cluster counts as read when a chosen context reached it: its cluster ID
// is a read cluster's, the API server a remote secret names for it is a
// chosen context's (read or not: an unreachable chosen cluster is reported
// as such, not as unread), or the credential probe reached a kube-system
// a read cluster has.
func Derive(f *model.Fleet) model.Membership {
	d := deriver{f: f, byID: map[string]*model.Member{}, readIDs: map[string]bool{},
		readUIDs: map[string]bool{}, chosen: map[string]bool{}, readNets: map[string]bool{}}
	for _, c := range f.Clusters {
		d.chosen[c.Context] = true
		d.servers = append(d.servers, c.Server)
		if !c.Reachable {
			continue
		}
		id := mesh.Identify(c)
		if id.ClusterID != "" {
			d.readIDs[id.ClusterID] = true
		}
		if id.Network != "" {
			d.readNets[id.Network] = true
		}
		if c.KubeSystemUID != "" {
			d.readUIDs[c.KubeSystemUID] = true
		}
	}
	for _, c := range f.Clusters {
		if c.Reachable {
			d.remoteSecrets(c)
			d.meshNetworks(c)
		}
	}
	d.clusterz()
	d.credentials()
	return d.result()
}

type deriver struct {
	f        *model.Fleet
	byID     map[string]*model.Member
	order    []string
	readIDs  map[string]bool
	readUIDs map[string]bool
	readNets map[string]bool
	chosen   map[string]bool // contexts of the run
	servers  []string        // API servers of the chosen contexts
	// read marks member IDs found to be a read cluster under another name
	// (same API server, same kube-system).
	read map[string]bool
	// nets are the networks meshNetworks names, for UnreadNetworks.
	nets []string
}

func (d *deriver) member(id string) *model.Member {
	m := d.byID[id]
	if m == nil {
		m = &model.Member{ClusterID: id}
		d.byID[id] = m
		d.order = append(d.order, id)
	}
	return m
}

func (d *deriver) seen(m *model.Member, how string) {
	if !slices.Contains(m.SeenBy, how) {
		m.SeenBy = append(m.SeenBy, how)
	}
}

func (d *deriver) markRead(id string) {
	if d.read == nil {
		d.read = map[string]bool{}
	}
	d.read[id] = true
}

// remoteSecrets: every data key of a remote secret istiod reads names a
// cluster it registers (the key equal to its own ID it ignores).
func (d *deriver) remoteSecrets(c *model.Cluster) {
	own := mesh.Identify(c).ClusterID
	for _, s := range mesh.RemoteSecrets(c) {
		if !s.Read() {
			continue
		}
		for _, e := range s.Entries {
			if e.Key == "" || e.Key == own {
				continue
			}
			if slices.ContainsFunc(d.servers, func(srv string) bool { return mesh.SameServer(srv, e.Server) }) {
				d.markRead(e.Key) // a chosen context reads that API server
			}
			m := d.member(e.Key)
			if m.Server == "" {
				m.Server = e.Server
			}
			d.seen(m, fmt.Sprintf("remote secret %s in %s", s.Ref(), c.Context))
		}
	}
}

// meshNetworks: an endpoint fromRegistry names a cluster ID on that network.
func (d *deriver) meshNetworks(c *model.Cluster) {
	n, _, err := mesh.MeshNetworks(c)
	if err != nil || n == nil {
		return
	}
	names := make([]string, 0, len(n.GetNetworks()))
	for name := range n.GetNetworks() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.Contains(d.nets, name) {
			d.nets = append(d.nets, name)
		}
		for _, ep := range n.GetNetworks()[name].GetEndpoints() {
			reg := ep.GetFromRegistry()
			if reg == "" {
				continue
			}
			m := d.member(reg)
			if m.Network == "" {
				m.Network = name
			}
			d.seen(m, fmt.Sprintf("meshNetworks of %s (network %s)", c.Context, name))
		}
	}
}

// clusterz: the clusters a primary's istiod reports it reads.
func (d *deriver) clusterz() {
	if d.f.Probes == nil {
		return
	}
	for _, v := range d.f.Probes.Istiod {
		if !v.Read() {
			continue
		}
		own := ""
		if c := d.f.Cluster(v.Context); c != nil {
			own = mesh.Identify(c).ClusterID
		}
		for _, cz := range v.Clusters {
			if cz.ID == "" || cz.ID == own {
				continue
			}
			d.seen(d.member(cz.ID), fmt.Sprintf("istiod of %s lists it (%s)", v.Context, cz.SyncStatus))
		}
	}
}

// credentials: what the remote secrets' own credentials reached: the
// kube-system UID (a read cluster under another key), and the regions of the
// nodes and the network label istiod sees there (a network meshNetworks
// names for it is kept).
func (d *deriver) credentials() {
	if d.f.Probes == nil {
		return
	}
	for _, p := range d.f.Probes.Credentials {
		m, ok := d.byID[p.Key]
		if !ok || p.Outcome != model.CredOK {
			continue
		}
		if p.KubeSystemUID != "" && d.readUIDs[p.KubeSystemUID] {
			d.markRead(p.Key)
		}
		if m.Network == "" {
			m.Network = p.Network
		}
		for _, r := range p.Regions {
			if !slices.Contains(m.Regions, r) {
				m.Regions = append(m.Regions, r)
			}
		}
	}
}

func (d *deriver) result() model.Membership {
	var out model.Membership
	sort.Strings(d.order)
	memberNets := map[string]bool{}
	for _, id := range d.order {
		if d.readIDs[id] || d.read[id] {
			continue
		}
		m := *d.byID[id]
		sort.Strings(m.Regions)
		m.Context, m.MatchedBy = d.context(m)
		out.Unread = append(out.Unread, m)
		if m.Network != "" {
			memberNets[m.Network] = true
		}
	}
	for _, n := range d.nets {
		if !d.readNets[n] && !memberNets[n] {
			out.UnreadNetworks = append(out.UnreadNetworks, n)
		}
	}
	sort.Strings(out.UnreadNetworks)
	return out
}

// context finds the kubeconfig context that would read m: one whose API
// server is the one m's remote secret names, else one named as its cluster
// ID (the usual convention, not a rule). Chosen contexts are not candidates:
// they were read, and are not m.
func (d *deriver) context(m model.Member) (name, matchedBy string) {
	for _, k := range d.f.Kubeconfig {
		if !d.chosen[k.Name] && mesh.SameServer(k.Server, m.Server) {
			return k.Name, model.MatchedByServer
		}
	}
	for _, k := range d.f.Kubeconfig {
		if !d.chosen[k.Name] && k.Name == m.ClusterID {
			return k.Name, model.MatchedByName
		}
	}
	return "", ""
}

// OnNetwork returns the unread members that are, or may be, on network n:
// meshNetworks puts them there, or nothing says where they are.
func OnNetwork(m *model.Membership, n string) []model.Member {
	if m == nil {
		return nil
	}
	var out []model.Member
	for _, u := range m.Unread {
		if u.Network == "" || u.Network == n {
			out = append(out, u)
		}
	}
	return out
}

// InRegion returns the unread members whose nodes istiod sees in region r.
func InRegion(m *model.Membership, r string) []model.Member {
	if m == nil {
		return nil
	}
	var out []model.Member
	for _, u := range m.Unread {
		if slices.Contains(u.Regions, r) {
			out = append(out, u)
		}
	}
	return out
}

// RegionsUnknown returns the unread members whose regions are not known
// (no credential probe reached their nodes).
func RegionsUnknown(m *model.Membership) []model.Member {
	if m == nil {
		return nil
	}
	var out []model.Member
	for _, u := range m.Unread {
		if len(u.Regions) == 0 {
			out = append(out, u)
		}
	}
	return out
}

// Describe names members and how to read each, for a finding's message:
// "central (context central), north (no context of the kubeconfig reads it)".
func Describe(ms []model.Member) string {
	parts := make([]string, len(ms))
	for i, u := range ms {
		parts[i] = u.ClusterID + " (" + HowToRead(u) + ")"
	}
	return strings.Join(parts, ", ")
}

// HowToRead says which context would read an unread member.
func HowToRead(u model.Member) string {
	switch u.MatchedBy {
	case model.MatchedByServer:
		return "context " + u.Context
	case model.MatchedByName:
		return "context " + u.Context + ", matched by name"
	}
	return "no context of the kubeconfig reads it"
}

// RegionEvidence is one evidence line with the unread members' regions as
// istiod sees them ("" when none is known).
func RegionEvidence(m *model.Membership) string {
	if m == nil {
		return ""
	}
	var parts []string
	for _, u := range m.Unread {
		r := "not known"
		if len(u.Regions) > 0 {
			r = strings.Join(u.Regions, ",")
		}
		parts = append(parts, u.ClusterID+": "+r)
	}
	if len(parts) == 0 {
		return ""
	}
	return "regions of the unread members' nodes, as their remote secrets' credentials list them: " + strings.Join(parts, "; ")
}

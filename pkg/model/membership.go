package model

// KubeContext is one context of the kubeconfig a run was given: its name and
// the API server its cluster entry names. The report names, for each cluster
// of the mesh that was not read, the context that would read it.
type KubeContext struct {
	Name   string `json:"name"`
	Server string `json:"server,omitempty"`
}

// Membership is who is in the mesh besides the clusters read: the clusters
// the read ones point at (remote secrets, istiod's clusterz, meshNetworks)
// that no chosen context reads. pkg/members derives it; the checks and the
// report read it, so that a run over part of a mesh judges the part it read
// and names the rest instead of mistaking it for absent.
type Membership struct {
	// Unread are the clusters of the mesh that were not read, by cluster ID.
	Unread []Member `json:"unread,omitempty"`
	// UnreadNetworks are networks named by the read clusters (meshNetworks)
	// that no read cluster is on.
	UnreadNetworks []string `json:"unreadNetworks,omitempty"`
}

// Member is one cluster of the mesh that was not read.
type Member struct {
	// ClusterID is the ID the read clusters know it by (a remote secret's
	// data key, an entry of istiod's clusterz, a meshNetworks registry).
	ClusterID string `json:"clusterID"`
	// Network is its network as meshNetworks names it, else as the label
	// of its Istio namespace reads through its remote secret ("" when
	// unknown).
	Network string `json:"network,omitempty"`
	// Server is the API server a remote secret points at ("" when unknown).
	Server string `json:"server,omitempty"`
	// Regions are the regions of its nodes as istiod's credentials list
	// them (the credential probe); nil when not known.
	Regions []string `json:"regions,omitempty"`
	// SeenBy says which read cluster points at it and how, one line each.
	SeenBy []string `json:"seenBy"`
	// Context is the kubeconfig context that would read it ("" when none
	// matches), and MatchedBy how it was matched: "server" (the context's
	// API server is the one its remote secret names) or "name" (the
	// context is named as its cluster ID; its server was not known or
	// matched no context).
	Context   string `json:"context,omitempty"`
	MatchedBy string `json:"matchedBy,omitempty"`
}

// How Member.Context was matched.
const (
	// MatchedByServer: the context's API server is the one the member's
	// remote secret names.
	MatchedByServer = "server"
	// MatchedByName: the context is named as the member's cluster ID (its
	// server was not known, or matched no context).
	MatchedByName = "name"
)

// Partial reports whether some cluster of the mesh was not read.
func (m *Membership) Partial() bool { return m != nil && len(m.Unread) > 0 }

// IDs are the unread members' cluster IDs, in order.
func (m *Membership) IDs() []string {
	if m == nil {
		return nil
	}
	out := make([]string, len(m.Unread))
	for i, u := range m.Unread {
		out[i] = u.ClusterID
	}
	return out
}

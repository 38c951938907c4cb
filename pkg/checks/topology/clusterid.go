// Package topology holds the checks of the mesh's shape and the identities
// that must line up across clusters.
package topology

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Checks returns the topology checks.
func Checks() []checks.Check {
	return []checks.Check{
		checks.Func{CheckID: checks.MF1001, Fn: clusterIDs},
		checks.Func{CheckID: checks.MF1002, Fn: meshIDs},
		checks.Func{CheckID: checks.MF1003, Fn: networkUnset},
		checks.Func{CheckID: checks.MF1004, Fn: versionSkew},
	}
}

// clusterIDs finds clusters left at istiod's default ID and IDs shared by
// several clusters (two contexts reaching the same API server are one
// cluster, not a duplicate).
func clusterIDs(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	byID := map[string][]*model.Cluster{}
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.ClusterID == "" {
			continue
		}
		if id.ClusterID == mesh.DefaultClusterName {
			out = append(out, checks.NewMF1001(checks.MF1001Subjects{Members: []string{c.Context}}, checks.Details{
				Message:  fmt.Sprintf("context %s uses the default cluster ID %q: no cluster ID was set at install", c.Context, id.ClusterID),
				Evidence: []string{"cluster ID from " + id.ClusterIDSource},
			}))
		}
		byID[id.ClusterID] = append(byID[id.ClusterID], c)
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		cs := distinctClusters(byID[id])
		if len(cs) < 2 {
			continue
		}
		var ctxs, ev []string
		for _, c := range cs {
			ctxs = append(ctxs, c.Context)
			ev = append(ev, fmt.Sprintf("%s: cluster ID %q from %s (kube-system UID %s)", c.Context, id, mesh.Identify(c).ClusterIDSource, c.KubeSystemUID))
		}
		out = append(out, checks.NewMF1001(checks.MF1001Subjects{Members: ctxs}, checks.Details{
			Message:  fmt.Sprintf("cluster ID %q is used by %d clusters: %s", id, len(cs), strings.Join(ctxs, ", ")),
			Evidence: ev,
		}))
	}
	return out
}

// distinctClusters drops contexts that reach a cluster already listed.
func distinctClusters(cs []*model.Cluster) []*model.Cluster {
	seen := map[string]bool{}
	var out []*model.Cluster
	for _, c := range cs {
		key := c.KubeSystemUID
		if key == "" {
			key = "context:" + c.Context
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, c)
		}
	}
	return out
}

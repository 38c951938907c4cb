package topology

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// inMesh returns the clusters that are part of the mesh (primary or remote)
// with their identities.
func inMesh(f *model.Fleet) ([]*model.Cluster, map[*model.Cluster]mesh.Identity) {
	var cs []*model.Cluster
	ids := map[*model.Cluster]mesh.Identity{}
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary && id.Role != mesh.RoleRemote {
			continue
		}
		cs = append(cs, c)
		ids[c] = id
	}
	return cs, ids
}

// meshIDs: every cluster of one mesh must carry the same mesh ID
// (meshConfig.defaultConfig.meshId, or values.global.meshID). A cluster
// where none is set is unknown, not a mismatch: istiod then falls back to
// the trust domain, which may or may not agree. A remote that sets none
// takes its primary's.
func meshIDs(f *model.Fleet) []checks.Finding {
	cs, ids := inMesh(f)
	byMesh := map[string][]string{}
	var unset []string
	for _, c := range cs {
		switch m := ids[c].MeshID; {
		case m != "":
			byMesh[m] = append(byMesh[m], c.Context)
		case ids[c].Role == mesh.RoleRemote:
			// Istio's remote profile sets none (no injector ConfigMap,
			// no mesh config): its proxies get the mesh ID of the
			// primary's istiod that injects them, which is compared.
		default:
			unset = append(unset, c.Context)
		}
	}
	var out []checks.Finding
	if len(byMesh) > 1 {
		var all, ev []string
		var names []string
		for m := range byMesh {
			names = append(names, m)
		}
		sort.Strings(names)
		for _, m := range names {
			all = append(all, byMesh[m]...)
			ev = append(ev, fmt.Sprintf("mesh ID %s in %s", checks.Quote(m, "unset"), strings.Join(byMesh[m], ", ")))
		}
		out = append(out, checks.NewMF1002(checks.MF1002Subjects{Members: all}, checks.Details{
			Message:  fmt.Sprintf("the clusters carry %d different mesh IDs (%s): they are not one mesh", len(names), strings.Join(quoteAll(names), ", ")),
			Evidence: ev,
		}))
	}
	if len(unset) > 0 && len(cs) > 1 && len(byMesh) > 0 {
		out = append(out, checks.NewMF1002(checks.MF1002Subjects{Members: unset}, checks.Details{
			Severity: checks.SeverityUnknown,
			Message:  fmt.Sprintf("no mesh ID is set in %s (neither meshConfig.defaultConfig.meshId nor values.global.meshID), so it cannot be compared", strings.Join(unset, ", ")),
			Evidence: []string{"proxies without a mesh ID use the trust domain in its place"},
		}))
	}
	return out
}

// networkUnset: when any cluster names a network, every cluster must: a
// cluster without one is taken to share a flat network with everybody, and
// istiod sends its pod IPs to clients that cannot reach them.
func networkUnset(f *model.Fleet) []checks.Finding {
	cs, ids := inMesh(f)
	named := map[string]bool{}
	for _, c := range cs {
		if n := ids[c].Network; n != "" {
			named[n] = true
		}
	}
	if len(named) == 0 || len(cs) < 2 {
		return nil // no network anywhere: one flat network, nothing to compare
	}
	var nets []string
	for n := range named {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	var out []checks.Finding
	for _, c := range cs {
		if ids[c].Network != "" {
			continue
		}
		out = append(out, checks.NewMF1003(checks.MF1003Subjects{Cluster: c.Context}, checks.Details{
			Object: &checks.ObjectRef{Kind: "Namespace", Name: c.IstioNamespace},
			Message: fmt.Sprintf("context %s has no network (namespace %s has no %s label) while other clusters are on %s: istiod treats it as reachable by pod IP from everywhere",
				c.Context, c.IstioNamespace, mesh.NetworkLabel, strings.Join(quoteAll(nets), ", ")),
			Evidence: []string{fmt.Sprintf("networks named in the fleet: %s", strings.Join(nets, ", "))},
		}))
	}
	return out
}

// maxMinorSkew is how many minor versions apart istiods of one mesh may be:
// Istio supports upgrading one minor version at a time (canary n-1 → n).
const maxMinorSkew = 1

// versionSkew: the primaries' istiods (which program each other's proxies
// across clusters) should be at most one minor version apart.
func versionSkew(f *model.Fleet) []checks.Finding {
	cs, ids := inMesh(f)
	type ver struct {
		ctx, raw     string
		major, minor int
	}
	var vs []ver
	var unparsed []string
	for _, c := range cs {
		id := ids[c]
		if id.Role != mesh.RolePrimary {
			continue
		}
		ma, mi, ok := mesh.MinorVersion(id.Version)
		if !ok {
			unparsed = append(unparsed, fmt.Sprintf("%s (image tag %s)", c.Context, checks.Quote(id.Version, "unknown")))
			continue
		}
		vs = append(vs, ver{c.Context, id.Version, ma, mi})
	}
	var out []checks.Finding
	if len(vs) >= 2 {
		sort.Slice(vs, func(i, j int) bool {
			if vs[i].major != vs[j].major {
				return vs[i].major < vs[j].major
			}
			return vs[i].minor < vs[j].minor
		})
		lo, hi := vs[0], vs[len(vs)-1]
		if hi.major != lo.major || hi.minor-lo.minor > maxMinorSkew {
			var ctxs, ev []string
			for _, v := range vs {
				ctxs = append(ctxs, v.ctx)
				ev = append(ev, fmt.Sprintf("%s: istiod %s", v.ctx, v.raw))
			}
			out = append(out, checks.NewMF1004(checks.MF1004Subjects{Members: ctxs}, checks.Details{
				Message: fmt.Sprintf("istiod versions span %d.%d (%s) to %d.%d (%s): more than %d minor version apart",
					lo.major, lo.minor, lo.ctx, hi.major, hi.minor, hi.ctx, maxMinorSkew),
				Evidence: ev,
			}))
		}
	}
	if len(unparsed) > 0 && len(vs)+len(unparsed) >= 2 {
		var ctxs []string
		for _, u := range unparsed {
			ctxs = append(ctxs, strings.SplitN(u, " ", 2)[0])
		}
		out = append(out, checks.NewMF1004(checks.MF1004Subjects{Members: ctxs}, checks.Details{
			Severity: checks.SeverityUnknown,
			Message:  "the istiod version cannot be read from its image tag in " + strings.Join(unparsed, ", "),
		}))
	}
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

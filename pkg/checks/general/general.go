// Package general holds the checks about the clusters themselves: whether
// they could be read at all, and what could not be read.
package general

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Checks returns the general checks.
func Checks() []checks.Check {
	return []checks.Check{
		checks.Func{CheckID: checks.MF0001, Fn: unreachable},
		checks.Func{CheckID: checks.MF0002, Fn: partlyReadable},
		checks.Func{CheckID: checks.MF0003, Fn: noIstioInNamespace},
	}
}

func unreachable(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		if c.Reachable {
			continue
		}
		ev := []string{"error: " + c.Error}
		if c.Server != "" {
			ev = append([]string{"server: " + c.Server}, ev...)
		}
		out = append(out, checks.NewMF0001(checks.MF0001Subjects{Cluster: c.Context}, checks.Details{
			Message:  fmt.Sprintf("context %s cannot be read: %s", c.Context, c.Error),
			Evidence: ev,
		}))
	}
	return out
}

func partlyReadable(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		if !c.Reachable || len(c.Failures) == 0 {
			continue
		}
		kinds := make([]string, 0, len(c.Failures))
		for k := range c.Failures {
			kinds = append(kinds, string(k))
		}
		sort.Strings(kinds)
		ev := make([]string, len(kinds))
		for i, k := range kinds {
			ev[i] = k + ": " + c.Failures[model.Kind(k)]
		}
		out = append(out, checks.NewMF0002(checks.MF0002Subjects{Cluster: c.Context}, checks.Details{
			Message:  fmt.Sprintf("context %s: %d kind(s) could not be read; checks needing them are unknown there", c.Context, len(kinds)),
			Evidence: ev,
		}))
	}
	return out
}

// noIstioInNamespace: a cluster whose Istio namespace (as the run was told)
// does not exist, or holds neither istiod nor the istiod Service of a remote
// cluster, would otherwise pass every check, having nothing to judge.
func noIstioInNamespace(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		ns := c.IstioNamespace
		if !c.Reachable || len(c.Namespaces) == 0 || ns == "" {
			continue // unreadable: MF0001; no namespaces read, or none asked for: nothing to say
		}
		exists := false
		for _, n := range c.Namespaces {
			exists = exists || n.Name == ns
		}
		elsewhere := istiodNamespaces(c)
		var msg string
		switch {
		case !exists:
			msg = fmt.Sprintf("context %s has no namespace %s, where the run looks for Istio", c.Context, ns)
		case !slices.Contains(elsewhere, ns) && !hasIstiodService(c, ns):
			msg = fmt.Sprintf("context %s: namespace %s holds neither istiod nor an istiod Service", c.Context, ns)
		default:
			continue
		}
		ev := []string{"istio namespace: " + ns}
		for _, other := range elsewhere {
			if other != ns {
				ev = append(ev, fmt.Sprintf("istiod runs in namespace %s: run with -n %s", other, other))
			}
		}
		if len(elsewhere) == 0 {
			ev = append(ev, "istiod runs in no namespace of this cluster")
		}
		out = append(out, checks.NewMF0003(checks.MF0003Subjects{Cluster: c.Context}, checks.Details{
			Message:  msg + "; the checks would find nothing there to judge",
			Evidence: ev,
		}))
	}
	return out
}

// istiodNamespaces are the namespaces holding an istiod Deployment or Pod
// (label app=istiod, as Istio's charts set it), sorted.
func istiodNamespaces(c *model.Cluster) []string {
	var out []string
	for _, list := range [][]model.Workload{c.Deployments, c.Pods} {
		for _, w := range list {
			if (w.Labels["app"] == mesh.IstiodApp || w.PodLabels["app"] == mesh.IstiodApp) && !slices.Contains(out, w.Namespace) {
				out = append(out, w.Namespace)
			}
		}
	}
	sort.Strings(out)
	return out
}

// hasIstiodService: a remote cluster's Istio namespace has the istiod
// Service (pointing at the primary's istiod; istiod-<revision> as the remote
// chart writes it for a revision) and no istiod of its own; an Istio install
// leaves its ConfigMaps there too (the mesh config, the injector's). The
// root certificate ConfigMap is not a trace: istiod writes it into every
// namespace.
func hasIstiodService(c *model.Cluster, ns string) bool {
	for _, s := range c.Services {
		if s.Namespace == ns && (s.Name == mesh.IstiodApp || strings.HasPrefix(s.Name, mesh.IstiodApp+"-")) {
			return true
		}
	}
	for _, cm := range c.ConfigMaps {
		if cm.Namespace == ns && cm.Name != "istio-ca-root-cert" && (cm.Name == mesh.MeshConfigMap || strings.HasPrefix(cm.Name, mesh.MeshConfigMap+"-")) {
			return true
		}
	}
	return false
}

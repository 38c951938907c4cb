// Package general holds the checks about the clusters themselves: whether
// they could be read at all, and what could not be read.
package general

import (
	"fmt"
	"sort"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Checks returns the general checks.
func Checks() []checks.Check {
	return []checks.Check{
		checks.Func{CheckID: checks.MF0001, Fn: unreachable},
		checks.Func{CheckID: checks.MF0002, Fn: partlyReadable},
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

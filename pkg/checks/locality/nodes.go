// Package locality holds the checks of locality load balancing and failover.
package locality

import (
	"fmt"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Node labels Istio derives locality from.
const (
	RegionLabel = "topology.kubernetes.io/region"
	ZoneLabel   = "topology.kubernetes.io/zone"
)

// Checks returns the locality checks.
func Checks() []checks.Check {
	return []checks.Check{
		checks.Func{CheckID: checks.MF5001, Fn: unlabelledNodes},
		checks.Func{CheckID: checks.MF5002, Fn: failoverWithoutOutlier},
		checks.Func{CheckID: checks.MF5003, Fn: failoverRegions},
		checks.Func{CheckID: checks.MF5004, Fn: distributeWeights},
		checks.Func{CheckID: checks.MF5005, Fn: outlierTurnsLocalityOn},
		checks.Func{CheckID: checks.MF5006, Fn: singleRegionTarget},
		checks.Func{CheckID: checks.MF5010, Fn: distributeDropsUnlocated},
	}
}

const listAtMost = 5

func unlabelledNodes(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, c := range f.Clusters {
		var missing []string
		for _, n := range c.Nodes {
			var lacks []string
			for _, l := range []string{RegionLabel, ZoneLabel} {
				if n.Labels[l] == "" {
					lacks = append(lacks, l)
				}
			}
			if len(lacks) > 0 {
				missing = append(missing, fmt.Sprintf("node %s lacks %s", n.Name, strings.Join(lacks, " and ")))
			}
		}
		if len(missing) == 0 {
			continue
		}
		ev := missing
		if len(ev) > listAtMost {
			ev = append(ev[:listAtMost:listAtMost], fmt.Sprintf("… and %d more", len(missing)-listAtMost))
		}
		out = append(out, checks.NewMF5001(checks.MF5001Subjects{Cluster: c.Context}, checks.Details{
			Message:  fmt.Sprintf("context %s: %d of %d nodes have no region or zone label, so their workloads have no locality", c.Context, len(missing), len(c.Nodes)),
			Evidence: ev,
		}))
	}
	return out
}

// Package all lists every fixer `kubectl meshfed fix` runs. Adding a fixer
// is one line here; fix.Build picks, per run, those whose checks found
// something.
package all

import (
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/connectivity"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/discovery"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/locality"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/topology"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/trust"
)

// Fixers returns every fixer.
func Fixers() []fix.Fixer {
	return []fix.Fixer{trust.New(), connectivity.Fixer{}, topology.NetworkLabel{}, locality.OutlierDetection{}, discovery.Fixer{}, discovery.SelectorLabels{}, discovery.RemoteIstiodService{}}
}

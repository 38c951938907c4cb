// Package all registers every check against the built-in catalog.
package all

import (
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/connectivity"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/discovery"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/general"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/locality"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/topology"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
)

// Checks lists every implemented check.
func Checks() []checks.Check {
	var out []checks.Check
	for _, area := range [][]checks.Check{
		general.Checks(), topology.Checks(), trust.Checks(),
		connectivity.Checks(), discovery.Checks(), locality.Checks(),
	} {
		out = append(out, area...)
	}
	return out
}

// Registry pairs every check with its catalog entry.
func Registry() *checks.Registry {
	r, err := checks.NewRegistry(checks.DefaultCatalog(), Checks()...)
	if err != nil {
		panic(err) // caught by TestRegistry; a release cannot reach this
	}
	return r
}

// Package all registers every check against the built-in catalog.
package all

import (
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/ambient"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/aws"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/connectivity"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/discovery"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/general"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/locality"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/topology"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
)

// Options tune the checks that take settings.
type Options struct {
	Trust trust.Options
}

// DefaultOptions are the options without flags.
func DefaultOptions() Options { return Options{Trust: trust.DefaultOptions()} }

// Checks lists every implemented check with the default options.
func Checks() []checks.Check { return ChecksWith(DefaultOptions()) }

// ChecksWith lists every implemented check, tuned by opts.
func ChecksWith(opts Options) []checks.Check {
	var out []checks.Check
	for _, area := range [][]checks.Check{
		general.Checks(), topology.Checks(), trust.ChecksWith(opts.Trust),
		connectivity.Checks(), discovery.Checks(), locality.Checks(), aws.NetworkChecks(), aws.PCAChecks(opts.Trust),
		ambient.Checks(),
	} {
		out = append(out, area...)
	}
	return out
}

// Registry pairs every check, with the default options, with its catalog entry.
func Registry() *checks.Registry { return RegistryWith(DefaultOptions()) }

// RegistryWith pairs every check, tuned by opts, with its catalog entry.
func RegistryWith(opts Options) *checks.Registry {
	r, err := checks.NewRegistry(checks.DefaultCatalog(), ChecksWith(opts)...)
	if err != nil {
		panic(err) // caught by TestRegistry; a release cannot reach this
	}
	return r
}

package cmd

import (
	"context"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
)

// defaultProbeTimeout bounds each live probe unless --timeout is shorter.
const defaultProbeTimeout = 3 * time.Second

// DefaultBackend wires the commands to the real collector, mesh identity and
// check registry.
func DefaultBackend() Backend {
	return Backend{
		Catalog:  checks.DefaultCatalog,
		Registry: all.Registry,
		Choose: func(ctx context.Context, flags *genericclioptions.ConfigFlags, t Target) ([]checks.ContextChoice, error) {
			chosen, err := fleet.ChooseContexts(ctx, flags, fleet.ChooseOptions{
				Contexts: t.Contexts, All: t.AllContexts, Timeout: t.Timeout, IstioNamespace: t.IstioNamespace,
			})
			if err != nil {
				return nil, err
			}
			out := make([]checks.ContextChoice, len(chosen))
			for i, c := range chosen {
				out[i] = checks.ContextChoice{Context: c.Context, Reason: c.Reason}
			}
			return out, nil
		},
		Collect: func(ctx context.Context, flags *genericclioptions.ConfigFlags, contexts []string, t Target) *fleet.Fleet {
			return fleet.Collect(ctx, flags, contexts, fleet.Options{Timeout: t.Timeout, IstioNamespace: t.IstioNamespace})
		},
		Probe: func(ctx context.Context, f *fleet.Fleet, t Target) *fleet.Probes {
			// The probe package's own bound per dial, never more than the
			// user's --timeout: a black-holed gateway must not outlast the read.
			return probe.Gateways(ctx, f, probe.Options{Timeout: min(t.Timeout, defaultProbeTimeout)})
		},
		Identify: func(c *fleet.Cluster) checks.ClusterSummary {
			id := mesh.Identify(c)
			// string() because identity fields may be named string types.
			return checks.ClusterSummary{ClusterID: string(id.ClusterID), Network: string(id.Network), Role: string(id.Role)}
		},
	}
}

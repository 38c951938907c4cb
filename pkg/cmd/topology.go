package cmd

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

const outputDOT = "dot"

// TopologyOptions are the flags of `kubectl meshfed topology`.
type TopologyOptions struct {
	Flags   *kube.Flags
	Streams genericiooptions.IOStreams
	Backend Backend

	MeshFlags
	BundleFlag
	Output string
}

// NewTopologyCmd builds `kubectl meshfed topology`.
func NewTopologyCmd(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &TopologyOptions{Flags: flags, Streams: streams, Backend: backend, MeshFlags: defaultMeshFlags(), Output: outputText}
	c := &cobra.Command{
		Use:   "topology",
		Short: "Draw the mesh: networks, clusters, gateways and who reads whom",
		Long: `Read the chosen clusters once and draw the mesh they form: one box per network
with its clusters (role, cluster ID, Istio version) and east-west gateway
addresses, the discovery edges (which primary's istiod reads which cluster,
from its remote secrets) with their state, and, unless --no-probes, how the
gateways answered a TLS probe from this machine.

Contexts are chosen as doctor chooses them.`,
		Example: `  kubectl meshfed topology
  kubectl meshfed topology --contexts east,west -o json
  kubectl meshfed topology -o dot | dot -Tsvg > mesh.svg
  kubectl meshfed topology --bundle mesh.tar.gz`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.BundleFlag.Validate(func(n string) bool { return c.Flags().Changed(n) }); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	f := c.Flags()
	o.MeshFlags.AddFlags(f, "Deadline of the read: every cluster is read (following the mesh included) by the run's start + this; the probes then get --probe-timeout",
		"Do not run live probes (east-west gateway dials, remote credentials, istiod's view); only read the API servers")
	o.BundleFlag.AddFlagWithFromAlias(f)
	addOutputFlag(c, &o.Output, outputText, outputJSON, outputYAML, outputDOT)
	return c
}

// Complete normalises the flags.
func (o *TopologyOptions) Complete() error {
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	o.MeshFlags.Complete(o.Flags)
	return nil
}

// Validate rejects flags the run could not honour; every error exits 3.
func (o *TopologyOptions) Validate() error {
	if err := validateOutput(o.Output, outputText, outputJSON, outputYAML, outputDOT); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if err := o.MeshFlags.Validate(); err != nil {
		return err
	}
	return nil
}

// Run chooses and reads the contexts, probes the gateways and draws.
func (o *TopologyOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req := o.MeshFlags.Target()
	req.Flags = o.Flags
	backend, _, _, err := o.BundleFlag.backend(o.Backend)
	if err != nil {
		return err
	}
	res, err := diagnose(ctx, o.Streams, backend, req)
	if err != nil {
		return err
	}
	f := res.Fleet
	if len(f.Reachable()) == 0 {
		return failed("no cluster could be reached")
	}
	t := topology.Build(f)
	w := o.Streams.Out
	switch o.Output {
	case outputJSON:
		err = render.JSON(w, t)
	case outputYAML:
		err = render.YAML(w, t) // the JSON document, as every command's -o yaml
	case outputDOT:
		err = render.TopologyDOT(w, t)
	case outputText:
		err = render.TopologyText(w, t)
	default:
		err = errors.New("unknown output " + o.Output)
	}
	if err != nil {
		return failed("writing the topology: %v", err)
	}
	return nil
}

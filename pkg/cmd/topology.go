package cmd

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/render"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

const outputDOT = "dot"

// TopologyOptions are the flags of `kubectl meshfed topology`.
type TopologyOptions struct {
	Flags   *genericclioptions.ConfigFlags
	Streams genericiooptions.IOStreams
	Backend Backend

	Contexts       []string
	AllContexts    bool
	Output         string
	Timeout        time.Duration
	NoProbes       bool
	IstioNamespace string
	IstiodDebug    []string // CONTEXT=URL

	istiod map[string]string
}

// NewTopologyCmd builds `kubectl meshfed topology`.
func NewTopologyCmd(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &TopologyOptions{Flags: flags, Streams: streams, Backend: backend, Output: outputText, Timeout: 10 * time.Second, IstioNamespace: "istio-system"}
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
  kubectl meshfed topology -o dot | dot -Tsvg > mesh.svg`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	f := c.Flags()
	f.StringSliceVar(&o.Contexts, "contexts", nil, "Kubeconfig contexts to read, comma-separated (default: the current context and the clusters its remote secrets point at)")
	f.BoolVar(&o.AllContexts, "all-contexts", false, "Read every context in the kubeconfig")
	addOutputFlag(c, &o.Output, outputText, outputJSON, outputDOT)
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for each cluster (and, within it, the probes)")
	f.BoolVar(&o.NoProbes, "no-probes", false, "Do not run live probes (east-west gateway dials, remote credentials, istiod's view); only read the API servers")
	f.StringVar(&o.IstioNamespace, "istio-namespace", o.IstioNamespace, "Namespace of Istio's control plane")
	f.StringArrayVar(&o.IstiodDebug, "istiod-debug-address", nil, "CONTEXT=URL: reach that context's istiod debug endpoint at URL instead of through a port-forward (repeatable)")
	return c
}

// Complete normalises the flags.
func (o *TopologyOptions) Complete() error {
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	o.Contexts = trimAll(o.Contexts)
	return nil
}

// Validate rejects flags the run could not honour; every error exits 3.
func (o *TopologyOptions) Validate() error {
	if err := validateOutput(o.Output, outputText, outputJSON, outputDOT); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if o.Timeout <= 0 {
		return failed("--timeout must be positive, not %s", o.Timeout)
	}
	if o.AllContexts && len(o.Contexts) > 0 {
		return failed("--contexts and --all-contexts cannot be used together")
	}
	if errs := validation.IsDNS1123Label(o.IstioNamespace); len(errs) > 0 {
		return failed("--istio-namespace %q is not a namespace name: %s", o.IstioNamespace, errs[0])
	}
	istiod, err := parseIstiodDebug(o.IstiodDebug)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	o.istiod = istiod
	return nil
}

// Run chooses and reads the contexts, probes the gateways and draws.
func (o *TopologyOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	target := Target{Contexts: o.Contexts, AllContexts: o.AllContexts, Timeout: o.Timeout, IstioNamespace: o.IstioNamespace,
		NoProbes: o.NoProbes, IstiodDebug: o.istiod}
	_, f, err := readMesh(ctx, o.Streams, o.Flags, o.Backend, target)
	if err != nil {
		return err
	}
	if len(f.Reachable()) == 0 {
		return failed("no cluster could be reached")
	}
	t := topology.Build(f)
	w := o.Streams.Out
	switch o.Output {
	case outputJSON:
		err = render.JSON(w, t)
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

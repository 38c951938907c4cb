package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/bundle"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/diagnosis"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// DumpOptions are the flags of `kubectl meshfed dump`.
type DumpOptions struct {
	Flags   *kube.Flags
	Streams genericiooptions.IOStreams
	Backend Backend

	MeshFlags
	// Output is the bundle's file ("-": stdout).
	Output string
}

// NewDumpCmd builds `kubectl meshfed dump`.
func NewDumpCmd(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &DumpOptions{Flags: flags, Streams: streams, Backend: backend, MeshFlags: defaultMeshFlags()}
	c := &cobra.Command{
		Use:   "dump -o FILE.tar.gz",
		Short: "Write what a doctor run reads and observes to a support bundle, for doctor/topology/trace --bundle",
		Long: `Read the chosen clusters and run the live probes exactly as doctor does, and write
everything read and observed to a support bundle (a .tar.gz of one directory:
manifest.yaml and one file per cluster, the probes' results with where they ran
from and when). doctor --bundle, topology --bundle and trace --bundle judge
it later, anywhere, without reaching the clusters; several bundles (one per cluster, each dumped
where that cluster can be read) merge into one fleet.

Secret values never enter a bundle: certificates are kept (public), kubeconfigs
with their credentials redacted, private keys as their public half, anything
else as its length and fingerprint only.`,
		Example: `  # The mesh the current context belongs to
  kubectl meshfed dump -o mesh.tar.gz

  # One cluster, from a host inside its VPC; merge later
  kubectl meshfed dump --contexts east -o east.tar.gz
  kubectl meshfed doctor --bundle east.tar.gz --bundle west.tar.gz`,
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
	o.MeshFlags.AddFlags(f, "Deadline of the read: every cluster is read (following the mesh included) by the run's start + this; the probes then get --probe-timeout",
		"Do not run live probes; the bundle then holds only what the API servers said")
	o.MeshFlags.AddAWSFlags(f)
	f.StringVarP(&o.Output, "output", "o", "", "File to write the bundle to (.tar.gz); - for stdout")
	return c
}

// Complete normalises the flags.
func (o *DumpOptions) Complete() error {
	o.Output = strings.TrimSpace(o.Output)
	o.MeshFlags.Complete(o.Flags)
	return nil
}

// Validate rejects flags the run could not honour; every error exits 3.
func (o *DumpOptions) Validate() error {
	if o.Output == "" {
		return failed("-o FILE is required: the file to write the bundle to (- for stdout)")
	}
	return o.MeshFlags.Validate()
}

// Run reads the clusters as doctor does (every check selected, so that
// everything any check needs is read, istiod's registry and logs included)
// and writes the bundle: to a temporary file renamed into place, so that
// no half-written bundle is left under the name.
func (o *DumpOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req := o.MeshFlags.Target()
	req.Flags = o.Flags
	req.Now = time.Now()
	req.Checks = &checks.Selection{}
	res, err := diagnose(ctx, o.Streams, o.Backend, req)
	if err != nil {
		return err
	}
	m := bundle.Manifest{Tool: bundle.Tool{Version: version, Commit: commit}, ReadAt: req.Now, WrittenAt: time.Now(), Flags: o.flagValues()}
	if res.Fleet.Probes != nil {
		m.Probes = &bundle.ProbesEntry{From: res.Fleet.Probes.From, ObservedAt: m.WrittenAt}
	}
	for _, c := range res.Chosen {
		m.Contexts = append(m.Contexts, bundle.ContextEntry{Context: c.Context, Reason: c.Reason})
	}
	security := readAllPolicies(ctx, res, req.Timeout)
	if err := o.write(res, security, m); err != nil {
		return failed("writing the bundle: %v", err)
	}
	if o.Output != "-" {
		fmt.Fprintf(o.Streams.ErrOut, "Wrote %s: %d %s, read at %s\n", o.Output, len(res.Fleet.Clusters),
			pluralWord(len(res.Fleet.Clusters), "cluster", "clusters"), req.Now.UTC().Format(time.RFC3339))
	}
	if len(res.Fleet.Reachable()) == 0 {
		return failed("no cluster could be reached (the bundle records why)")
	}
	return nil
}

func (o *DumpOptions) write(res *diagnosis.Result, security []model.SecurityPolicies, m bundle.Manifest) error {
	if o.Output == "-" {
		return bundle.WriteWith(o.Streams.Out, res.Fleet, security, m)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.Output), "."+filepath.Base(o.Output)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone once renamed
	if err := bundle.WriteWith(tmp, res.Fleet, security, m); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), o.Output)
}

// readAllPolicies reads every reachable cluster's AuthorizationPolicies
// and PeerAuthentications of every namespace, all at once, bounded by
// timeout: trace --bundle judges its policy hop from them. A cluster whose
// policies cannot be read is recorded with why (trace then says unknown).
func readAllPolicies(ctx context.Context, res *diagnosis.Result, timeout time.Duration) []model.SecurityPolicies {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reachable := res.Fleet.Reachable()
	out := make([]model.SecurityPolicies, len(reachable))
	var wg sync.WaitGroup
	for i, c := range reachable {
		wg.Go(func() {
			var cl *kube.Client
			err := errors.New("no client")
			if res.Clients != nil {
				cl, err = res.Clients.Client(c.Context)
			}
			if err != nil {
				out[i] = model.SecurityPolicies{Context: c.Context, Error: err.Error()}
				return
			}
			out[i] = fleet.ReadAllSecurityPolicies(ctx, cl, c.Context)
		})
	}
	wg.Wait()
	return out
}

// flagValues records the flags that shaped what was read.
func (o *DumpOptions) flagValues() map[string]string {
	out := map[string]string{
		"timeout": o.Timeout.String(), "probe-timeout": o.Target().ProbeTimeout.String(),
		"istio-namespace": o.IstioNamespace, "no-probes": strconv.FormatBool(o.NoProbes),
	}
	if len(o.Contexts) > 0 {
		out["contexts"] = strings.Join(o.Contexts, ",")
	}
	if o.AllContexts {
		out["all-contexts"] = "true"
	}
	if len(o.IstiodDebug) > 0 {
		out["istiod-debug-address"] = strings.Join(o.IstiodDebug, ",")
	}
	if o.AWS {
		out["aws"] = "true"
	}
	if o.AWSProfile != "" {
		out["aws-profile"] = o.AWSProfile
	}
	if o.PCAARN != "" {
		out["pca-arn"] = o.PCAARN
	}
	return out
}

package cmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
	"github.com/meshfed/kubectl-meshfed/pkg/render/fixplan"
)

// --dry-run values, as kubectl names them.
const (
	dryRunNone   = "none"
	dryRunClient = "client"
	dryRunServer = "server"
)

// minTokenDuration is the shortest lifetime the API server grants a
// TokenRequest (expirationSeconds of at least 600).
const minTokenDuration = 10 * time.Minute

// FixOptions are the flags of `kubectl meshfed fix`.
type FixOptions struct {
	Flags   *kube.Flags
	Streams genericiooptions.IOStreams
	Backend Backend

	MeshFlags
	PCAFlags       // --ca aws-pca, --pca-template; the ARN is MeshFlags' --pca-arn
	Only           []string
	Apply          bool
	DryRun         string
	OutputDir      string
	ForceConflicts bool

	// What the fixers need, parsed into fix.Options by Validate.
	RootCert, RootKey  string
	AllowRootChange    bool
	IntermediateKeyDir string
	TokenDuration      time.Duration
	Servers            []string // CONTEXT=URL
	Networks           []string // CONTEXT=NAME
	AWSLoadBalancer    string

	// Set by Complete and Validate.
	mode      string // dryRunNone (apply), dryRunClient (print) or dryRunServer
	selection checks.Selection
	catalog   *checks.Catalog
	fixOpts   fix.Options
}

// NewFixCmd builds `kubectl meshfed fix`.
func NewFixCmd(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &FixOptions{Flags: flags, Streams: streams, Backend: backend, MeshFlags: defaultMeshFlags()}
	c := &cobra.Command{
		Use:   "fix",
		Short: "Plan, and with --apply make, the changes that answer doctor's findings",
		Long: `Run doctor's diagnosis and turn the findings fix knows how to answer into a plan:
per context, the objects to create or change, each with the findings it answers
and why. By default the plan is printed as a YAML stream with the reasons as
comments (or written with --output-dir, one file per context); nothing changes.

--apply applies it with server-side apply (field manager kubectl-meshfed): first a
server-side dry run of every change, then the changes in order. A cluster that
rejects a change gets nothing more applied, and the others carry on. Afterwards
fix reads the clusters again and shows each answered check before and after.

Secret values are never printed: a Secret shows its keys, each with the sha256 of
its value.

Exit codes: 0 the plan was printed, or every change was applied (or passed the
server dry run); 3 the tool could not do its job (bad flags, no cluster
reachable, a plan that cannot be made); 4 a change was rejected or not applied
(the result says which, where).`,
		Example: `  # What fix would change, and why
  kubectl meshfed fix

  # Only the locality findings and MF1003, validated by the API servers
  kubectl meshfed fix --only locality,MF1003 --dry-run=server

  # Apply, then see the checks before and after
  kubectl meshfed fix --apply

  # One file per context, for review
  kubectl meshfed fix --output-dir plan/`,
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
	o.MeshFlags.AddFlags(f, "Deadline of the read (every cluster read by the run's start + this; the probes then get --probe-timeout), and of each request that applies a change",
		"Do not run live probes while diagnosing (the findings that need them are then not fixed)")
	f.StringSliceVar(&o.Only, "only", nil, "Fix only these checks' findings, by ID or area, comma-separated (e.g. locality,MF1003)")
	f.BoolVar(&o.Apply, "apply", false, "Apply the plan (server-side apply after a server-side dry run)")
	f.StringVar(&o.DryRun, "dry-run", "", "none|client|server: client prints the plan (the default without --apply); server has the API servers validate it and changes nothing; none applies (the default with --apply)")
	f.StringVar(&o.OutputDir, "output-dir", "", "Write the plan to DIR, one CONTEXT.yaml per context, instead of to stdout")
	f.BoolVar(&o.ForceConflicts, "force-conflicts", false, "Take over fields another field manager owns instead of failing on the conflict")
	f.StringVar(&o.RootCert, "root-cert", "", "PEM file of the mesh root (or an intermediate followed by its chain) to issue each cluster's intermediate from")
	f.StringVar(&o.RootKey, "root-key", "", "PEM file of --root-cert's private key (read, never printed)")
	o.MeshFlags.AddAWSFlags(f)
	o.PCAFlags.AddFlags(f, "Where the intermediates come from: aws-pca issues them from the AWS Private CA --pca-arn names (default: --root-cert/--root-key)", false)
	f.BoolVar(&o.AllowRootChange, "allow-root-change", false, "Allow replacing a cluster's existing, different root (the plan explains the migration)")
	f.StringVar(&o.IntermediateKeyDir, "intermediate-key-dir", "", "Also write each issued intermediate's private key into DIR (mode 0600); by default keys go only into the clusters")
	f.DurationVar(&o.TokenDuration, "token-duration", 0, "Give remote secrets a TokenRequest token of this lifetime (at least 10m) instead of a service-account token secret")
	f.StringArrayVar(&o.Servers, "remote-server", nil, "CONTEXT=URL: the API server address remote secrets use for CONTEXT's cluster, instead of the kubeconfig's (repeatable; -s/--server is kubectl's)")
	f.StringArrayVar(&o.Networks, "network", nil, "CONTEXT=NAME: the network CONTEXT's cluster is on, when its own objects do not say (repeatable)")
	f.StringVar(&o.AWSLoadBalancer, "aws-lb", "", "internal|internet-facing: the AWS NLB scheme of east-west gateway Services")
	for name, values := range map[string][]string{
		"dry-run": {dryRunNone, dryRunClient, dryRunServer}, "aws-lb": {"internal", "internet-facing"},
	} {
		_ = c.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		})
	}
	return c
}

// Complete normalises the flags and reads the catalog.
func (o *FixOptions) Complete() error {
	o.MeshFlags.Complete(o.Flags)
	o.DryRun = strings.ToLower(strings.TrimSpace(o.DryRun))
	o.AWSLoadBalancer = strings.ToLower(strings.TrimSpace(o.AWSLoadBalancer))
	o.selection = checks.Selection{Only: trimAll(o.Only)}
	if o.Backend.Catalog != nil {
		o.catalog = o.Backend.Catalog()
	}
	return nil
}

// Validate rejects flags the run could not honour and reads the root's
// files; every error exits 3.
func (o *FixOptions) Validate() error {
	switch {
	case o.DryRun == "" && o.Apply:
		o.mode = dryRunNone
	case o.DryRun == "":
		o.mode = dryRunClient
	case o.DryRun == dryRunNone && !o.Apply:
		return failed("--dry-run=none applies the plan: say --apply")
	case slices.Contains([]string{dryRunNone, dryRunClient, dryRunServer}, o.DryRun):
		o.mode = o.DryRun
	default:
		return failed("--dry-run must be none, client or server, not %q", o.DryRun)
	}
	if err := o.MeshFlags.Validate(); err != nil {
		return err
	}
	if o.catalog == nil {
		return failed("no check catalog")
	}
	if err := o.selection.Validate(o.catalog); err != nil {
		return failed("--only: %v", err)
	}
	if o.AWSLoadBalancer != "" && o.AWSLoadBalancer != "internal" && o.AWSLoadBalancer != "internet-facing" {
		return failed("--aws-lb must be internal or internet-facing, not %q", o.AWSLoadBalancer)
	}
	if o.TokenDuration != 0 && o.TokenDuration < minTokenDuration {
		return failed("--token-duration must be at least %s (the API server's shortest token), not %s", minTokenDuration, o.TokenDuration)
	}
	if o.IntermediateKeyDir != "" {
		if st, err := os.Stat(o.IntermediateKeyDir); err == nil && !st.IsDir() {
			return failed("--intermediate-key-dir %s is not a directory", o.IntermediateKeyDir)
		}
	}
	if o.OutputDir != "" {
		if st, err := os.Stat(o.OutputDir); err == nil && !st.IsDir() {
			return failed("--output-dir %s is not a directory", o.OutputDir)
		}
	}
	if ctx, _, ok := strings.Cut(o.Flags.Server(), "="); ok && !strings.Contains(ctx, "://") {
		// fix's --server CONTEXT=URL shadowed kubectl's -s/--server; it is
		// --remote-server now, and --server is kubectl's, as the help says.
		return failed("--server %s: -s/--server is kubectl's API server flag; the address remote secrets use for a context is --remote-server CONTEXT=URL", o.Flags.Server())
	}
	servers, err := parseContextValues("--remote-server", "URL", o.Servers, httpURL)
	if err != nil {
		return failed("%v", err)
	}
	networks, err := parseContextValues("--network", "NAME", o.Networks, func(v string) error {
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("%q is not a label value: %s", v, errs[0])
		}
		return nil
	})
	if err != nil {
		return failed("%v", err)
	}
	o.PCAFlags.ARN = o.MeshFlags.PCAARN
	if err := o.PCAFlags.Validate(); err != nil {
		return failed("%v", err)
	}
	if o.Issuing() && (o.RootCert != "" || o.RootKey != "") {
		return failed("--ca %s and --root-cert/--root-key are two sources of intermediates: give one", caSourceAWSPCA)
	}
	root, err := o.readRoot()
	if err != nil {
		return failed("%v", err)
	}
	o.fixOpts = fix.Options{Root: root, AllowRootChange: o.AllowRootChange, IntermediateKeyDir: o.IntermediateKeyDir,
		TokenDuration: o.TokenDuration, Servers: servers, Networks: networks, AWSLoadBalancer: o.AWSLoadBalancer}
	return nil
}

// readRoot reads --root-cert and --root-key. Errors name the file and what
// is wrong, never its content.
func (o *FixOptions) readRoot() (*fix.Root, error) {
	if o.RootCert == "" && o.RootKey == "" {
		return nil, nil
	}
	if o.RootCert == "" || o.RootKey == "" {
		return nil, fmt.Errorf("--root-cert and --root-key go together")
	}
	certPEM, err := os.ReadFile(o.RootCert)
	if err != nil {
		return nil, fmt.Errorf("--root-cert: %v", err)
	}
	keyPEM, err := os.ReadFile(o.RootKey)
	if err != nil {
		return nil, fmt.Errorf("--root-key: %v", err)
	}
	root, err := fix.LoadRoot(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--root-cert %s, --root-key %s: %v", o.RootCert, o.RootKey, err)
	}
	return root, nil
}

// Run diagnoses, plans, and prints or applies the plan.
func (o *FixOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	target := o.MeshFlags.Target()
	target.Flags = o.Flags
	target.CertWarnDays, target.CertErrorDays, target.Now = trust.DefaultCertWarnDays, trust.DefaultCertErrorDays, time.Now()
	if o.Issuing() {
		// Read the Private CA first: one that cannot issue stops the run
		// before anything is planned.
		pctx, cancel := context.WithTimeout(ctx, o.Timeout)
		issuer, err := newPCAIssuer(pctx, o.AWSProfile, o.PCAFlags)
		cancel()
		if err != nil {
			return failed("%v", err)
		}
		o.fixOpts.Issuer = issuer
	}
	target.Checks = &o.selection
	res, err := diagnose(ctx, o.Streams, o.Backend, target)
	if err != nil {
		return err
	}
	f := res.Fleet
	if len(f.Reachable()) == 0 {
		return failed("no cluster could be reached")
	}
	if err := o.contextsRead(f); err != nil {
		return err
	}
	for _, c := range f.Clusters {
		if !c.Reachable {
			fmt.Fprintf(o.Streams.ErrOut, "warning: %s could not be read (%s); fix plans nothing for it\n", c.Context, c.Error)
		}
	}
	before := res.Checks
	o.fixOpts.Now = target.Now
	var fixers []fix.Fixer
	if o.Backend.Fixers != nil {
		fixers = o.Backend.Fixers()
	}
	plan, err := fix.Build(fixers, fix.Input{Fleet: f, Findings: before.Findings, Options: o.fixOpts})
	if err != nil {
		return failed("planning: %v", err)
	}
	if err := o.writePlan(&plan); err != nil {
		return failed("writing the plan: %v", err)
	}
	if o.mode == dryRunClient || plan.Empty() {
		return nil
	}

	result := o.Backend.Apply(ctx, plan, res.Clients, fix.ApplyOptions{
		DryRun: o.mode == dryRunServer, ForceConflicts: o.ForceConflicts, Timeout: o.Timeout,
	})
	st := render.NewStyles(o.Streams.Out, render.ColorEnabled(o.Streams.Out))
	fmt.Fprintln(o.Streams.Out)
	if err := fixplan.ApplyResult(o.Streams.Out, result, o.mode == dryRunServer, st); err != nil {
		return failed("writing the result: %v", err)
	}
	if o.mode == dryRunNone && applied(result) {
		if err := o.recheck(ctx, f, plan.Answered(), before.Findings, target, st); err != nil {
			return err
		}
	}
	if err := fixplan.NextSteps(o.Streams.Out, plan.Notes, o.catalog, o.mode == dryRunServer, st); err != nil {
		return failed("writing the next steps: %v", err)
	}
	if result.Failed() {
		return &ExitError{Code: ExitNotApplied}
	}
	return nil
}

// contextsRead rejects --remote-server and --network values for contexts this run
// did not read: a typo would otherwise be silently ignored.
func (o *FixOptions) contextsRead(f *model.Fleet) error {
	for flag, m := range map[string]map[string]string{"--remote-server": o.fixOpts.Servers, "--network": o.fixOpts.Networks} {
		for ctx := range m {
			if f.Cluster(ctx) == nil {
				return failed("%s names context %q, which this run does not read", flag, ctx)
			}
		}
	}
	return nil
}

func applied(r fix.Result) bool {
	for _, o := range r.Outcomes {
		if !o.DryRun && (o.Action == fix.Created || o.Action == fix.Configured || o.Action == fix.Unchanged) {
			return true
		}
	}
	return false
}

// recheck reads the same contexts again and re-runs the checks the plan
// answered, showing each one's findings before and after.
func (o *FixOptions) recheck(ctx context.Context, old *model.Fleet, ids []checks.ID, before []checks.Finding,
	target Target, st render.Styles) error {
	contexts := make([]string, len(old.Clusters))
	for i, c := range old.Clusters {
		contexts[i] = c.Context
	}
	target.Now = time.Now()
	after := o.Backend.Diagnosis.Recheck(ctx, target, contexts, ids, stderrObserver{o.Streams.ErrOut})
	rs := make([]render.Recheck, len(ids))
	for i, id := range ids {
		rs[i] = render.Recheck{ID: id, Before: findingsOf(before, id), After: findingsOf(after.Findings, id)}
	}
	fmt.Fprintln(o.Streams.Out)
	if err := render.Rechecks(o.Streams.Out, rs, o.catalog, st); err != nil {
		return failed("writing the checks: %v", err)
	}
	return nil
}

func findingsOf(fs []checks.Finding, id checks.ID) []checks.Finding {
	var out []checks.Finding
	for _, f := range fs {
		if f.Check == id {
			out = append(out, f)
		}
	}
	return out
}

// writePlan prints the plan, or writes one file per context into
// --output-dir, saying on stderr which files it wrote and which existing,
// different files it replaced.
func (o *FixOptions) writePlan(plan *fix.Plan) error {
	if o.OutputDir == "" || plan.Empty() && len(plan.Refused)+len(plan.Notes) == 0 {
		return fixplan.Plan(o.Streams.Out, plan, o.catalog)
	}
	files, err := fixplan.PlanFiles(plan, o.catalog)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return err
	}
	names := map[string]string{} // file name → context
	for _, ctx := range plan.Contexts() {
		name := planFileName(ctx)
		if other, dup := names[name]; dup {
			return fmt.Errorf("contexts %q and %q would both be written to %s", other, ctx, name)
		}
		names[name] = ctx
	}
	for _, ctx := range plan.Contexts() {
		path := filepath.Join(o.OutputDir, planFileName(ctx))
		verb := "wrote"
		if old, err := os.ReadFile(path); err == nil {
			verb = "unchanged"
			if !bytes.Equal(old, files[ctx]) {
				verb = "replaced (it held something else)"
			}
		}
		if err := os.WriteFile(path, files[ctx], 0o644); err != nil {
			return err
		}
		fmt.Fprintf(o.Streams.Out, "%s: %s\n", path, verb)
	}
	return nil
}

// planFileName is CONTEXT.yaml, with the characters a file name cannot hold
// (an EKS context's ARN has a "/") replaced by "_".
func planFileName(context string) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, context)
	if strings.HasPrefix(name, ".") {
		name = "_" + name[1:]
	}
	return name + ".yaml"
}

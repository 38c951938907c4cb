package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/diagnosis"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// DoctorOptions are the flags of `kubectl meshfed doctor`.
type DoctorOptions struct {
	Flags   *kube.Flags
	Streams genericiooptions.IOStreams
	Backend Backend

	MeshFlags
	BundleFlag
	Output        string
	CertWarnDays  int
	CertErrorDays int
	FailOn        string
	Checks        []string
	Skip          []string
	// Wait re-runs the diagnosis until no finding reaches --fail-on, for at
	// most this long (0: one run).
	Wait time.Duration

	// Set by Complete.
	failOn    checks.Severity
	selection checks.Selection
	catalog   *checks.Catalog
}

// NewDoctorOptions returns the options with their defaults.
func NewDoctorOptions(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *DoctorOptions {
	return &DoctorOptions{
		Flags: flags, Streams: streams, Backend: backend,
		MeshFlags: defaultMeshFlags(), Output: outputText, FailOn: "error",
		CertWarnDays: trust.DefaultCertWarnDays, CertErrorDays: trust.DefaultCertErrorDays,
	}
}

// NewDoctorCmd builds `kubectl meshfed doctor`.
func NewDoctorCmd(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := NewDoctorOptions(flags, streams, backend)
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Read every cluster of the mesh and report what is wrong",
		Long: `Read every chosen cluster once, run the checks over what was read, and report.

With neither --contexts nor --all-contexts, doctor starts from the current context
and adds every kubeconfig context whose API server one of its remote secrets
points at, following the mesh; it says on stderr which contexts it chose and why.`,
		Example: `  # The mesh the current context belongs to
  kubectl meshfed doctor

  # Exactly these clusters, as JSON, failing on warnings too (for CI)
  kubectl meshfed doctor --contexts east,west -o json --fail-on warning

  # Only the trust checks, and MF1002
  kubectl meshfed doctor --checks trust,MF1002

  # After a fix: re-check every 5 s until no error is left, for up to 3 minutes
  kubectl meshfed doctor --wait 3m

  # One line per finding, worst first
  kubectl meshfed doctor -o short

  # Offline, from support bundles written by kubectl meshfed dump
  kubectl meshfed doctor --bundle east.tar.gz --bundle west.tar.gz`,
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
		"Do not run live probes (TLS dials to east-west gateways, calls with remote secrets' credentials, each istiod pod's clusterz through a port-forward); only read the API servers")
	o.MeshFlags.AddAWSFlags(f)
	o.BundleFlag.AddFlagWithFromAlias(f)
	addOutputFlag(c, &o.Output, doctorOutputs...)
	f.IntVar(&o.CertWarnDays, "cert-warn-days", o.CertWarnDays, "A CA certificate that expires within this many days is a warning")
	f.IntVar(&o.CertErrorDays, "cert-error-days", o.CertErrorDays, "A CA certificate that expires within this many days is an error")
	f.StringVar(&o.FailOn, "fail-on", o.FailOn, "Lowest severity that makes the exit code 2: error|warning")
	f.StringSliceVar(&o.Checks, "checks", nil, "Run only these checks, by ID or area, comma-separated (e.g. trust,MF1002)")
	f.StringSliceVar(&o.Skip, "skip", nil, "Skip these checks, by ID or area, comma-separated")
	f.DurationVar(&o.Wait, "wait", 0, "Re-run every 5s until no finding reaches --fail-on, for at most this long (e.g. 2m); on a terminal, stderr shows what changed between runs; the last run is reported")
	_ = c.RegisterFlagCompletionFunc("fail-on", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"error", "warning"}, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

// doctorOutputs are the formats doctor writes; the first is the default.
// text is incident-first; short is a line per finding; wide is every detail.
var doctorOutputs = []string{outputText, outputShort, outputWide, outputJSON, outputYAML, outputSARIF, outputJUnit}

// Complete normalises the flags and reads the catalog.
func (o *DoctorOptions) Complete() error {
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	o.FailOn = strings.ToLower(strings.TrimSpace(o.FailOn))
	o.MeshFlags.Complete(o.Flags)
	o.selection = checks.Selection{Only: trimAll(o.Checks), Skip: trimAll(o.Skip)}
	if o.Backend.Catalog != nil {
		o.catalog = o.Backend.Catalog()
	}
	return nil
}

// trimAll trims each entry and drops empty ones, so "--contexts a,,b " works.
func trimAll(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate rejects flags the run could not honour; every error exits 3.
func (o *DoctorOptions) Validate() error {
	if err := validateOutput(o.Output, doctorOutputs...); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	sev, err := ParseFailOn(o.FailOn)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	o.failOn = sev
	if o.Wait < 0 {
		return failed("--wait must not be negative")
	}
	if o.Wait > 0 && len(o.Bundles) > 0 {
		return failed("--wait re-reads the clusters; a bundle (--bundle) does not change")
	}
	if o.CertErrorDays < 0 || o.CertWarnDays < o.CertErrorDays {
		return failed("--cert-error-days (%d) must be at least 0 and at most --cert-warn-days (%d)", o.CertErrorDays, o.CertWarnDays)
	}
	if err := o.MeshFlags.Validate(); err != nil {
		return err
	}
	if o.catalog == nil {
		return failed("no check catalog")
	}
	if err := o.selection.Validate(o.catalog); err != nil {
		return failed("--checks/--skip: %v", err)
	}
	return nil
}

// parseIstiodDebug reads --istiod-debug-address CONTEXT=URL values.
func parseIstiodDebug(values []string) (map[string]string, error) {
	return parseContextValues("--istiod-debug-address", "URL", values, httpURL)
}

// httpURL accepts an absolute http(s) URL.
func httpURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	return nil
}

// parseContextValues reads repeatable CONTEXT=VALUE flags (what names the
// value in errors), each value checked by valid, each context at most once.
func parseContextValues(flag, what string, values []string, valid func(string) error) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, v := range values {
		ctx, val, ok := strings.Cut(v, "=")
		if !ok || ctx == "" || val == "" {
			return nil, fmt.Errorf("%s %q: want CONTEXT=%s", flag, v, what)
		}
		if err := valid(val); err != nil {
			return nil, fmt.Errorf("%s %q: %v", flag, v, err)
		}
		if _, dup := out[ctx]; dup {
			return nil, fmt.Errorf("%s names context %q twice", flag, ctx)
		}
		out[ctx] = val
	}
	return out, nil
}

// Run chooses the contexts, reads them, runs the checks and renders the report.
func (o *DoctorOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req := o.MeshFlags.Target()
	req.Flags = o.Flags
	req.CertWarnDays, req.CertErrorDays, req.Now = o.CertWarnDays, o.CertErrorDays, time.Now()
	req.Checks, req.TrustMatrix = &o.selection, o.trustSelected()
	backend, _, judgedAt, err := o.BundleFlag.backend(o.Backend)
	if err != nil {
		return err
	}
	if !judgedAt.IsZero() {
		req.Now = judgedAt // as the run that wrote the bundle judged
	}
	var res *diagnosis.Result
	run := func(ctx context.Context) (*checks.Report, error) {
		if !judgedAt.IsZero() {
			req.Now = judgedAt
		} else {
			req.Now = time.Now()
		}
		streams := o.Streams
		if res != nil {
			// A re-run of --wait: which contexts are read was said once;
			// what changed is what Wait shows.
			streams.ErrOut = io.Discard
		}
		var err error
		res, err = diagnose(ctx, streams, backend, req)
		if err != nil {
			return nil, err
		}
		return res.Report, nil
	}
	if o.Wait > 0 {
		wait := Wait{For: o.Wait}
		if render.IsTerminal(o.Streams.ErrOut) {
			wait.Changes, wait.Styles = o.Streams.ErrOut, render.NewStyles(o.Streams.ErrOut, render.ColorEnabled(o.Streams.ErrOut))
		}
		_, err = wait.Until(ctx, run, func(r *checks.Report) bool { return ReportExitCode(r, o.failOn) == ExitOK })
	} else {
		_, err = run(ctx)
	}
	if err != nil {
		return err
	}
	report, f := res.Report, res.Fleet
	if err := o.render(report); err != nil {
		return failed("writing the report: %v", err)
	}
	if len(f.Reachable()) == 0 {
		return failed("no cluster could be reached")
	}
	if code := ReportExitCode(report, o.failOn); code != ExitOK {
		return &ExitError{Code: code}
	}
	return nil
}

// trustSelected reports whether a check of the trust area runs: the trust
// matrix belongs to the report only then.
func (o *DoctorOptions) trustSelected() bool {
	for _, m := range o.catalog.Entries() {
		if m.Area == checks.AreaTrust && o.selection.Includes(m) {
			return true
		}
	}
	return false
}

// printChoices says on stderr which contexts doctor reads and why, so a
// report about the wrong clusters is noticed before it is read.
func printChoices(w io.Writer, chosen []checks.ContextChoice) {
	width := 0
	for _, c := range chosen {
		width = max(width, len(c.Context))
	}
	fmt.Fprintf(w, "Reading %d %s:\n", len(chosen), pluralWord(len(chosen), "context", "contexts"))
	for _, c := range chosen {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Context, c.Reason)
	}
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (o *DoctorOptions) render(r *checks.Report) error {
	w := o.Streams.Out
	switch o.Output {
	case outputJSON:
		return render.JSON(w, r)
	case outputYAML:
		return render.YAML(w, r)
	case outputSARIF:
		return render.SARIF(w, r, o.catalog, CurrentTool())
	case outputJUnit:
		return render.JUnit(w, r)
	case outputText, outputShort, outputWide:
		layout := map[string]render.TextLayout{outputText: render.LayoutIncident, outputShort: render.LayoutShort, outputWide: render.LayoutWide}[o.Output]
		return render.TextReport(w, r, o.catalog, render.NewStyles(w, render.ColorEnabled(w)), render.TextOptions{Layout: layout, Width: render.TextWidth(w)})
	}
	return errors.New("unknown output " + o.Output)
}

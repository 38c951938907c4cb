package cmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
	"github.com/meshfed/kubectl-meshfed/pkg/trace"
)

// TraceOptions are the flags of `kubectl meshfed trace`.
type TraceOptions struct {
	Flags   *kube.Flags
	Streams genericiooptions.IOStreams
	Backend Backend

	MeshFlags
	BundleFlag
	Output         string
	From           string
	FromNamespace  string
	ServiceAccount string
	To             []string

	service, namespace string
	port               int32
}

// NewTraceCmd builds `kubectl meshfed trace`.
func NewTraceCmd(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &TraceOptions{Flags: flags, Streams: streams, Backend: backend, MeshFlags: defaultMeshFlags(), Output: outputText}
	c := &cobra.Command{
		Use:   "trace SERVICE.NAMESPACE[:PORT] --from CONTEXT [--bundle FILE]...",
		Short: "Walk one call to a service hop by hop and say where it breaks",
		Long: `Walk a call from a workload of one cluster (--from, in --from-namespace) to a
service of the mesh, hop by hop, and stop the verdict at the first broken one:

  1 resolve    the name resolves in the source cluster (a Service, or DNS proxying)
  2 discovery  the source's istiod is synced with every cluster that has the
               service's endpoints, and holds them
  3 proxy      what istiod sends a sidecar of the source namespace: which
               clusters, addresses, gateways and priorities
  4 gateway    each other network's east-west gateway answers on 15443 from
               this machine with a certificate of the mesh
  5 trust      the source's and the destinations' CAs trust each other, and
               their trust domains are one (or aliased)
  6 policy     the destinations' AuthorizationPolicies let the caller's SPIFFE
               identity in, and their mTLS mode suits the path
  7 locality   where traffic goes first, and whether failover can happen

The mesh is read as doctor reads it (following the remote secrets from
--from), and each hop carries the doctor's findings about it. A hop that
was not observed (--no-probes, istiod not answering) is "?", never ✓.

With --bundle (kubectl meshfed dump), the call is walked over what the
bundle recorded instead: its clusters, probe results, istiod's views and
security policies, marked "from the bundle, observed at T". What istiod
sends the sidecar is in a bundle only for the services its doctor run
asked about; a hop the bundle cannot judge is "?" (not in the bundle).

Exit codes: 0 the call's path works, 2 a hop fails, 3 a hop could not be
observed (and none before it fails), or the tool could not do its job.`,
		Example: `  kubectl meshfed trace helloworld.sample --from east
  kubectl meshfed trace httpbin.sample:8000 --from ml --from-namespace jobs --to api -o json

  # Offline, from a support bundle written by kubectl meshfed dump
  kubectl meshfed trace helloworld.sample --from east --bundle mesh.tar.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
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
		"Do not run live probes or ask istiod (the hops that need them are then '?'); only read the API servers")
	f.StringVar(&o.From, "from", "", "Context of the cluster the call starts in (default: --context, else the current context; with --bundle, the first context of the bundle)")
	o.BundleFlag.AddFlag(f)
	f.StringVar(&o.FromNamespace, "from-namespace", "", "Namespace of the calling workload (default: the service's)")
	f.StringVar(&o.ServiceAccount, "from-service-account", "", "Service account of the calling workload (default: that of a pod of --from-namespace, else default)")
	f.StringSliceVar(&o.To, "to", nil, "Destination clusters to judge, comma-separated (default: every cluster with ready endpoints of the service)")
	addOutputFlag(c, &o.Output, outputText, outputJSON, outputYAML)
	return c
}

// Complete parses SERVICE.NAMESPACE[:PORT] and fills the defaults.
func (o *TraceOptions) Complete(args []string) error {
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	o.MeshFlags.Complete(o.Flags)
	o.To = trimAll(o.To)
	arg := strings.TrimSpace(args[0])
	if hostPart, portPart, ok := strings.Cut(arg, ":"); ok {
		p, err := strconv.ParseInt(portPart, 10, 32)
		if err != nil || p <= 0 || p > 65535 {
			return failed("the port in %q must be a port number", arg)
		}
		arg, o.port = hostPart, int32(p)
	}
	name, rest, ok := strings.Cut(arg, ".")
	ns, _, _ := strings.Cut(rest, ".")
	if !ok || name == "" || ns == "" {
		return failed("the service must be given as NAME.NAMESPACE[:PORT], not %q", args[0])
	}
	o.service, o.namespace = name, ns
	if o.FromNamespace == "" {
		o.FromNamespace = ns
	}
	if o.From == "" {
		o.From = o.Flags.Context()
	}
	if o.From == "" && len(o.Bundles) == 0 {
		raw, err := o.Flags.RawConfig()
		if err != nil {
			return failed("reading the kubeconfig: %v", err)
		}
		o.From = raw.CurrentContext
	}
	return nil
}

// Validate rejects flags the run could not honour; every error exits 3.
func (o *TraceOptions) Validate() error {
	if err := validateOutput(o.Output, outputText, outputJSON, outputYAML); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if o.From == "" && len(o.Bundles) == 0 {
		return failed("no cluster to start from: name one with --from")
	}
	for _, n := range []string{o.service, o.namespace, o.FromNamespace} {
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			return failed("%q is not a Kubernetes name: %s", n, errs[0])
		}
	}
	if len(o.Contexts) > 0 && !slices.Contains(o.Contexts, o.From) {
		return failed("--contexts must include --from %s", o.From)
	}
	return o.MeshFlags.Validate()
}

// Run reads the mesh as doctor does (checks, probes, trust matrix), asks
// the source's istiod for the sidecar's view, reads the destinations'
// security policies, walks the hops and draws.
func (o *TraceOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	backend, offline, judgedAt, err := o.BundleFlag.backend(o.Backend)
	if err != nil {
		return err
	}
	if offline != nil && o.From == "" && len(offline.Chosen) > 0 {
		o.From = offline.Chosen[0].Context // where its dump started
	}
	req := o.MeshFlags.Target()
	req.Flags = o.Flags.WithContext(o.From) // follow the mesh from the source
	req.Now = time.Now()
	if !judgedAt.IsZero() {
		req.Now = judgedAt // as the run that wrote the bundle judged
	}
	req.Checks, req.TrustMatrix = &checks.Selection{}, true
	res, err := diagnose(ctx, o.Streams, backend, req)
	if err != nil {
		return err
	}
	f := res.Fleet
	if len(f.Reachable()) == 0 {
		return failed("no cluster could be reached")
	}
	if f.Cluster(o.From) == nil {
		return failed("--from %s is not among the clusters read", o.From)
	}
	for _, to := range o.To {
		if f.Cluster(to) == nil {
			return failed("--to %s is not among the clusters read", to)
		}
	}
	port := o.port
	if ports := servicePorts(f, o.namespace, o.service, o.port); len(ports) == 0 {
		if o.port != 0 {
			return failed("no cluster read has a Service %s/%s with port %d", o.namespace, o.service, o.port)
		}
		return failed("no cluster read has a Service %s/%s", o.namespace, o.service)
	} else if port == 0 {
		port = ports[0]
	}
	in := trace.Input{Fleet: f, Findings: res.Report.Findings, Trust: res.Report.Trust, Namespace: o.namespace, Service: o.service,
		Port: port, From: o.From, FromNamespace: o.FromNamespace, ServiceAccount: o.ServiceAccount, To: o.To}
	if o.Backend.Catalog != nil {
		in.Catalog = o.Backend.Catalog()
	}
	client := func(context string) (*kube.Client, error) {
		if res.Clients == nil {
			return nil, errors.New("no client")
		}
		return res.Clients.Client(context)
	}
	if offline != nil {
		in.Offline = res.Report.Offline
		in.View = o.recordedView(f, req, port)
		in.Policies = o.recordedPolicies(f, offline.Security)
	} else {
		var wg sync.WaitGroup
		wg.Go(func() { in.View = o.sidecarView(ctx, f, req, port, client) })
		wg.Go(func() { in.Policies = o.readPolicies(ctx, f, req, client) })
		wg.Wait()
	}

	t := trace.Walk(in)
	w := o.Streams.Out
	switch o.Output {
	case outputJSON:
		err = render.JSON(w, t)
	case outputYAML:
		err = render.YAML(w, t)
	default:
		err = render.TraceText(w, t, render.NewStyles(w, render.ColorEnabled(w)))
	}
	if err != nil {
		return failed("writing the trace: %v", err)
	}
	switch t.Verdict {
	case trace.Fail:
		return &ExitError{Code: ExitFindings}
	case trace.Unknown:
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

// sidecarView asks the source's istiod what it sends a sidecar of
// --from-namespace in --from for the service's port (unknown, with why,
// under --no-probes).
func (o *TraceOptions) sidecarView(ctx context.Context, f *model.Fleet, req Target, port int32, client func(string) (*kube.Client, error)) *model.SidecarView {
	asks := []probe.SidecarAsk{{Context: o.From, Namespace: o.FromNamespace,
		Services: []probe.ServicePorts{{Service: model.Meta{Namespace: o.namespace, Name: o.service}, Ports: []int32{port}}}}}
	var views []model.SidecarView
	if req.NoProbes {
		views = probe.NotAsked(f, asks, "--no-probes: istiod was not asked")
	} else {
		ask := o.Backend.SidecarViews
		if ask == nil {
			ask = probe.SidecarViews
		}
		opts := probe.Options{Timeout: req.ProbeBudget(), Deadline: time.Now().Add(req.ProbeBudget()), Client: client}
		views = ask(ctx, f, opts, asks)
	}
	for _, v := range views {
		if v.Context == o.From && v.Port == port {
			return &v
		}
	}
	return nil
}

// recordedView is the view the bundle's run was sent for a sidecar of
// --from-namespace in --from for the service's port: the doctor's asks
// (probe.DoctorAsks) cover a few services only, so any other is "not in
// the bundle" (unknown, never judged).
func (o *TraceOptions) recordedView(f *model.Fleet, req Target, port int32) *model.SidecarView {
	host := o.service + "." + o.namespace + ".svc.cluster.local"
	if req.NoProbes || f.Probes == nil {
		return &model.SidecarView{Context: o.From, Namespace: o.FromNamespace, Service: host, Port: port,
			NotRun: "not in the bundle: it holds no probe results (dumped with --no-probes, or --no-probes given)"}
	}
	for _, v := range f.Probes.SidecarViews {
		if v.Context == o.From && v.Namespace == o.FromNamespace && v.Service == host && v.Port == port {
			return &v
		}
	}
	return &model.SidecarView{Context: o.From, Namespace: o.FromNamespace, Service: host, Port: port,
		NotRun: fmt.Sprintf("not in the bundle: its run did not ask istiod what a sidecar of %s in %s is sent for %s:%d (the doctor asks about a few services only; trace it live)", o.FromNamespace, o.From, host, port)}
}

// recordedPolicies narrows the bundle's security policies of every
// namespace to those a live trace reads (policyNamespaces); a cluster the
// bundle holds none for is "not in the bundle" (its policy hop unknown).
func (o *TraceOptions) recordedPolicies(f *model.Fleet, security map[string]model.SecurityPolicies) map[string]model.SecurityPolicies {
	out := map[string]model.SecurityPolicies{}
	for _, c := range f.Reachable() {
		if len(o.To) > 0 && !slices.Contains(o.To, c.Context) {
			continue
		}
		namespaces := o.policyNamespaces(c)
		p, ok := security[c.Context]
		if !ok {
			out[c.Context] = model.SecurityPolicies{Context: c.Context, Namespaces: namespaces,
				Error: "not in the bundle (written by a kubectl-meshfed that did not record security policies)"}
			continue
		}
		out[c.Context] = p.In(namespaces)
	}
	return out
}

// policyNamespaces are the namespaces whose policies bind to a call of
// the service in c: the service's and the root namespace.
func (o *TraceOptions) policyNamespaces(c *model.Cluster) []string {
	namespaces := []string{o.namespace}
	root := c.IstioNamespace
	if id := mesh.Identify(c); id.Mesh != nil && id.Mesh.GetRootNamespace() != "" {
		root = id.Mesh.GetRootNamespace()
	}
	if root != o.namespace {
		namespaces = append(namespaces, root)
	}
	return namespaces
}

// readPolicies reads the security policies of the service's namespace and
// the root namespace in every cluster that could be a destination, all at
// once, each bounded by --timeout.
func (o *TraceOptions) readPolicies(ctx context.Context, f *model.Fleet, req Target, client func(string) (*kube.Client, error)) map[string]model.SecurityPolicies {
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	var mu sync.Mutex
	out := map[string]model.SecurityPolicies{}
	var wg sync.WaitGroup
	for _, c := range f.Reachable() {
		if len(o.To) > 0 && !slices.Contains(o.To, c.Context) {
			continue
		}
		wg.Go(func() {
			namespaces := o.policyNamespaces(c)
			var p model.SecurityPolicies
			if cl, err := client(c.Context); err != nil {
				p = model.SecurityPolicies{Context: c.Context, Namespaces: namespaces, Error: err.Error()}
			} else {
				p = fleet.ReadSecurityPolicies(ctx, cl, c.Context, namespaces)
			}
			mu.Lock()
			out[c.Context] = p
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

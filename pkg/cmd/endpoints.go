package cmd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// EndpointsOptions are the flags of `kubectl meshfed endpoints`.
type EndpointsOptions struct {
	Flags   *kube.Flags
	Streams genericiooptions.IOStreams
	Backend Backend

	MeshFlags
	Output    string
	Port      int32
	Namespace string // of the sidecar; default the service's

	service, serviceNamespace string
}

// NewEndpointsCmd builds `kubectl meshfed endpoints`.
func NewEndpointsCmd(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &EndpointsOptions{Flags: flags, Streams: streams, Backend: backend, MeshFlags: defaultMeshFlags(), Output: outputText}
	c := &cobra.Command{
		Use:   "endpoints SERVICE.NAMESPACE",
		Short: "Show what istiod sends a sidecar of each cluster for a service, endpoint by endpoint",
		Long: `Ask istiod, as a sidecar of a cluster would, for the endpoints of a service
(an EDS request for its outbound cluster, outbound|PORT||HOST, over istiod's
plaintext xDS port 15010 through a port-forward to the istiod pod), and show
each endpoint's address, locality, priority, weight and health, and where it
came from: a pod of a cluster (named from that cluster's EndpointSlices), or
another network's east-west gateway.

The sidecar presents the identity of a running injected pod of the namespace
(the service's unless --namespace) in its cluster, so that istiod gives it
that pod's labels and locality; with none, a sidecar without a pod. A remote
cluster's sidecar is asked of a primary that reads it. With --context alone,
only that cluster's sidecar is shown (the mesh is still read to explain the
addresses); with --contexts or --all-contexts, every chosen cluster's.
A view istiod's xDS port could not give is "unknown", with why.`,
		Example: `  kubectl meshfed endpoints helloworld.sample --context east
  kubectl meshfed endpoints httpbin.sample --contexts east,west --port 8000 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	f := c.Flags()
	o.MeshFlags.AddFlags(f, "Deadline of the read: every cluster is read (following the mesh included) by the run's start + this; the xDS requests then get --probe-timeout",
		"Do not ask istiod (every view is then unknown); only read the API servers")
	f.Int32Var(&o.Port, "port", 0, "Service port to ask for (default: every port of the Service)")
	f.StringVar(&o.Namespace, "namespace-of-sidecar", "", "Namespace of the sidecar to present (default: the service's)")
	addOutputFlag(c, &o.Output, outputText, outputJSON)
	return c
}

// Complete parses SERVICE.NAMESPACE (or the full host name).
func (o *EndpointsOptions) Complete(args []string) error {
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	o.MeshFlags.Complete(o.Flags)
	name, rest, ok := strings.Cut(strings.TrimSpace(args[0]), ".")
	ns, _, _ := strings.Cut(rest, ".")
	if !ok || name == "" || ns == "" {
		return failed("the service must be given as NAME.NAMESPACE, not %q", args[0])
	}
	o.service, o.serviceNamespace = name, ns
	if o.Namespace == "" {
		o.Namespace = ns
	}
	return nil
}

// Validate rejects flags the run could not honour; every error exits 3.
func (o *EndpointsOptions) Validate() error {
	if err := validateOutput(o.Output, outputText, outputJSON); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	for _, n := range []string{o.service, o.serviceNamespace, o.Namespace} {
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			return failed("%q is not a Kubernetes name: %s", n, errs[0])
		}
	}
	if o.Port < 0 || o.Port > 65535 {
		return failed("--port must be a port number, not %d", o.Port)
	}
	return o.MeshFlags.Validate()
}

// Run reads the mesh, asks istiod and draws.
func (o *EndpointsOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req := o.MeshFlags.Target()
	req.Flags = o.Flags
	noProbes := req.NoProbes
	req.NoProbes = true // the read only: istiod is asked below
	res, err := diagnose(ctx, o.Streams, o.Backend, req)
	if err != nil {
		return err
	}
	f := res.Fleet
	if len(f.Reachable()) == 0 {
		return failed("no cluster could be reached")
	}
	ports := servicePorts(f, o.serviceNamespace, o.service, o.Port)
	if len(ports) == 0 {
		if o.Port != 0 {
			return failed("no cluster read has a Service %s/%s with port %d", o.serviceNamespace, o.service, o.Port)
		}
		return failed("no cluster read has a Service %s/%s", o.serviceNamespace, o.service)
	}
	var asks []probe.SidecarAsk
	for _, c := range o.sidecarClusters(f) {
		asks = append(asks, probe.SidecarAsk{Context: c, Namespace: o.Namespace,
			Services: []probe.ServicePorts{{Service: model.Meta{Namespace: o.serviceNamespace, Name: o.service}, Ports: ports}}})
	}
	var views []model.SidecarView
	if noProbes {
		views = probe.NotAsked(f, asks, "--no-probes: istiod was not asked")
	} else {
		opts := probe.Options{Timeout: req.ProbeBudget(), Deadline: time.Now().Add(req.ProbeBudget()),
			Client: func(context string) (*kube.Client, error) {
				if res.Clients == nil {
					return nil, errors.New("no client")
				}
				return res.Clients.Client(context)
			}}
		ask := o.Backend.SidecarViews
		if ask == nil {
			ask = probe.SidecarViews
		}
		views = ask(ctx, f, opts, asks)
	}
	doc := render.SidecarViews{APIVersion: "meshfed.dev/v1alpha1", Kind: "SidecarViews", Service: o.serviceNamespace + "/" + o.service}
	for _, v := range views {
		rv := render.SidecarView{SidecarView: v, Endpoints: []render.OriginEndpoint{}}
		for _, e := range v.Endpoints {
			rv.Endpoints = append(rv.Endpoints, render.OriginEndpoint{XDSEndpoint: e, From: mesh.OriginOf(f, o.serviceNamespace, o.service, e)})
		}
		doc.Views = append(doc.Views, rv)
	}
	w := o.Streams.Out
	switch o.Output {
	case outputJSON:
		err = render.JSON(w, doc)
	default:
		err = render.SidecarViewsText(w, doc)
	}
	if err != nil {
		return failed("writing the endpoints: %v", err)
	}
	return nil
}

// sidecarClusters are the clusters whose sidecar's view is shown: the
// --context alone when it was given without --contexts/--all-contexts,
// else every chosen cluster with Istio (a primary or a remote).
func (o *EndpointsOptions) sidecarClusters(f *model.Fleet) []string {
	if start := o.Flags.Context(); start != "" && len(o.Contexts) == 0 && !o.AllContexts {
		return []string{start}
	}
	var out []string
	for _, c := range f.Clusters {
		if r := mesh.Identify(c).Role; !c.Reachable || r == mesh.RolePrimary || r == mesh.RoleRemote {
			out = append(out, c.Context)
		}
	}
	return out
}

// servicePorts are the ports of the Service namespace/name in any read
// cluster (only port when it is not 0 and some cluster has it), sorted.
func servicePorts(f *model.Fleet, namespace, name string, port int32) []int32 {
	var out []int32
	for _, c := range f.Reachable() {
		for _, s := range c.Services {
			if s.Namespace != namespace || s.Name != name {
				continue
			}
			for _, p := range s.Ports {
				if (port == 0 || p.Port == port) && !slices.Contains(out, p.Port) {
					out = append(out, p.Port)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

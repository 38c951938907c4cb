package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	istionet "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Options control one collection pass.
type Options struct {
	// Timeout bounds the whole read of one cluster (default 10s).
	Timeout time.Duration
	// Deadline, when set, ends every read by then, however late it
	// started: following the mesh reads clusters in rounds, and the run's
	// read phase must still end by its start + --timeout.
	Deadline time.Time
	// IstioNamespace is Istio's system namespace (default istio-system).
	IstioNamespace string
	// Latest reads the newest state, as a read right after a write must. By
	// default LISTs are served from the API server's watch cache, which may
	// lag a write by a moment.
	Latest bool
	// Early, when set, is called once per reachable cluster as soon as its
	// EarlyKinds have been read (or have failed), with a view of the
	// cluster that holds only those, while the large kinds are still
	// arriving: the probes that need no more (remote credentials, istiod's
	// views) start then. ctx is the one Collect was given, without the
	// read's deadline; Early must not block.
	Early func(ctx context.Context, view *model.Cluster)
}

// EarlyKinds are what a cluster's identity as a primary, its remote
// secrets and its istiod pods are read from: small kinds that arrive well
// before the Services, EndpointSlices and Nodes of a large cluster.
var EarlyKinds = []model.Kind{model.KindNamespaces, model.KindDeployments, model.KindPods, model.KindConfigMaps, model.KindSecrets}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.IstioNamespace == "" {
		o.IstioNamespace = "istio-system"
	}
	return o
}

// Collect reads every context concurrently, each under its own deadline.
// It never fails as a whole: a cluster that cannot be read is returned with
// Reachable false and Error set; a kind that cannot be read is recorded in
// Failures with the reason, and the rest of that cluster is still read.
func Collect(ctx context.Context, flags *kube.Flags, contexts []string, opts Options) *model.Fleet {
	return NewCollector(flags, opts).Collect(ctx, contexts)
}

// Collector reads clusters and remembers them: choosing contexts by following
// the mesh and collecting them share one read of each cluster.
type Collector struct {
	flags   *kube.Flags
	clients *kube.Clients
	opts    Options

	mu   sync.Mutex
	read map[string]*readOnce
}

type readOnce struct {
	once    sync.Once
	cluster *model.Cluster
}

// NewCollector returns a Collector for the kubeconfig the flags name.
func NewCollector(flags *kube.Flags, opts Options) *Collector {
	return &Collector{flags: flags, clients: flags.Clients(), opts: opts.withDefaults(), read: map[string]*readOnce{}}
}

// Clients are the per-context clients the collector reads through, for the
// probes to reach the same clusters over the same connections.
func (c *Collector) Clients() *kube.Clients { return c.clients }

// Collect returns the named contexts' clusters, reading concurrently those
// not read before.
func (c *Collector) Collect(ctx context.Context, contexts []string) *model.Fleet {
	f := &model.Fleet{IstioNamespace: c.opts.IstioNamespace, Clusters: make([]*model.Cluster, len(contexts))}
	var wg sync.WaitGroup
	for i, name := range contexts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Clusters[i] = c.cluster(ctx, name)
		}()
	}
	wg.Wait()
	return f
}

func (c *Collector) cluster(ctx context.Context, name string) *model.Cluster {
	c.mu.Lock()
	r, ok := c.read[name]
	if !ok {
		r = &readOnce{}
		c.read[name] = r
	}
	c.mu.Unlock()
	r.once.Do(func() { r.cluster = collectBounded(ctx, c.clients, name, c.opts) })
	return r.cluster
}

// backstopGrace is how long past its deadline a cluster's read may take to
// come back before it is given up: client-go honours the context almost
// everywhere, but not everywhere (a kubeconfig exec plugin that hangs is run
// without one), and a run must end by its deadline whatever hangs.
const backstopGrace = 250 * time.Millisecond

// collectBounded is collectCluster, returned by its deadline (plus
// backstopGrace) even when the read itself does not return: the cluster is
// then reported as not answering, and the read left behind writes only to a
// Cluster nobody sees.
func collectBounded(ctx context.Context, clients *kube.Clients, name string, opts Options) *model.Cluster {
	deadline := time.Now().Add(opts.Timeout)
	if !opts.Deadline.IsZero() && opts.Deadline.Before(deadline) {
		deadline = opts.Deadline
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	run := ctx // for what outlives the read (Options.Early)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	start := time.Now()
	budget := time.Until(deadline).Round(100 * time.Millisecond) // what "no answer within" names, as the read's own errors do
	done := make(chan *model.Cluster, 1)
	go func() { done <- collectCluster(ctx, run, clients, name, opts) }()
	backstop := time.NewTimer(time.Until(deadline) + backstopGrace)
	defer backstop.Stop()
	select {
	case c := <-done:
		return c
	case <-backstop.C:
		c := &model.Cluster{Context: name, IstioNamespace: opts.IstioNamespace, ReadDuration: time.Since(start),
			Error: fmt.Sprintf("no answer within %s (the read did not return: a hung credential plugin or connection)", budget)}
		if cl, err := clients.Client(name); err == nil {
			c.Server = cl.Host()
		}
		return c
	}
}

// ChooseContexts is ChooseContexts on this Collector: the clusters read to
// follow the mesh are kept for Collect.
func (c *Collector) ChooseContexts(ctx context.Context, opts ChooseOptions) ([]Choice, error) {
	opts.Timeout, opts.IstioNamespace = c.opts.Timeout, c.opts.IstioNamespace
	return chooseContexts(ctx, c, opts)
}

func collectCluster(parent, run context.Context, clients *kube.Clients, name string, opts Options) *model.Cluster {
	start := time.Now()
	c := &model.Cluster{Context: name, IstioNamespace: opts.IstioNamespace, Failures: map[model.Kind]string{}}
	defer func() { c.ReadDuration = time.Since(start) }()

	cl, err := clients.Client(name)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Server = cl.Host()
	// Every request ends with ctx: the client is shared with the probes,
	// so the read's deadline is the context's, not the client's.
	ctx, cancel := context.WithTimeout(parent, opts.Timeout)
	defer cancel()
	budget := opts.Timeout // what "no answer within" names
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl).Round(100 * time.Millisecond)
	}

	r, err := newReader(cl, opts.IstioNamespace, opts.Latest)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	// The namespace list is the gate: it tells unreachable and rejected
	// credentials apart from a cluster that is merely partly readable.
	if err := r.read(ctx, c, model.KindNamespaces); err != nil {
		c.Error = describe(err, ctx, budget)
		return c
	}
	c.Reachable = true

	// Every kind at once, as the watch-cache floor reads them: the requests
	// share the cluster's HTTP/2 connection, and the large kinds are reduced
	// item by item, so no limit is needed to bound memory.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		raw, err := r.client.Raw(gctx, "/version")
		var v version.Info
		if err == nil && json.Unmarshal(raw, &v) == nil {
			c.ServerVersion = v.GitVersion
		}
		return nil
	})
	results := make(map[model.Kind]error, len(model.AllKinds))
	var mu sync.Mutex
	early := len(EarlyKinds) - 1 // the namespaces are read
	for _, k := range model.AllKinds[1:] {
		g.Go(func() error {
			err := r.read(gctx, c, k)
			mu.Lock()
			results[k] = err
			var view *model.Cluster
			if opts.Early != nil && slices.Contains(EarlyKinds, k) {
				if early--; early == 0 {
					view = earlyView(c, results, ctx, budget)
				}
			}
			mu.Unlock()
			if view != nil {
				opts.Early(run, view)
			}
			return nil
		})
	}
	_ = g.Wait()
	for k, err := range results {
		if err != nil {
			c.Failures[k] = describe(err, ctx, budget)
		}
	}
	if len(c.Failures) == 0 {
		c.Failures = nil
	}
	return c
}

// earlyView is a cluster as far as its EarlyKinds go, read while the rest
// of it is still being read: their slices are complete (each kind is
// written by its own read alone, and those have returned), and the view's
// failures are theirs. results is held by the caller's lock.
func earlyView(c *model.Cluster, results map[model.Kind]error, ctx context.Context, budget time.Duration) *model.Cluster {
	v := &model.Cluster{Context: c.Context, Server: c.Server, IstioNamespace: c.IstioNamespace, Reachable: c.Reachable,
		KubeSystemUID: c.KubeSystemUID, Namespaces: c.Namespaces, Deployments: c.Deployments, Pods: c.Pods,
		ConfigMaps: c.ConfigMaps, Secrets: c.Secrets}
	for _, k := range EarlyKinds {
		if err := results[k]; err != nil {
			if v.Failures == nil {
				v.Failures = map[model.Kind]string{}
			}
			v.Failures[k] = describe(err, ctx, budget)
		}
	}
	return v
}

// describe turns a client error into one line a person can act on. API
// server messages and URLs carry no credentials, so they are kept.
func describe(err error, ctx context.Context, timeout time.Duration) string {
	var status apierrors.APIStatus
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &netErr) && netErr.Timeout()):
		// client-go retried a failing read until the deadline: say what failed.
		return fmt.Sprintf("no complete answer within %s: %s", timeout, lastLine(err))
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	case apierrors.IsUnauthorized(err):
		return "credentials rejected (401 Unauthorized)"
	case apierrors.IsForbidden(err):
		return "forbidden (403): " + apiMessage(err)
	case apierrors.IsNotFound(err):
		return "not found (404): the resource is not served (CRD not installed?)"
	case errors.As(err, &status):
		return fmt.Sprintf("%d %s: %s", status.Status().Code, status.Status().Reason, status.Status().Message)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer within %s", timeout)
	case errors.As(err, &urlErr):
		return urlErr.Err.Error() + " (" + urlErr.URL + ")"
	}
	return err.Error()
}

// lastLine is err's text on one line, without the request URL client-go
// appends (it names the server, already in the report).
func lastLine(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}

// reader performs the reads of one cluster.
type reader struct {
	client *kube.Client
	meta   metadata.Interface
	dyn    dynamic.Interface // custom resources read as they are (cert-manager's issuers)
	ns     string
	// latest skips the watch cache (see Options.Latest).
	latest bool
}

func newReader(cl *kube.Client, istioNamespace string, latest bool) (*reader, error) {
	md, err := cl.Metadata()
	if err != nil {
		return nil, err
	}
	dyn, err := cl.Dynamic()
	if err != nil {
		return nil, err
	}
	return &reader{client: cl, meta: md, dyn: dyn, ns: istioNamespace, latest: latest}, nil
}

// lister LISTs resource in namespace ("" for all) through rc, the REST
// client of its group version, into a new L: what a typed client's List
// does, without the typed clientset (see package kube).
func lister[T any, L interface {
	*T
	runtime.Object
	GetContinue() string
}](rc rest.Interface, resource, namespace string) func(context.Context, metav1.ListOptions) (L, error) {
	return func(ctx context.Context, o metav1.ListOptions) (L, error) {
		l := L(new(T))
		err := rc.Get().Namespace(namespace).Resource(resource).VersionedParams(&o, kube.ParameterCodec()).Do(ctx).Into(l)
		return l, err
	}
}

// listing asks for a LIST served from the API server's watch cache
// (resourceVersion 0): the fastest and cheapest read, where a second of
// staleness does not matter. A Latest read leaves the resourceVersion unset,
// which asks for the newest state.
func (r *reader) listing(o metav1.ListOptions) metav1.ListOptions {
	if !r.latest {
		o.ResourceVersion = "0"
	}
	return o
}

func (r *reader) read(ctx context.Context, c *model.Cluster, k model.Kind) error {
	all := r.listing(metav1.ListOptions{})
	// The Istio workloads (istiod, gateways) carry the "istio" label, so one
	// selected LIST finds them in any namespace.
	istioSelected := r.listing(metav1.ListOptions{LabelSelector: "istio"})
	inIstioNS := func(ns string) bool { return ns == r.ns } // read by the first LIST already
	core, apps, istio := r.client.Core(), r.client.Apps(), r.client.IstioNetworking()
	switch k {
	case model.KindNamespaces:
		// Only labels and UIDs matter: a metadata-only LIST.
		return eachPage(ctx, all, r.meta.Resource(corev1.SchemeGroupVersion.WithResource("namespaces")).List,
			func(l *metav1.PartialObjectMetadataList) error {
				for _, n := range l.Items {
					addNamespace(c, n.ObjectMeta)
				}
				return nil
			})
	case model.KindNodes:
		return listItems[corev1.Node](ctx, c, core, "nodes", "", all, nil)
	case model.KindServices:
		return listItems[corev1.Service](ctx, c, core, "services", "", all, nil)
	case model.KindEndpointSlices:
		return listItems[discoveryv1.EndpointSlice](ctx, c, r.client.DiscoveryV1(), "endpointslices", "", all, nil)
	case model.KindDeployments:
		notCSR := func(o *appsv1.Deployment) bool { return isIstioCSR(o.Labels) } // read as model.KindIstioCSR
		return eachPage(ctx, istioSelected, lister[appsv1.DeploymentList](apps, "deployments", ""), func(l *appsv1.DeploymentList) error { return addAll(c, l.Items, notCSR) })
	case model.KindPods:
		return eachPage(ctx, istioSelected, lister[corev1.PodList](core, "pods", ""), func(l *corev1.PodList) error { return addAll(c, l.Items, nil) })
	case model.KindConfigMaps:
		// Everything in Istio's namespace (mesh config, injector values),
		// and the root certificate that workloads trust, in every namespace.
		if err := eachPage(ctx, all, lister[corev1.ConfigMapList](core, "configmaps", r.ns), func(l *corev1.ConfigMapList) error { return addAll(c, l.Items, nil) }); err != nil {
			return err
		}
		roots := r.listing(metav1.ListOptions{FieldSelector: "metadata.name=" + model.RootCertConfigMap})
		return eachPage(ctx, roots, lister[corev1.ConfigMapList](core, "configmaps", ""), func(l *corev1.ConfigMapList) error {
			return addAll(c, l.Items, func(o *corev1.ConfigMap) bool { return inIstioNS(o.Namespace) })
		})
	case model.KindSecrets:
		// Everything in Istio's namespace (cacerts, istio-ca-secret, remote
		// secrets with or without their label), and remote secrets that
		// were put in another namespace, where istiod never sees them.
		if err := eachPage(ctx, all, lister[corev1.SecretList](core, "secrets", r.ns), func(l *corev1.SecretList) error { return addAll(c, l.Items, nil) }); err != nil {
			return err
		}
		remote := r.listing(metav1.ListOptions{LabelSelector: model.MultiClusterSecretLabel})
		return eachPage(ctx, remote, lister[corev1.SecretList](core, "secrets", ""), func(l *corev1.SecretList) error {
			return addAll(c, l.Items, func(o *corev1.Secret) bool { return inIstioNS(o.Namespace) })
		})
	case model.KindWebhooks:
		return eachPage(ctx, all, lister[admissionv1.MutatingWebhookConfigurationList](r.client.Admission(), "mutatingwebhookconfigurations", ""),
			func(l *admissionv1.MutatingWebhookConfigurationList) error { return addAll(c, l.Items, nil) })
	case model.KindGateways:
		return eachPage(ctx, all, lister[istionet.GatewayList](istio, "gateways", ""), func(l *istionet.GatewayList) error { return addAll(c, l.Items, nil) })
	case model.KindDestinationRules:
		return eachPage(ctx, all, lister[istionet.DestinationRuleList](istio, "destinationrules", ""), func(l *istionet.DestinationRuleList) error { return addAll(c, l.Items, nil) })
	case model.KindWorkloadEntries:
		return r.readWorkloadEntries(ctx, c)
	case model.KindIstioCSR:
		csr := r.listing(metav1.ListOptions{LabelSelector: model.IstioCSRSelector})
		if err := eachPage(ctx, csr, lister[appsv1.DeploymentList](apps, "deployments", ""), func(l *appsv1.DeploymentList) error { return addAll(c, l.Items, nil) }); err != nil {
			return err
		}
		return r.readRuntimeIssuers(ctx, c)
	case model.KindAWSPCAIssuers:
		return r.readAWSPCAIssuers(ctx, c)
	case model.KindIstioAPIs:
		return r.readIstioAPIs(ctx, c)
	case model.KindGatewayAPIGateways:
		return r.readGatewayAPIGateways(ctx, c)
	case model.KindGatewayClasses:
		return r.readGatewayClasses(ctx, c)
	case model.KindDaemonSets:
		// Only ztunnel's: one small selected LIST, in any namespace
		// (ztunnel may be installed outside Istio's, e.g. kube-system).
		zt := r.listing(metav1.ListOptions{LabelSelector: model.ZtunnelSelector})
		return eachPage(ctx, zt, lister[appsv1.DaemonSetList](apps, "daemonsets", ""), func(l *appsv1.DaemonSetList) error { return addAll(c, l.Items, nil) })
	}
	return fmt.Errorf("unknown kind %s", k)
}

// readRuntimeIssuers GETs the runtime ConfigMap each istio-csr names: it
// overrides the flags' issuer, and lives in istio-csr's namespace, which the
// ConfigMaps read does not cover. A ConfigMap that does not exist leaves the
// flags' issuer, as istio-csr does.
func (r *reader) readRuntimeIssuers(ctx context.Context, c *model.Cluster) error {
	for i := range c.IstioCSR {
		ns, name, _ := strings.Cut(c.IstioCSR[i].RuntimeConfigMap, "/")
		if name == "" {
			continue
		}
		var cm corev1.ConfigMap
		err := r.client.Core().Get().Namespace(ns).Resource("configmaps").Name(name).Do(ctx).Into(&cm)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("istio-csr %s/%s's runtime ConfigMap %s: %w", c.IstioCSR[i].Namespace, c.IstioCSR[i].Name, c.IstioCSR[i].RuntimeConfigMap, err)
		default:
			c.IstioCSR[i].RuntimeIssuer = runtimeIssuer(cm.Data)
		}
	}
	return nil
}

// readAWSPCAIssuers LISTs both kinds of aws-privateca-issuer. Most clusters
// do not have it: its API not being served means there are none. The API
// server authorizes before it routes, so a user who may not read the kind
// gets 403 whether or not it exists; discovery, which every user may read,
// then tells the two apart.
func (r *reader) readAWSPCAIssuers(ctx context.Context, c *model.Cluster) error {
	for _, kind := range []string{model.KindNameAWSPCAClusterIssuer, model.KindNameAWSPCAIssuer} {
		res := r.dyn.Resource(model.AWSPCAGroupVersion.WithResource(awsPCAResources[kind]))
		err := eachPage(ctx, r.listing(metav1.ListOptions{}), res.List, func(l *unstructured.UnstructuredList) error { return addAll(c, l.Items, nil) })
		if apierrors.IsNotFound(err) || (apierrors.IsForbidden(err) && !r.client.Served(ctx, model.AWSPCAGroupVersion)) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readGatewayAPIGateways LISTs Gateway API's Gateways: a few objects per
// cluster, read as JSON through the dynamic client (the plugin links no
// Gateway API types). A cluster without the Gateway API's CRDs has none.
func (r *reader) readGatewayAPIGateways(ctx context.Context, c *model.Cluster) error {
	res := r.dyn.Resource(model.GatewayAPIGroupVersion.WithResource("gateways"))
	err := eachPage(ctx, r.listing(metav1.ListOptions{}), res.List, func(l *unstructured.UnstructuredList) error { return addAll(c, l.Items, nil) })
	if apierrors.IsNotFound(err) || (apierrors.IsForbidden(err) && !r.client.Served(ctx, model.GatewayAPIGroupVersion)) {
		return nil
	}
	return err
}

// readGatewayClasses LISTs Gateway API's GatewayClasses (cluster-scoped, a
// handful). A cluster without the Gateway API's CRDs has none.
func (r *reader) readGatewayClasses(ctx context.Context, c *model.Cluster) error {
	res := r.dyn.Resource(model.GatewayAPIGroupVersion.WithResource("gatewayclasses"))
	err := eachPage(ctx, r.listing(metav1.ListOptions{}), res.List, func(l *unstructured.UnstructuredList) error { return addAll(c, l.Items, nil) })
	if apierrors.IsNotFound(err) || (apierrors.IsForbidden(err) && !r.client.Served(ctx, model.GatewayAPIGroupVersion)) {
		return nil
	}
	return err
}

// pageSize bounds how much of a large LIST is decoded at once when the API
// server pages. Measured on kube-apiserver 1.36 with 5,000 Services per
// cluster: at resourceVersion 0 the watch cache ignores the limit and answers
// whole, which is the fastest read (0.5 s for three clusters against 0.8 s
// paged, for 155 MB peak against 130 MB); the doctor takes the speed. The
// limit still bounds memory where a server does page (a request delegated
// to etcd, another version).
const pageSize = 500

// eachPage LISTs in pages and hands each page to add. The first page asks
// as opts say (the watch cache, or the newest state); any following ones
// follow its continue token, which carries the same snapshot.
func eachPage[L interface{ GetContinue() string }](ctx context.Context, opts metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) (L, error), add func(L) error) error {
	opts.Limit = pageSize
	for {
		l, err := list(ctx, opts)
		if err != nil {
			return err
		}
		if err := add(l); err != nil {
			return err
		}
		next := l.GetContinue()
		if next == "" {
			return nil
		}
		// A continue token may not be combined with a resourceVersion.
		opts.Continue, opts.ResourceVersion, opts.ResourceVersionMatch = next, "", ""
	}
}

// addAll reduces every item of a page into the cluster, except those drop
// rejects (nil keeps all). Lists of Istio's kinds hold pointers already.
func addAll[T any](c *model.Cluster, items []T, drop func(*T) bool) error {
	for i := range items {
		if drop != nil && drop(&items[i]) {
			continue
		}
		// Kubernetes lists hold values (the pointer is the object), Istio's
		// hold pointers; boxing a value would copy the whole object.
		obj, ok := any(&items[i]).(runtime.Object)
		if !ok {
			obj = any(items[i]).(runtime.Object)
		}
		if err := addObject(c, obj); err != nil {
			return err
		}
	}
	return nil
}

// Package floor is the read the doctor is measured against: every LIST the
// doctor's collector makes, served from the API server's watch cache
// (resourceVersion 0), in protobuf where the kind allows, all kinds of a
// cluster at once, decoded into client-go's types and dropped. Nothing is
// kept: it is the least a tool that reads these kinds can do.
package floor

import (
	"context"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
)

// Reader reads one cluster.
type Reader struct {
	kube  kubernetes.Interface
	istio istioclient.Interface
}

// NewReader builds the clients of one cluster without client-side throttling,
// as the doctor does.
func NewReader(cfg *rest.Config) (*Reader, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	ic, err := istioclient.NewForConfig(rest.CopyConfig(cfg)) // CRDs: JSON only
	if err != nil {
		return nil, err
	}
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Reader{kube: kc, istio: ic}, nil
}

// ReadAll LISTs every kind at once and drops what it read.
func (r *Reader) ReadAll(ctx context.Context) error {
	cache := metav1.ListOptions{ResourceVersion: "0"}
	core := r.kube.CoreV1()
	g, ctx := errgroup.WithContext(ctx)
	for _, list := range []func() error{
		func() error { _, err := core.Namespaces().List(ctx, cache); return err },
		func() error { _, err := core.Nodes().List(ctx, cache); return err },
		func() error { _, err := core.Services("").List(ctx, cache); return err },
		func() error { _, err := r.kube.DiscoveryV1().EndpointSlices("").List(ctx, cache); return err },
		func() error { _, err := r.kube.AppsV1().Deployments("").List(ctx, cache); return err },
		func() error { _, err := core.Pods("").List(ctx, cache); return err },
		func() error { _, err := core.ConfigMaps("istio-system").List(ctx, cache); return err },
		func() error { _, err := core.Secrets("istio-system").List(ctx, cache); return err },
		func() error {
			_, err := r.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, cache)
			return err
		},
		func() error { _, err := r.istio.NetworkingV1().Gateways("").List(ctx, cache); return err },
		func() error { _, err := r.istio.NetworkingV1().DestinationRules("").List(ctx, cache); return err },
		func() error { _, err := r.istio.NetworkingV1().WorkloadEntries("").List(ctx, cache); return err },
		func() error {
			// ztunnel's DaemonSets, selected by the chart's label as the
			// doctor lists them.
			_, err := r.kube.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{ResourceVersion: "0", LabelSelector: "app.kubernetes.io/name=ztunnel"})
			return err
		},
		// Gateway API's Gateways and GatewayClasses, as the doctor lists
		// them; none (404) where the Gateway API is not installed.
		func() error { return r.gatewayAPI(ctx, "gateways") },
		func() error { return r.gatewayAPI(ctx, "gatewayclasses") },
	} {
		g.Go(list)
	}
	return g.Wait()
}

// gatewayAPI LISTs a kind of Gateway API's from the watch cache; a cluster
// without its CRDs has none.
func (r *Reader) gatewayAPI(ctx context.Context, resource string) error {
	err := r.kube.CoreV1().RESTClient().Get().AbsPath("/apis/gateway.networking.k8s.io/v1/"+resource).
		Param("resourceVersion", "0").Do(ctx).Error()
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

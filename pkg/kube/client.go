package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
)

// Client is one context's connection: its REST configuration and one HTTP
// client (one transport, so one HTTP/2 connection to the API server) that
// every client below shares. Requests are bounded by their context, and by
// the configuration's Timeout when it has one.
type Client struct {
	config *rest.Config
	http   *http.Client

	mu     sync.Mutex
	rest   map[schema.GroupVersion]rest.Interface
	meta   metadata.Interface
	dyn    dynamic.Interface
	served map[schema.GroupVersion]*metav1.APIResourceList
}

// NewClient returns the client of cfg.
func NewClient(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{config: cfg, http: hc, rest: map[schema.GroupVersion]rest.Interface{},
		served: map[schema.GroupVersion]*metav1.APIResourceList{}}, nil
}

// Config returns a copy of the client's REST configuration.
func (c *Client) Config() *rest.Config { return rest.CopyConfig(c.config) }

// Host is the API server's URL.
func (c *Client) Host() string { return c.config.Host }

// JSON-only groups: custom resources are served as JSON only.
var jsonOnly = map[string]bool{istionet.SchemeGroupVersion.Group: true}

// REST returns the REST client of a group version in Scheme: protobuf for
// the built-in groups (their fastest encoding), JSON for custom resources.
func (c *Client) REST(gv schema.GroupVersion) (rest.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc, ok := c.rest[gv]; ok {
		return rc, nil
	}
	cfg := rest.CopyConfig(c.config)
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	if gv.Group == "" {
		cfg.APIPath = "/api"
	}
	if !jsonOnly[gv.Group] {
		cfg.ContentType = runtime.ContentTypeProtobuf
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	}
	cfg.NegotiatedSerializer = Codecs().WithoutConversion()
	rc, err := rest.RESTClientForConfigAndClient(cfg, c.http)
	if err != nil {
		return nil, err
	}
	c.rest[gv] = rc
	return rc, nil
}

func (c *Client) must(gv schema.GroupVersion) rest.Interface {
	rc, err := c.REST(gv)
	if err != nil {
		// Only a bad GroupVersion or serializer fails here, both ours.
		panic(fmt.Sprintf("kube: REST client of %s: %v", gv, err))
	}
	return rc
}

// The REST clients of the groups the plugin uses.
func (c *Client) Core() rest.Interface          { return c.must(corev1.SchemeGroupVersion) }
func (c *Client) Apps() rest.Interface          { return c.must(appsv1.SchemeGroupVersion) }
func (c *Client) DiscoveryV1() rest.Interface   { return c.must(discoveryv1.SchemeGroupVersion) }
func (c *Client) Admission() rest.Interface     { return c.must(admissionv1.SchemeGroupVersion) }
func (c *Client) Authorization() rest.Interface { return c.must(authorizationv1.SchemeGroupVersion) }
func (c *Client) Authentication() rest.Interface {
	return c.must(authenticationv1.SchemeGroupVersion)
}
func (c *Client) IstioNetworking() rest.Interface { return c.must(istionet.SchemeGroupVersion) }

// Raw GETs an absolute path (/version, /apis/GROUP/VERSION) and returns the
// body, asking for JSON: discovery documents come as protobuf otherwise.
func (c *Client) Raw(ctx context.Context, path ...string) ([]byte, error) {
	return c.Core().Get().AbsPath(path...).SetHeader("Accept", runtime.ContentTypeJSON).Do(ctx).Raw()
}

// Metadata returns the metadata-only client (protobuf by its own default).
func (c *Client) Metadata() (metadata.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.meta == nil {
		md, err := metadata.NewForConfigAndClient(c.config, c.http)
		if err != nil {
			return nil, err
		}
		c.meta = md
	}
	return c.meta, nil
}

// Dynamic returns the client of objects read and written as they are.
func (c *Client) Dynamic() (dynamic.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dyn == nil {
		d, err := dynamic.NewForConfigAndClient(c.config, c.http)
		if err != nil {
			return nil, err
		}
		c.dyn = d
	}
	return c.dyn, nil
}

// Served reports whether the API server serves gv (its discovery document
// exists). Any error but 404 counts as served, so that the caller's own
// request says what is wrong.
func (c *Client) Served(ctx context.Context, gv schema.GroupVersion) bool {
	_, err := c.Raw(ctx, "/apis", gv.Group, gv.Version)
	return !apierrors.IsNotFound(err)
}

// Mapping finds where a kind is served: its resource and whether it is
// namespaced, from the discovery document of its group version alone (one
// request per group version, remembered), not the whole of discovery.
func (c *Client) Mapping(ctx context.Context, gvk schema.GroupVersionKind) (schema.GroupVersionResource, bool, error) {
	gv := gvk.GroupVersion()
	c.mu.Lock()
	list, ok := c.served[gv]
	c.mu.Unlock()
	if !ok {
		path := []string{"/apis", gv.Group, gv.Version}
		if gv.Group == "" {
			path = []string{"/api", gv.Version}
		}
		body, err := c.Raw(ctx, path...)
		switch {
		case apierrors.IsNotFound(err):
			list = nil // not served: remembered as such
		case err != nil:
			return schema.GroupVersionResource{}, false, fmt.Errorf("discovering the cluster's resources: %w", err)
		default:
			list = &metav1.APIResourceList{}
			if err := json.Unmarshal(body, list); err != nil {
				return schema.GroupVersionResource{}, false, fmt.Errorf("discovering the cluster's resources: %s: %w", gv, err)
			}
		}
		c.mu.Lock()
		c.served[gv] = list
		c.mu.Unlock()
	}
	if list != nil {
		for _, r := range list.APIResources {
			if r.Kind == gvk.Kind && !strings.Contains(r.Name, "/") {
				return gv.WithResource(r.Name), r.Namespaced, nil
			}
		}
	}
	return schema.GroupVersionResource{}, false, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gv.Version}}
}

// Package kube is the plugin's connection to its clusters: kubectl's
// kubeconfig flags, and per context one Client (REST configuration, one
// HTTP transport, the REST, metadata and dynamic clients, the port-forward
// dialer) shared by the collector, the probes and fix's apply.
//
// It decodes only the API groups the plugin reads and writes. client-go's
// typed clientset, its discovery client and cli-runtime's flags each import
// k8s.io/client-go/kubernetes/scheme, which registers every group of
// k8s.io/api: about 13 MB of binary and start-up work for kinds the plugin
// never sees (TestImportDiet holds them out).
package kube

import (
	"sync"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
)

// scheme holds the kinds the plugin decodes: Namespaces, Nodes, Services,
// Pods, ConfigMaps, Secrets, Deployments, EndpointSlices, mutating webhooks,
// token requests and access reviews, and Istio's Gateways and
// DestinationRules. Anything else is read as unstructured. It is built on
// first use: `version` and `explain` need none.
var scheme = sync.OnceValue(func() *runtime.Scheme {
	s := runtime.NewScheme()
	// The unversioned meta types (Status, ListOptions…), as client-go's
	// scheme has them.
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	groups := runtime.SchemeBuilder{
		corev1.AddToScheme, appsv1.AddToScheme, discoveryv1.AddToScheme, admissionv1.AddToScheme,
		authenticationv1.AddToScheme, authorizationv1.AddToScheme, istionet.AddToScheme,
	}
	utilruntime.Must(groups.AddToScheme(s))
	return s
})

var (
	codecs         = sync.OnceValue(func() serializer.CodecFactory { return serializer.NewCodecFactory(scheme()) })
	parameterCodec = sync.OnceValue(func() runtime.ParameterCodec { return runtime.NewParameterCodec(scheme()) })
)

// Scheme is the scheme of the kinds the plugin decodes.
func Scheme() *runtime.Scheme { return scheme() }

// Codecs encode and decode Scheme's kinds.
func Codecs() serializer.CodecFactory { return codecs() }

// ParameterCodec encodes the query parameters of a request (ListOptions
// and the like).
func ParameterCodec() runtime.ParameterCodec { return parameterCodec() }

package model

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fleet is what one collection pass read: one Cluster per chosen context, in
// the order the contexts were chosen.
type Fleet struct {
	Clusters []*Cluster
	// IstioNamespace is the namespace Istio's control plane lives in
	// (istio-system unless the user says otherwise).
	IstioNamespace string
	// Probes holds the live probes' results (nil when none ran), added by
	// pkg/probe after collection and before the checks run.
	Probes *Probes `json:"probes,omitempty"`
	// AWSNetwork holds what the AWS APIs said about the network under the
	// clusters (nil when AWS was not asked), added by pkg/aws/network.
	AWSNetwork *AWSNetwork `json:"awsNetwork,omitempty"`
	// AWSPrivateCA holds what AWS Private CA said about the CA named with
	// --pca-arn (nil when none was), added by pkg/aws/pca.
	AWSPrivateCA *AWSPrivateCA `json:"awsPrivateCA,omitempty"`
	// Kubeconfig lists the kubeconfig's contexts (name, API server), so
	// that a cluster of the mesh that was not read can be named with the
	// context that would read it (pkg/members).
	Kubeconfig []KubeContext `json:"kubeconfig,omitempty"`
	// Members is who else is in the mesh (pkg/members), set by the check
	// runner before the checks run; nil in a snapshot as read.
	Members *Membership `json:"-"`
}

// Cluster returns the cluster read from the named context, or nil.
func (f *Fleet) Cluster(context string) *Cluster {
	for _, c := range f.Clusters {
		if c.Context == context {
			return c
		}
	}
	return nil
}

// Reachable returns the clusters whose API server answered.
func (f *Fleet) Reachable() []*Cluster {
	var out []*Cluster
	for _, c := range f.Clusters {
		if c.Reachable {
			out = append(out, c)
		}
	}
	return out
}

// Kind names one thing the collector reads. A kind that could not be read is
// recorded in Cluster.Failures, and checks that need it report "unknown" for
// that cluster instead of guessing.
type Kind string

const (
	KindNamespaces       Kind = "namespaces"
	KindNodes            Kind = "nodes"
	KindServices         Kind = "services"
	KindEndpointSlices   Kind = "endpointslices"
	KindDeployments      Kind = "deployments"
	KindPods             Kind = "pods"
	KindConfigMaps       Kind = "configmaps"
	KindSecrets          Kind = "secrets"
	KindWebhooks         Kind = "mutatingwebhookconfigurations"
	KindGateways         Kind = "gateways.networking.istio.io"
	KindDestinationRules Kind = "destinationrules.networking.istio.io"
	// KindWorkloadEntries is Istio's WorkloadEntries (a VM, or any
	// workload outside Kubernetes); where the CRD is not installed there
	// are none, which is not a failure to read.
	KindWorkloadEntries Kind = "workloadentries.networking.istio.io"
	// KindIstioCSR is istio-csr's Deployments (IstioCSRSelector) and the
	// runtime ConfigMaps they name.
	KindIstioCSR Kind = "istio-csr"
	// KindAWSPCAIssuers is aws-privateca-issuer's AWSPCAIssuers and
	// AWSPCAClusterIssuers; where its API is not served there are none,
	// which is not a failure to read.
	KindAWSPCAIssuers Kind = "awspcaissuers.awspca.cert-manager.io"
	// KindIstioAPIs is the served versions of the custom resources of the
	// Istio API groups istiod lists from its remote clusters (discovery).
	KindIstioAPIs Kind = "istio-apis"
	// KindGatewayAPIGateways is Gateway API's Gateways (GatewayAPIGroupVersion);
	// where the API is not served there are none, which is not a failure to read.
	KindGatewayAPIGateways Kind = "gateways.gateway.networking.k8s.io"
	// KindGatewayClasses is Gateway API's GatewayClasses; where the API is
	// not served there are none, which is not a failure to read.
	KindGatewayClasses Kind = "gatewayclasses.gateway.networking.k8s.io"
	// KindDaemonSets is ztunnel's DaemonSet (ZtunnelSelector), in any
	// namespace: the mark of ambient mode's node proxy.
	KindDaemonSets Kind = "daemonsets"
)

// AllKinds lists every kind the collector reads, in a stable order.
var AllKinds = []Kind{
	KindNamespaces, KindNodes, KindServices, KindEndpointSlices, KindDeployments, KindPods,
	KindConfigMaps, KindSecrets, KindWebhooks, KindGateways, KindDestinationRules, KindWorkloadEntries,
	KindIstioCSR, KindAWSPCAIssuers, KindIstioAPIs, KindGatewayAPIGateways, KindGatewayClasses, KindDaemonSets,
}

// Cluster is everything read from one context.
type Cluster struct {
	Context string `json:"context"`
	// Server is the API server URL the kubeconfig context points at.
	Server string `json:"server"`
	// IstioNamespace is the namespace read as Istio's system namespace.
	IstioNamespace string `json:"istioNamespace"`
	// Reachable is true when the API server answered at all.
	Reachable bool `json:"reachable"`
	// Error says why the cluster could not be read (empty when Reachable).
	Error string `json:"error,omitempty"`
	// Failures lists the kinds that could not be read, with the reason
	// (403, CRD not installed, timeout). The rest of the cluster is complete.
	Failures map[Kind]string `json:"failures,omitempty"`
	// ServerVersion is the API server's git version, e.g. v1.36.3.
	ServerVersion string `json:"serverVersion,omitempty"`
	// KubeSystemUID identifies the cluster: two contexts (or a remote secret)
	// reaching the same kube-system UID reach the same cluster.
	KubeSystemUID string `json:"kubeSystemUID,omitempty"`
	// ReadDuration is how long the whole read of this cluster took.
	ReadDuration time.Duration `json:"readDuration,omitempty"`

	Namespaces       []Namespace       `json:"namespaces,omitempty"`
	Nodes            []Node            `json:"nodes,omitempty"`
	Services         []Service         `json:"services,omitempty"`
	EndpointSlices   []EndpointSlice   `json:"endpointSlices,omitempty"`
	Deployments      []Workload        `json:"deployments,omitempty"`
	Pods             []Workload        `json:"pods,omitempty"`
	ConfigMaps       []ConfigMap       `json:"configMaps,omitempty"`
	Secrets          []Secret          `json:"secrets,omitempty"`
	Webhooks         []Webhook         `json:"webhooks,omitempty"`
	Gateways         []Gateway         `json:"gateways,omitempty"`
	DestinationRules []DestinationRule `json:"destinationRules,omitempty"`
	WorkloadEntries  []WorkloadEntry   `json:"workloadEntries,omitempty"`
	IstioCSR         []IstioCSR        `json:"istioCSR,omitempty"`
	AWSPCAIssuers    []AWSPCAIssuer    `json:"awsPCAIssuers,omitempty"`
	IstioAPIs        []ServedResource  `json:"istioAPIs,omitempty"`
	// GatewayAPIGateways are the cluster's Gateway API Gateways.
	GatewayAPIGateways []GatewayAPIGateway `json:"gatewayAPIGateways,omitempty"`
	// GatewayClasses are the cluster's Gateway API GatewayClasses.
	GatewayClasses []GatewayClass `json:"gatewayClasses,omitempty"`
	// DaemonSets are ztunnel's DaemonSets (ZtunnelSelector).
	DaemonSets []Workload `json:"daemonSets,omitempty"`

	memo sync.Map // derived readings shared by the checks, see Memo
}

// Memo returns the value computed once per cluster under key. Checks run
// concurrently and many need the same derived reading (identity, parsed
// certificates): this computes it once, and a Cluster is never changed after
// collection, so the value stays true.
func (c *Cluster) Memo(key string, compute func() any) any {
	if v, ok := c.memo.Load(key); ok {
		return v
	}
	v, _ := c.memo.LoadOrStore(key, compute())
	return v
}

// Memoized reports whether a derived reading was computed under key: which
// of them a check used, for the meta-test that holds its declared needs.
func (c *Cluster) Memoized(key string) bool {
	_, ok := c.memo.Load(key)
	return ok
}

// Unmemoized returns a copy of the cluster that shares its objects but none
// of its derived readings: a reader whose reads must not be counted as a
// check's (the runner's own work) computes on it.
func (c *Cluster) Unmemoized() *Cluster {
	src, dst := reflect.ValueOf(c).Elem(), reflect.New(reflect.TypeFor[Cluster]())
	for i := range src.NumField() {
		if src.Type().Field(i).IsExported() {
			dst.Elem().Field(i).Set(src.Field(i))
		}
	}
	return dst.Interface().(*Cluster)
}

// Readable reports whether the cluster answered and every one of kinds was
// read. The reason says why not.
func (c *Cluster) Readable(kinds ...Kind) (ok bool, reason string) {
	if !c.Reachable {
		return false, "cluster unreachable: " + c.Error
	}
	for _, k := range kinds {
		if r, failed := c.Failures[k]; failed {
			return false, string(k) + " could not be read: " + r
		}
	}
	return true, ""
}

// Meta is the part of an object's metadata the checks use.
type Meta struct {
	Namespace   string            `json:"namespace,omitempty"`
	Name        string            `json:"name"`
	UID         string            `json:"uid,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Namespace is a namespace's metadata.
type Namespace struct {
	Meta
}

// Node is a node's locality and addressing.
type Node struct {
	Meta
	PodCIDRs    []string `json:"podCIDRs,omitempty"`
	InternalIPs []string `json:"internalIPs,omitempty"`
}

// Service is a Service reduced to what sameness, gateway and discovery checks use.
type Service struct {
	Meta
	Type         string            `json:"type"` // ClusterIP, NodePort, LoadBalancer, ExternalName
	ClusterIP    string            `json:"clusterIP,omitempty"`
	Headless     bool              `json:"headless,omitempty"`
	ExternalName string            `json:"externalName,omitempty"`
	Selector     map[string]string `json:"selector,omitempty"`
	Ports        []ServicePort     `json:"ports,omitempty"`
	// LoadBalancer holds the addresses from status.loadBalancer.ingress.
	LoadBalancer []LoadBalancerIngress `json:"loadBalancer,omitempty"`
	// ExternalIPs is spec.externalIPs: istiod counts them among a
	// Service's external addresses whatever its type, after the
	// load balancer's.
	ExternalIPs []string `json:"externalIPs,omitempty"`
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	Port       int32  `json:"port"`
	TargetPort string `json:"targetPort,omitempty"`
}

// LoadBalancerIngress is one load-balancer address of a Service.
type LoadBalancerIngress struct {
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
}

// EndpointSlice is an EndpointSlice reduced to counts and addresses.
type EndpointSlice struct {
	Meta
	// Service is the kubernetes.io/service-name label: the Service it backs.
	Service     string   `json:"service,omitempty"`
	AddressType string   `json:"addressType,omitempty"`
	Addresses   []string `json:"addresses,omitempty"`
	Ready       int      `json:"ready"`
	// Ports are the slice's ports: kube-proxy sends a Service port to the
	// endpoint port of the same name.
	Ports []EndpointPort `json:"ports,omitempty"`
	// NoPod are the addresses of ready endpoints whose targetRef names no
	// Pod: written by hand (a selectorless Service) or by another
	// controller. istiod holds them without a pod's TLS mode, locality
	// and identity.
	NoPod []string `json:"noPod,omitempty"`
	// NotReady are the addresses of the endpoints that are not ready
	// (conditions.ready false); the others of Addresses are ready.
	NotReady []string `json:"notReady,omitempty"`
	// Pods names the pod behind each address whose endpoint's targetRef
	// is a Pod (address → pod name, in the slice's namespace).
	Pods map[string]string `json:"pods,omitempty"`
	// Nodes names the node of each address whose endpoint says one
	// (nodeName, which the EndpointSlice controller copies from the
	// pod): istiod takes a pod's locality from its node's labels.
	Nodes map[string]string `json:"nodes,omitempty"`
}

// EndpointPort is one port of an EndpointSlice.
type EndpointPort struct {
	Name string `json:"name,omitempty"`
	Port int32  `json:"port"`
}

// Workload is a Deployment or Pod reduced to its containers' images and the
// environment variables Istio reads. Only variables named in IstioEnv keep
// their values; others are not recorded, so no credential passes through.
type Workload struct {
	Meta
	Replicas    int32             `json:"replicas,omitempty"` // Deployments
	PodIP       string            `json:"podIP,omitempty"`    // Pods
	Phase       string            `json:"phase,omitempty"`    // Pods
	Containers  []Container       `json:"containers,omitempty"`
	PodLabels   map[string]string `json:"podLabels,omitempty"` // Deployments: the template's labels
	ServiceAcct string            `json:"serviceAccount,omitempty"`
}

// Container is one container of a Workload.
type Container struct {
	Name  string            `json:"name"`
	Image string            `json:"image,omitempty"`
	Env   map[string]string `json:"env,omitempty"`
	Args  []string          `json:"args,omitempty"`
}

// Env returns the value of an environment variable in the first container
// that sets it.
func (w Workload) Env(name string) (string, bool) {
	for _, c := range w.Containers {
		if v, ok := c.Env[name]; ok {
			return v, true
		}
	}
	return "", false
}

// ConfigMap is a ConfigMap with its data (Istio's ConfigMaps hold no secrets).
type ConfigMap struct {
	Meta
	Data map[string]string `json:"data,omitempty"`
}

// Secret is a Secret whose data stays in memory: SecretData prints and
// marshals as key names with fingerprints, never as values.
type Secret struct {
	Meta
	Type string     `json:"type,omitempty"`
	Data SecretData `json:"data,omitempty"`
	// Facts is set only in a Secret written to or read from a bundle
	// (kubectl meshfed dump): what may be known of each value without the
	// value (SecretFacts). A live read leaves it nil.
	Facts map[string]SecretFacts `json:"facts,omitempty"`
	// Created is the Secret's creationTimestamp. Kept for Secrets only: a
	// remote secret created before istiod started was read in istiod's
	// start-up, which is how MF4045 tells a timeout of that start from
	// one of a peer added while istiod served.
	Created *time.Time `json:"created,omitempty"`
}

// Webhook is a MutatingWebhookConfiguration's webhooks, reduced to where they call.
type Webhook struct {
	Meta
	Hooks []WebhookClient `json:"hooks,omitempty"`
}

// WebhookClient is where one webhook sends its requests.
type WebhookClient struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Service is namespace/name:port when the webhook calls a Service
	// (the port as written; the API server calls 443 when none is).
	Service string `json:"service,omitempty"`
	// Path is the path of the request: the URL's, or clientConfig.service.path.
	Path string `json:"path,omitempty"`
	// FailurePolicy is Fail or Ignore as written; empty means Fail
	// (admissionregistration/v1's default): what a call that cannot be
	// made does to the request, rejected or admitted unchanged.
	FailurePolicy string `json:"failurePolicy,omitempty"`
	// CABundleFingerprint is the SHA-256 of the first certificate of caBundle.
	CABundleFingerprint string `json:"caBundleFingerprint,omitempty"`
	CABundle            []byte `json:"-"`
}

// Gateway is an Istio networking Gateway.
type Gateway struct {
	Meta
	Selector map[string]string `json:"selector,omitempty"`
	Servers  []GatewayServer   `json:"servers,omitempty"`
}

// GatewayServer is one server block of a Gateway.
type GatewayServer struct {
	Port     uint32   `json:"port"`
	PortName string   `json:"portName,omitempty"`
	Protocol string   `json:"protocol,omitempty"`
	TLSMode  string   `json:"tlsMode,omitempty"` // e.g. AUTO_PASSTHROUGH
	Hosts    []string `json:"hosts,omitempty"`
}

// DestinationRule is an Istio DestinationRule reduced to its locality and
// outlier-detection settings (top level and per subset).
type DestinationRule struct {
	Meta
	Host          string         `json:"host"`
	ExportTo      []string       `json:"exportTo,omitempty"`
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
	Subsets       []SubsetPolicy `json:"subsets,omitempty"`
	// PortLevelPorts are the ports of the top-level policy's
	// portLevelSettings: for those ports the port-level policy replaces the
	// top-level one instead of inheriting from it.
	PortLevelPorts []uint32 `json:"portLevelPorts,omitempty"`
}

// WorkloadEntry is an Istio WorkloadEntry reduced to what istiod makes of
// it as an endpoint (pilot/pkg/serviceregistry/serviceentry/conversion.go
// convertWorkloadEntryToWorkloadInstance).
type WorkloadEntry struct {
	Meta
	// WorkloadLabels are spec.labels: what a Service's selector matches and
	// security.istio.io/tlsMode is read from (istiod ignores the object's
	// own metadata labels for both).
	WorkloadLabels map[string]string `json:"workloadLabels,omitempty"`
	Address        string            `json:"address,omitempty"`
	Network        string            `json:"network,omitempty"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	Locality       string            `json:"locality,omitempty"`
	Weight         uint32            `json:"weight,omitempty"`
}

// SubsetPolicy is the traffic policy of one subset.
type SubsetPolicy struct {
	Name          string         `json:"name"`
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
}

// TrafficPolicy is the part of a traffic policy that locality checks use.
type TrafficPolicy struct {
	OutlierDetection bool            `json:"outlierDetection,omitempty"`
	Locality         *LocalityPolicy `json:"locality,omitempty"`
}

// LocalityPolicy mirrors Istio's LocalityLoadBalancerSetting.
type LocalityPolicy struct {
	Enabled          *bool                `json:"enabled,omitempty"`
	Failover         []LocalityFailover   `json:"failover,omitempty"`
	FailoverPriority []string             `json:"failoverPriority,omitempty"`
	Distribute       []LocalityDistribute `json:"distribute,omitempty"`
}

// LocalityFailover is one failover entry: traffic from From goes to To.
type LocalityFailover struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// LocalityDistribute is one distribute entry: weights per locality for From.
type LocalityDistribute struct {
	From string            `json:"from"`
	To   map[string]uint32 `json:"to"`
}

// Names Istio gives the objects the collector looks for.
const (
	// RootCertConfigMap is the ConfigMap, in every namespace, from which
	// workloads take the root they trust.
	RootCertConfigMap = "istio-ca-root-cert"
	// MultiClusterSecretLabel marks a remote secret (its value must be "true").
	MultiClusterSecretLabel = "istio/multiCluster"
)

// ServiceRef splits Service into the namespace, name and port the API
// server calls (443 when the webhook names none: admissionregistration/v1's
// default); ok is false when the webhook calls a URL.
func (w WebhookClient) ServiceRef() (namespace, name string, port int32, ok bool) {
	if w.Service == "" {
		return "", "", 0, false
	}
	ref, p, hasPort := strings.Cut(w.Service, ":")
	namespace, name, ok = strings.Cut(ref, "/")
	if !ok {
		return "", "", 0, false
	}
	port = 443
	if hasPort {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return "", "", 0, false
		}
		port = int32(n)
	}
	return namespace, name, port, true
}

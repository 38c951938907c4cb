package model

// SidecarView is what a primary's istiod sends a sidecar of a cluster for
// one port of one service: its answer to an EDS request for the service's
// outbound cluster, asked over xDS (15010) through a port-forward to the
// istiod pod, as that sidecar (cluster ID, network, namespace, and the
// identity of one of its pods when it has one).
type SidecarView struct {
	// Context is the cluster whose sidecar was presented; Istiod names
	// what was asked ("port-forward to istio-system/istiod-x:15010").
	Context string `json:"context"`
	Istiod  string `json:"istiod,omitempty"`
	// ClusterID, Network and Namespace are the sidecar's, as presented.
	ClusterID string `json:"clusterID"`
	Network   string `json:"network,omitempty"`
	Namespace string `json:"namespace"`
	// Proxy is the pod (namespace/name) whose identity was presented, so
	// that istiod finds its labels and its node's locality; empty for a
	// sidecar with no pod behind it. ProxyLocality is that node's
	// locality as far as the snapshot tells (region/zone/subzone).
	Proxy         string `json:"proxy,omitempty"`
	ProxyLocality string `json:"proxyLocality,omitempty"`
	// Service is the host (name.namespace.svc.cluster.local), Port the
	// Service port, Cluster the outbound cluster asked for.
	Service string `json:"service"`
	Port    int32  `json:"port"`
	Cluster string `json:"cluster"`
	// NotRun says why istiod was not asked; Error why the answer did not
	// come. Neither: Endpoints is istiod's answer (possibly empty).
	NotRun    string        `json:"notRun,omitempty"`
	Error     string        `json:"error,omitempty"`
	Endpoints []XDSEndpoint `json:"endpoints"`
}

// Read reports whether the view holds istiod's answer.
func (v SidecarView) Read() bool { return v.NotRun == "" && v.Error == "" }

// Why says why there is no answer ("" when there is one).
func (v SidecarView) Why() string {
	if v.NotRun != "" {
		return v.NotRun
	}
	return v.Error
}

// XDSEndpoint is one endpoint of an EDS answer, as Envoy would load it.
type XDSEndpoint struct {
	Address  string `json:"address"`
	Port     uint32 `json:"port"`
	Locality string `json:"locality"` // region/zone/subzone
	Priority uint32 `json:"priority"`
	Weight   uint32 `json:"weight"`
	// Health is Envoy's status: HEALTHY, UNHEALTHY, DRAINING, UNKNOWN.
	Health string `json:"health"`
}

// Package xdstest asks istiod what it would send a sidecar: an ADS client
// (go-control-plane's discovery types over gRPC) that connects to istiod's
// plaintext xDS port (15010), presents itself with the node ID and metadata
// an injected istio-proxy sends, and requests clusters (CDS) and their
// endpoints (EDS). For tests and test helpers only: it links gRPC, which
// the plugin binary must not.
package xdstest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

// Type URLs of the resources asked for.
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

// Sidecar is who the client claims to be: a sidecar of a pod in a cluster,
// with what istio-proxy's bootstrap puts in its node (pkg/model/proxy.go's
// NodeMetadata).
type Sidecar struct {
	Cluster        string // CLUSTER_ID
	Network        string // NETWORK
	MeshID         string // MESH_ID
	Namespace      string
	Pod            string
	IP             string
	ServiceAccount string
	Workload       string // WORKLOAD_NAME
	Labels         map[string]string
	IstioVersion   string
}

// ID is the node ID istio-proxy sends: sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local.
func (s Sidecar) ID() string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", s.IP, s.Pod, s.Namespace, s.Namespace)
}

func (s Sidecar) node() (*corev3.Node, error) {
	labels := map[string]any{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	meta, err := structpb.NewStruct(map[string]any{
		"CLUSTER_ID":        s.Cluster,
		"NETWORK":           s.Network,
		"MESH_ID":           s.MeshID,
		"NAMESPACE":         s.Namespace,
		"NAME":              s.Pod,
		"INSTANCE_IPS":      s.IP,
		"SERVICE_ACCOUNT":   s.ServiceAccount,
		"WORKLOAD_NAME":     s.Workload,
		"LABELS":            labels,
		"ISTIO_VERSION":     s.IstioVersion,
		"INTERCEPTION_MODE": "REDIRECT",
	})
	if err != nil {
		return nil, err
	}
	return &corev3.Node{Id: s.ID(), Cluster: s.Workload + "." + s.Namespace, Metadata: meta}, nil
}

// Client is one ADS stream to istiod.
type Client struct {
	conn   *grpc.ClientConn
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
	cancel context.CancelFunc
}

// Dial opens an ADS stream to istiod's plaintext xDS address (host:15010).
func Dial(ctx context.Context, addr string, s Sidecar) (*Client, error) {
	node, err := s.node()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, fmt.Errorf("ADS stream to %s: %w", addr, err)
	}
	return &Client{conn: conn, stream: stream, node: node, cancel: cancel}, nil
}

// Close ends the stream.
func (c *Client) Close() error {
	c.cancel()
	return c.conn.Close()
}

// request sends a request for typeURL (names empty: every resource) and
// returns the first response of that type, which it ACKs, as Envoy does.
func (c *Client) request(ctx context.Context, typeURL string, names []string) (*discoveryv3.DiscoveryResponse, error) {
	if err := c.stream.Send(&discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		return nil, err
	}
	type result struct {
		r   *discoveryv3.DiscoveryResponse
		err error
	}
	ch := make(chan result, 1)
	go func() {
		for {
			r, err := c.stream.Recv()
			if err != nil || r.TypeUrl == typeURL {
				ch <- result{r, err}
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("no %s response: %w", typeURL, ctx.Err())
	case res := <-ch:
		if res.err != nil {
			return nil, fmt.Errorf("%s: %w", typeURL, res.err)
		}
		ack := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names,
			VersionInfo: res.r.VersionInfo, ResponseNonce: res.r.Nonce}
		if err := c.stream.Send(ack); err != nil {
			return nil, err
		}
		return res.r, nil
	}
}

// Clusters asks for every cluster (CDS), by name.
func (c *Client) Clusters(ctx context.Context) (map[string]*clusterv3.Cluster, error) {
	r, err := c.request(ctx, ClusterType, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]*clusterv3.Cluster{}
	for _, a := range r.Resources {
		cl := &clusterv3.Cluster{}
		if err := a.UnmarshalTo(cl); err != nil {
			return nil, err
		}
		out[cl.Name] = cl
	}
	return out, nil
}

// Endpoints asks for the endpoints (EDS) of clusters, by cluster name.
// Call Clusters first: istiod, like Envoy, expects EDS after CDS.
func (c *Client) Endpoints(ctx context.Context, clusters ...string) (map[string]*endpointv3.ClusterLoadAssignment, error) {
	r, err := c.request(ctx, EndpointType, clusters)
	if err != nil {
		return nil, err
	}
	out := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, a := range r.Resources {
		cla := &endpointv3.ClusterLoadAssignment{}
		if err := a.UnmarshalTo(cla); err != nil {
			return nil, err
		}
		out[cla.ClusterName] = cla
	}
	return out, nil
}

// Endpoint is one endpoint of a ClusterLoadAssignment, flattened.
type Endpoint struct {
	Address  string // host:port
	Weight   uint32
	Locality string // region/zone/subzone
	Priority uint32
	Healthy  bool
}

func (e Endpoint) String() string {
	return fmt.Sprintf("%s weight %d locality %s priority %d", e.Address, e.Weight, e.Locality, e.Priority)
}

// Flatten lists a ClusterLoadAssignment's endpoints, sorted by address and
// locality.
func Flatten(cla *endpointv3.ClusterLoadAssignment) []Endpoint {
	var out []Endpoint
	for _, l := range cla.GetEndpoints() {
		loc := strings.Join([]string{l.GetLocality().GetRegion(), l.GetLocality().GetZone(), l.GetLocality().GetSubZone()}, "/")
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			w := e.GetLoadBalancingWeight().GetValue()
			out = append(out, Endpoint{
				Address:  fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()),
				Weight:   w,
				Locality: loc,
				Priority: l.GetPriority(),
				Healthy:  e.GetHealthStatus() == corev3.HealthStatus_HEALTHY || e.GetHealthStatus() == corev3.HealthStatus_UNKNOWN,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Address != out[j].Address {
			return out[i].Address < out[j].Address
		}
		return out[i].Locality < out[j].Locality
	})
	return out
}

// DefaultTimeout bounds one request in tests.
const DefaultTimeout = 20 * time.Second

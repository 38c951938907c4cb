// Package xds asks istiod what it would send a sidecar: an ADS client
// (go-control-plane's discovery types over gRPC) that presents itself with
// the node ID and metadata an injected istio-proxy sends and asks for the
// endpoints (EDS) of clusters named the way istiod names a sidecar's
// outbound clusters. It reaches istiod through a connection the caller
// dials (a port-forward to istiod's plaintext xDS port, 15010), so it holds
// no address of its own.
//
// Only EDS is linked: istiod answers an EDS request for any cluster name it
// can parse (pilot/pkg/xds/eds.go buildEndpoints builds a
// ClusterLoadAssignment per requested name, CDS first or not), and CDS's
// types (envoy/config/cluster/v3 and what it imports) would cost the binary
// megabytes for a name we can compute (OutboundCluster).
package xds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

// EndpointType is the type URL of EDS's resources.
const EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

// Port is istiod's plaintext xDS port inside its pod (--grpcAddr=:15010 in
// Istio's chart), which istioctl's proxy-status and the xDS debug clients use.
const Port = 15010

// OutboundCluster is the name istiod gives a sidecar's outbound cluster of a
// service port: outbound|<port>|<subset>|<host> (pilot/pkg/model/service.go
// BuildSubsetKey), with no subset.
func OutboundCluster(host string, port int32) string {
	return fmt.Sprintf("outbound|%d||%s", port, host)
}

// Sidecar is who the client claims to be: the istio-proxy of a pod in a
// cluster, with what its bootstrap puts in the node (istio's
// pkg/model/proxy.go NodeMetadata). istiod looks the proxy up by its IP in
// its registry: a real pod's IP gives it that pod's labels and its node's
// locality, as the pod's own sidecar would get; with no pod behind the IP
// it takes Labels and Locality from here.
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
	// Locality is region/zone/subzone, sent in the node for a proxy istiod
	// cannot find in its registry (pilot/pkg/xds/ads.go setTopologyLabels).
	Locality string
}

// ID is the node ID istio-proxy sends: sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local.
func (s Sidecar) ID() string {
	return fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", s.IP, s.Pod, s.Namespace, s.Namespace)
}

// Node is the Envoy node the client sends.
func (s Sidecar) Node() (*corev3.Node, error) {
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
	n := &corev3.Node{Id: s.ID(), Cluster: s.Workload + "." + s.Namespace, Metadata: meta}
	if s.Locality != "" {
		parts := append(strings.SplitN(s.Locality, "/", 3), "", "")
		n.Locality = &corev3.Locality{Region: parts[0], Zone: parts[1], SubZone: parts[2]}
	}
	return n, nil
}

// Dialer opens the connection to istiod's plaintext xDS port.
type Dialer func(ctx context.Context) (net.Conn, error)

// Client is one ADS stream to istiod.
type Client struct {
	conn   *grpc.ClientConn
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
	cancel context.CancelFunc
}

// Dial opens an ADS stream over the connection dial makes. The stream
// lives until Close or until ctx ends.
func Dial(ctx context.Context, dial Dialer, s Sidecar) (*Client, error) {
	node, err := s.Node()
	if err != nil {
		return nil, err
	}
	// passthrough: the target is not resolved; every connection is dial's.
	conn, err := grpc.NewClient("passthrough:///istiod",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dial(ctx) }))
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		cancel()
		_ = conn.Close()
		return nil, fmt.Errorf("opening the ADS stream: %w", err)
	}
	return &Client{conn: conn, stream: stream, node: node, cancel: cancel}, nil
}

// Close ends the stream and its connection.
func (c *Client) Close() error {
	c.cancel()
	return c.conn.Close()
}

// Request sends a request for typeURL (names empty: every resource) and
// returns the first response of that type, which it ACKs, as Envoy does.
// Responses of other types (istiod may push what it pushes) are skipped.
func (c *Client) Request(ctx context.Context, typeURL string, names []string) (*discoveryv3.DiscoveryResponse, error) {
	if err := c.stream.Send(&discoveryv3.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		return nil, fmt.Errorf("sending the %s request: %w", shortType(typeURL), err)
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
		return nil, fmt.Errorf("no %s answer: %w", shortType(typeURL), ctx.Err())
	case res := <-ch:
		if res.err != nil {
			return nil, fmt.Errorf("%s: %w", shortType(typeURL), res.err)
		}
		ack := &discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names,
			VersionInfo: res.r.VersionInfo, ResponseNonce: res.r.Nonce}
		if err := c.stream.Send(ack); err != nil {
			return nil, fmt.Errorf("acknowledging the %s answer: %w", shortType(typeURL), err)
		}
		return res.r, nil
	}
}

func shortType(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}

// Endpoints asks for the endpoints (EDS) of clusters, by cluster name. A
// name istiod sends nothing for is absent from the map.
func (c *Client) Endpoints(ctx context.Context, clusters ...string) (map[string]*endpointv3.ClusterLoadAssignment, error) {
	if len(clusters) == 0 {
		return nil, errors.New("no cluster to ask the endpoints of")
	}
	r, err := c.Request(ctx, EndpointType, clusters)
	if err != nil {
		return nil, err
	}
	out := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, a := range r.Resources {
		cla := &endpointv3.ClusterLoadAssignment{}
		if err := a.UnmarshalTo(cla); err != nil {
			return nil, fmt.Errorf("decoding a ClusterLoadAssignment: %w", err)
		}
		out[cla.ClusterName] = cla
	}
	return out, nil
}

// Endpoint is one endpoint of a ClusterLoadAssignment, flattened.
type Endpoint struct {
	Address  string // IP or host name
	Port     uint32
	Weight   uint32 // the endpoint's load-balancing weight
	Locality string // region/zone/subzone
	Priority uint32
	// Health is Envoy's health status as istiod sets it: HEALTHY,
	// UNHEALTHY, DRAINING or UNKNOWN.
	Health string
}

// HostPort is address:port.
func (e Endpoint) HostPort() string {
	return net.JoinHostPort(e.Address, strconv.FormatUint(uint64(e.Port), 10))
}

// Healthy: Envoy routes to it (HEALTHY, or UNKNOWN, which Envoy treats as
// healthy).
func (e Endpoint) Healthy() bool { return e.Health == "HEALTHY" || e.Health == "UNKNOWN" }

// Flatten lists a ClusterLoadAssignment's endpoints, sorted by address,
// port and locality.
func Flatten(cla *endpointv3.ClusterLoadAssignment) []Endpoint {
	var out []Endpoint
	for _, l := range cla.GetEndpoints() {
		loc := strings.Join([]string{l.GetLocality().GetRegion(), l.GetLocality().GetZone(), l.GetLocality().GetSubZone()}, "/")
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, Endpoint{
				Address:  sa.GetAddress(),
				Port:     sa.GetPortValue(),
				Weight:   e.GetLoadBalancingWeight().GetValue(),
				Locality: loc,
				Priority: l.GetPriority(),
				Health:   e.GetHealthStatus().String(),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Address != out[j].Address {
			return out[i].Address < out[j].Address
		}
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return out[i].Locality < out[j].Locality
	})
	return out
}

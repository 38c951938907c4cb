// Package xds asks istiod what it would send a sidecar: an ADS client that
// presents itself with the node ID and metadata an injected istio-proxy
// sends and asks for the endpoints (EDS) of clusters named the way istiod
// names a sidecar's outbound clusters. It reaches istiod through a
// connection the caller dials (a port-forward to istiod's plaintext xDS
// port, 15010), so it holds no address of its own.
//
// Only EDS is asked for: istiod answers an EDS request for any cluster name
// it can parse (pilot/pkg/xds/eds.go buildEndpoints builds a
// ClusterLoadAssignment per requested name, CDS first or not), and the
// cluster names are computed (OutboundCluster).
//
// What it links is chosen for the plugin's budget (issue #14: a release
// binary of at most 30 MB, `kubectl meshfed version` at most 25 MB of peak
// RSS). On go-control-plane's types and grpc-go this package made the
// binary 30.58 MB and `version` 25.3 MB (the branch with this package
// stubbed out: 28.35 MB, 23.7 MB). Nearly all of it was their ~40 packages
// with init work (gRPC registers its balancers, resolvers and channelz;
// Envoy's core/v3, type, matcher, cncf xds, validate and annotations
// register their file descriptors in the protobuf registry), each init
// faulting in the pages around it: most of the RSS is the binary's own
// pages. Importing EDS's types alone still links gRPC
// (envoy/service/discovery/v3 holds ads_grpc.pb.go). So:
//   - the messages are xdspb's: the fields of Envoy's DiscoveryRequest,
//     DiscoveryResponse, Node and ClusterLoadAssignment (and what it holds)
//     that this package sends or reads, with Envoy's field numbers and
//     types, under the proto package meshfed.xds.v1 (TestWireEqual* hold
//     them equal to go-control-plane's on the wire);
//   - the transport is connectrpc.com/connect's generic client speaking
//     gRPC over net/http's unencrypted HTTP/2 (the plugin links net/http
//     already, for client-go), on the connection the caller dials.
//
// The binary is then 28.79 MB and `version` 23.9 MB, 0.44 MB and ~0.3 MB
// over no xDS client at all. TestImportDiet (pkg/kube) keeps grpc-go and
// Envoy's generated API out.
package xds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshfed/kubectl-meshfed/pkg/xds/xdspb"
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
	// Type is the proxy type of the node ID: "sidecar" when empty, or
	// "router" for a gateway's istio-proxy (pilot/pkg/model/context.go,
	// NodeType), which istiod gives the listeners of the Gateways that
	// select it.
	Type string
}

// ID is the node ID istio-proxy sends: <type>~<ip>~<pod>.<ns>~<ns>.svc.cluster.local.
func (s Sidecar) ID() string {
	typ := s.Type
	if typ == "" {
		typ = "sidecar"
	}
	return fmt.Sprintf("%s~%s~%s.%s~%s.svc.cluster.local", typ, s.IP, s.Pod, s.Namespace, s.Namespace)
}

// Node is the Envoy node (envoy.config.core.v3.Node) the client sends.
func (s Sidecar) Node() (*xdspb.Node, error) {
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
	n := &xdspb.Node{Id: s.ID(), Cluster: s.Workload + "." + s.Namespace, Metadata: meta}
	if s.Locality != "" {
		parts := append(strings.SplitN(s.Locality, "/", 3), "", "")
		n.Locality = &xdspb.Locality{Region: parts[0], Zone: parts[1], SubZone: parts[2]}
	}
	return n, nil
}

// Dialer opens the connection to istiod's plaintext xDS port.
type Dialer func(ctx context.Context) (net.Conn, error)

// adsProcedure is the ADS method (envoy.service.discovery.v3's
// AggregatedDiscoveryService.StreamAggregatedResources), as gRPC names it
// in the request's path.
const adsProcedure = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

// Client is one ADS stream to istiod.
type Client struct {
	transport *http.Transport
	stream    *connect.BidiStreamForClient[xdspb.DiscoveryRequest, xdspb.DiscoveryResponse]
	node      *xdspb.Node
	cancel    context.CancelFunc
}

// Dial opens an ADS stream over the connection dial makes. The stream
// lives until Close or until ctx ends.
func Dial(ctx context.Context, dial Dialer, s Sidecar) (*Client, error) {
	node, err := s.Node()
	if err != nil {
		return nil, err
	}
	// gRPC is HTTP/2; istiod's 15010 is plaintext, so HTTP/2 with prior
	// knowledge (no HTTP/1 upgrade), on dial's connection whatever the
	// URL's host. No proxy: the connection is the port-forward.
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	transport := &http.Transport{
		Protocols:   &protocols,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
	}
	ads := connect.NewClient[xdspb.DiscoveryRequest, xdspb.DiscoveryResponse](
		&http.Client{Transport: transport}, "http://istiod"+adsProcedure, connect.WithGRPC())
	sctx, cancel := context.WithCancel(ctx)
	stream := ads.CallBidiStream(sctx)
	// Send the request's headers now, opening the stream, as gRPC's
	// NewStream does.
	if err := stream.Send(nil); err != nil {
		cancel()
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("opening the ADS stream: %w", err)
	}
	return &Client{transport: transport, stream: stream, node: node, cancel: cancel}, nil
}

// Close ends the stream and its connection.
func (c *Client) Close() error {
	c.cancel()
	err := c.stream.CloseRequest()
	_ = c.stream.CloseResponse()
	c.transport.CloseIdleConnections()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Request sends a request for typeURL (names empty: every resource) and
// returns the first response of that type, which it ACKs, as Envoy does.
// Responses of other types (istiod may push what it pushes) are skipped.
func (c *Client) Request(ctx context.Context, typeURL string, names []string) (*xdspb.DiscoveryResponse, error) {
	if err := c.send(&xdspb.DiscoveryRequest{Node: c.node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		return nil, fmt.Errorf("sending the %s request: %w", shortType(typeURL), err)
	}
	type result struct {
		r   *xdspb.DiscoveryResponse
		err error
	}
	ch := make(chan result, 1)
	go func() {
		for {
			r, err := c.stream.Receive()
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
		ack := &xdspb.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names,
			VersionInfo: res.r.VersionInfo, ResponseNonce: res.r.Nonce}
		if err := c.send(ack); err != nil {
			return nil, fmt.Errorf("acknowledging the %s answer: %w", shortType(typeURL), err)
		}
		return res.r, nil
	}
}

// send sends r. When the stream has ended, connect's Send says only
// io.EOF; the reason (a dial error, the server's status) is what Receive
// returns then.
func (c *Client) send(r *xdspb.DiscoveryRequest) error {
	err := c.stream.Send(r)
	if !errors.Is(err, io.EOF) {
		return err
	}
	if _, rerr := c.stream.Receive(); rerr != nil && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	return err
}

func shortType(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}

// Endpoints asks for the endpoints (EDS) of clusters, by cluster name. A
// name istiod sends nothing for is absent from the map.
func (c *Client) Endpoints(ctx context.Context, clusters ...string) (map[string]*xdspb.ClusterLoadAssignment, error) {
	if len(clusters) == 0 {
		return nil, errors.New("no cluster to ask the endpoints of")
	}
	r, err := c.Request(ctx, EndpointType, clusters)
	if err != nil {
		return nil, err
	}
	out := map[string]*xdspb.ClusterLoadAssignment{}
	for _, a := range r.Resources {
		// xdspb's message is Envoy's under another name: decode the
		// value once the type is the one asked for.
		if a.GetTypeUrl() != EndpointType {
			return nil, fmt.Errorf("decoding a ClusterLoadAssignment: the resource is a %s", a.GetTypeUrl())
		}
		cla := &xdspb.ClusterLoadAssignment{}
		if err := proto.Unmarshal(a.GetValue(), cla); err != nil {
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
func Flatten(cla *xdspb.ClusterLoadAssignment) []Endpoint {
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

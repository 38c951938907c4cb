package xds

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fakeIstiod is an ADS server on grpc-go and go-control-plane's types, as
// istiod is: it pushes a response of another type first (istiod pushes
// what it pushes), then answers the EDS request with one
// ClusterLoadAssignment per name, and reports what the client sent.
type fakeIstiod struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	requests chan *discoveryv3.DiscoveryRequest
	refuse   bool
}

func (s *fakeIstiod) StreamAggregatedResources(stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	if s.refuse {
		return status.Error(codes.PermissionDenied, "authentication failure")
	}
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	s.requests <- req
	if err := stream.Send(&discoveryv3.DiscoveryResponse{TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster", Nonce: "cds"}); err != nil {
		return err
	}
	resp := &discoveryv3.DiscoveryResponse{TypeUrl: req.TypeUrl, VersionInfo: "v7", Nonce: "eds"}
	for _, name := range req.ResourceNames {
		a, err := anypb.New(&endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			Locality: &corev3.Locality{Region: "r", Zone: "z"},
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: "10.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080}}}}}},
				HealthStatus:        corev3.HealthStatus_HEALTHY,
				LoadBalancingWeight: wrapperspb.UInt32(1),
			}},
		}}})
		if err != nil {
			return err
		}
		resp.Resources = append(resp.Resources, a)
	}
	if err := stream.Send(resp); err != nil {
		return err
	}
	ack, err := stream.Recv()
	if err != nil {
		return err
	}
	s.requests <- ack
	<-stream.Context().Done()
	return nil
}

func serve(t *testing.T, s *fakeIstiod) Dialer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, s)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}
}

// TestEndpointsFromAGRPCServer: the client speaks gRPC as grpc-go serves
// it (istiod's server): the request carries the node, a push of another
// type is skipped, the EDS answer is decoded and ACKed with its version
// and nonce.
func TestEndpointsFromAGRPCServer(t *testing.T) {
	s := &fakeIstiod{requests: make(chan *discoveryv3.DiscoveryRequest, 2)}
	dial := serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	me := Sidecar{Cluster: "east", Network: "n1", Namespace: "sample", Pod: "p", IP: "10.0.0.9", Workload: "w", Locality: "r/z/s"}
	c, err := Dial(ctx, dial, me)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{OutboundCluster("a.sample.svc.cluster.local", 80), OutboundCluster("b.sample.svc.cluster.local", 81)}
	got, err := c.Endpoints(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		eps := Flatten(got[n])
		if len(eps) != 1 || eps[0] != (Endpoint{Address: "10.0.0.1", Port: 8080, Weight: 1, Locality: "r/z/", Health: "HEALTHY"}) {
			t.Errorf("%s: %+v", n, eps)
		}
	}
	req, ack := <-s.requests, <-s.requests
	if req.GetNode().GetId() != me.ID() || req.GetNode().GetMetadata().GetFields()["CLUSTER_ID"].GetStringValue() != "east" ||
		req.GetNode().GetLocality().GetSubZone() != "s" || req.GetTypeUrl() != EndpointType || len(req.GetResourceNames()) != 2 {
		t.Errorf("request %v", req)
	}
	if ack.GetResponseNonce() != "eds" || ack.GetVersionInfo() != "v7" || ack.GetTypeUrl() != EndpointType || ack.GetNode() != nil {
		t.Errorf("ACK %v", ack)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestServerErrorIsAnError: a gRPC status from the server is an error
// that says what the server said, not an empty answer.
func TestServerErrorIsAnError(t *testing.T) {
	dial := serve(t, &fakeIstiod{refuse: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, dial, Sidecar{Namespace: "sample", Pod: "p", IP: "10.0.0.9"})
	if err == nil {
		defer c.Close()
		_, err = c.Endpoints(ctx, "outbound|80||a.sample.svc.cluster.local")
	}
	if err == nil || !strings.Contains(err.Error(), "authentication failure") {
		t.Errorf("err = %v", err)
	}
	t.Logf("server error: %v", err)
}

// TestNothingListening: a refused connection is an error naming it.
func TestNothingListening(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dial := func(ctx context.Context) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errRefused}
	}
	c, err := Dial(ctx, dial, Sidecar{Namespace: "sample", Pod: "p", IP: "10.0.0.9"})
	if err == nil {
		defer c.Close()
		_, err = c.Endpoints(ctx, "outbound|80||a.sample.svc.cluster.local")
	}
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v", err)
	}
	t.Logf("nothing listening: %v", err)
}

type refusedError struct{}

func (refusedError) Error() string { return "connection refused" }

var errRefused error = refusedError{}

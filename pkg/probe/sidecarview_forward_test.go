package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"k8s.io/client-go/rest"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// adsServer answers EDS requests as istiod does: one ClusterLoadAssignment
// per requested name, and records the node it was sent.
type adsServer struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	nodes chan *corev3.Node
}

func (s *adsServer) StreamAggregatedResources(stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	s.nodes <- req.GetNode()
	resp := &discoveryv3.DiscoveryResponse{TypeUrl: req.TypeUrl, VersionInfo: "1", Nonce: "n1"}
	for _, name := range req.ResourceNames {
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			Locality: &corev3.Locality{Region: "us-west-2", Zone: "us-west-2a"}, Priority: 1,
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: "192.0.2.2", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 15443}}}}}},
				HealthStatus:        corev3.HealthStatus_HEALTHY,
				LoadBalancingWeight: wrapperspb.UInt32(3),
			}},
		}}}
		a, err := anypb.New(cla)
		if err != nil {
			return err
		}
		resp.Resources = append(resp.Resources, a)
	}
	if err := stream.Send(resp); err != nil {
		return err
	}
	ack, err := stream.Recv() // Envoy's ACK
	if err != nil {
		return err
	}
	if ack.ResponseNonce != "n1" {
		return errors.New("no ACK")
	}
	<-stream.Context().Done()
	return nil
}

// pipeTo forwards a port-forward stream to a local listener, as a
// container runtime forwards to the pod's port.
type pipeTo string

func (p pipeTo) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port != 15010 {
		return errors.New("nothing listens on that port")
	}
	conn, err := net.Dial("tcp", string(p))
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() { _, _ = io.Copy(conn, stream) }()
	_, _ = io.Copy(stream, conn)
	return nil
}

// TestSidecarViewsThroughAPortForward: the EDS request travels as gRPC on
// a pods/portforward stream (Kubernetes' own kubelet implementation on the
// far side) to the istiod pod's 15010, presents the sidecar's cluster,
// network and namespace, and the answer becomes the view, endpoint by
// endpoint; a pod with nothing on 15010 gives an error with the kubelet's
// reason, not a pass.
func TestSidecarViewsThroughAPortForward(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ads := &adsServer{nodes: make(chan *corev3.Node, 4)}
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, ads)
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()

	k := kubelet{"istiod-a": pipeTo(ln.Addr().String()), "istiod-z": refuses{}}
	srv := httptest.NewTLSServer(k)
	defer srv.Close()
	cl, err := kube.NewClient(&rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	f := credFleet(nil)
	east := f.Clusters[0]
	east.Pods = []model.Workload{istiodPod("istiod-a", nil, "Running")}
	ask := SidecarAsk{Context: "east", Namespace: "sample", Services: []ServicePorts{{Service: model.Meta{Namespace: "sample", Name: "helloworld"}, Ports: []int32{5000, 5001}}}}
	// The run's shared connections, as the doctor asks.
	forwards := NewForwards()
	defer forwards.Close()
	opts := Options{Timeout: 10 * time.Second, Forwards: forwards, Client: func(string) (*kube.Client, error) { return cl, nil }}
	views := SidecarViews(context.Background(), f, opts, []SidecarAsk{ask})
	if len(views) != 2 {
		t.Fatalf("views %+v", views)
	}
	for _, v := range views {
		if !v.Read() || len(v.Endpoints) != 1 {
			t.Fatalf("view %+v", v)
		}
		e := v.Endpoints[0]
		if e.Address != "192.0.2.2" || e.Port != 15443 || e.Locality != "us-west-2/us-west-2a/" || e.Priority != 1 || e.Weight != 3 || e.Health != "HEALTHY" {
			t.Errorf("endpoint %+v", e)
		}
		if !strings.HasPrefix(v.Istiod, "port-forward to istio-system/istiod-a:15010") || v.Cluster != "outbound|"+map[int32]string{5000: "5000", 5001: "5001"}[v.Port]+"||helloworld.sample.svc.cluster.local" {
			t.Errorf("view %+v", v)
		}
	}
	node := <-ads.nodes
	meta := node.GetMetadata().GetFields()
	if meta["CLUSTER_ID"].GetStringValue() != views[0].ClusterID || meta["NAMESPACE"].GetStringValue() != "sample" || !strings.HasPrefix(node.GetId(), "sidecar~") {
		t.Errorf("node %v", node)
	}

	east.Pods = []model.Workload{istiodPod("istiod-z", nil, "Running")}
	opts.Timeout = 3 * time.Second
	views = SidecarViews(context.Background(), f, opts, []SidecarAsk{ask})
	if len(views) != 2 || views[0].Read() || !strings.Contains(views[0].Error, "connection refused") {
		t.Errorf("a pod with nothing on 15010: %+v", views)
	}
	t.Logf("nothing on 15010: %s", views[0].Error)
}

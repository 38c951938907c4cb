package xds

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshfed/kubectl-meshfed/pkg/xds/xdspb"
)

// envoyName is the Envoy message or enum an xdspb one stands for.
var envoyName = map[protoreflect.FullName]protoreflect.FullName{
	"meshfed.xds.v1.DiscoveryRequest":      "envoy.service.discovery.v3.DiscoveryRequest",
	"meshfed.xds.v1.DiscoveryResponse":     "envoy.service.discovery.v3.DiscoveryResponse",
	"meshfed.xds.v1.Node":                  "envoy.config.core.v3.Node",
	"meshfed.xds.v1.Locality":              "envoy.config.core.v3.Locality",
	"meshfed.xds.v1.HealthStatus":          "envoy.config.core.v3.HealthStatus",
	"meshfed.xds.v1.Address":               "envoy.config.core.v3.Address",
	"meshfed.xds.v1.SocketAddress":         "envoy.config.core.v3.SocketAddress",
	"meshfed.xds.v1.ClusterLoadAssignment": "envoy.config.endpoint.v3.ClusterLoadAssignment",
	"meshfed.xds.v1.LocalityLbEndpoints":   "envoy.config.endpoint.v3.LocalityLbEndpoints",
	"meshfed.xds.v1.LbEndpoint":            "envoy.config.endpoint.v3.LbEndpoint",
	"meshfed.xds.v1.Endpoint":              "envoy.config.endpoint.v3.Endpoint",
}

// asEnvoy is the name a type of xdspb has in Envoy's API (well-known types
// keep theirs).
func asEnvoy(n protoreflect.FullName) protoreflect.FullName {
	if e, ok := envoyName[n]; ok {
		return e
	}
	return n
}

// TestWireEqualDescriptors: every message and enum of xdspb is one of
// go-control-plane's, field by field: each field has the number, name,
// kind, cardinality, oneof and (mapped) type of Envoy's field of that
// number, and the enum every value of Envoy's.
func TestWireEqualDescriptors(t *testing.T) {
	fd := xdspb.File_meshfed_xds_v1_xds_proto
	if got, want := fd.Messages().Len()+fd.Enums().Len(), len(envoyName); got != want {
		t.Errorf("xdspb has %d messages and enums, the test maps %d", got, want)
	}
	for i := 0; i < fd.Enums().Len(); i++ {
		ours := fd.Enums().Get(i)
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(envoyName[ours.FullName()])
		if err != nil {
			t.Fatalf("%s: %v", ours.FullName(), err)
		}
		theirs := d.(protoreflect.EnumDescriptor)
		if ours.Values().Len() != theirs.Values().Len() {
			t.Errorf("%s has %d values, Envoy's %d", ours.FullName(), ours.Values().Len(), theirs.Values().Len())
		}
		for j := 0; j < theirs.Values().Len(); j++ {
			v := theirs.Values().Get(j)
			if o := ours.Values().ByNumber(v.Number()); o == nil || o.Name() != v.Name() {
				t.Errorf("%s: Envoy's %s = %d is not ours", ours.FullName(), v.Name(), v.Number())
			}
		}
	}
	for i := 0; i < fd.Messages().Len(); i++ {
		ours := fd.Messages().Get(i)
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(envoyName[ours.FullName()])
		if err != nil {
			t.Fatalf("%s: %v", ours.FullName(), err)
		}
		theirs := d.(protoreflect.MessageDescriptor)
		for j := 0; j < ours.Fields().Len(); j++ {
			f := ours.Fields().Get(j)
			e := theirs.Fields().ByNumber(f.Number())
			if e == nil {
				t.Errorf("%s: Envoy's %s has no field %d", f.FullName(), theirs.FullName(), f.Number())
				continue
			}
			if f.Name() != e.Name() || f.Kind() != e.Kind() || f.Cardinality() != e.Cardinality() || f.IsPacked() != e.IsPacked() {
				t.Errorf("%s (%d %v %v) is not Envoy's %s (%d %v %v)", f.FullName(), f.Number(), f.Cardinality(), f.Kind(),
					e.FullName(), e.Number(), e.Cardinality(), e.Kind())
			}
			if (f.ContainingOneof() == nil) != (e.ContainingOneof() == nil) ||
				(f.ContainingOneof() != nil && f.ContainingOneof().Name() != e.ContainingOneof().Name()) {
				t.Errorf("%s: oneof differs from Envoy's %s", f.FullName(), e.FullName())
			}
			switch {
			case f.Message() != nil && asEnvoy(f.Message().FullName()) != e.Message().FullName():
				t.Errorf("%s is a %s, Envoy's a %s", f.FullName(), f.Message().FullName(), e.Message().FullName())
			case f.Enum() != nil && asEnvoy(f.Enum().FullName()) != e.Enum().FullName():
				t.Errorf("%s is a %s, Envoy's a %s", f.FullName(), f.Enum().FullName(), e.Enum().FullName())
			}
		}
	}
}

// envoyNode is the node the client sent when it was built on
// go-control-plane's types (Sidecar.Node before xdspb).
func envoyNode(t *testing.T, s Sidecar) *corev3.Node {
	t.Helper()
	labels := map[string]any{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	meta, err := structpb.NewStruct(map[string]any{
		"CLUSTER_ID": s.Cluster, "NETWORK": s.Network, "MESH_ID": s.MeshID, "NAMESPACE": s.Namespace,
		"NAME": s.Pod, "INSTANCE_IPS": s.IP, "SERVICE_ACCOUNT": s.ServiceAccount, "WORKLOAD_NAME": s.Workload,
		"LABELS": labels, "ISTIO_VERSION": s.IstioVersion, "INTERCEPTION_MODE": "REDIRECT",
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &corev3.Node{Id: s.ID(), Cluster: s.Workload + "." + s.Namespace, Metadata: meta}
	if s.Locality != "" {
		parts := append(strings.SplitN(s.Locality, "/", 3), "", "")
		n.Locality = &corev3.Locality{Region: parts[0], Zone: parts[1], SubZone: parts[2]}
	}
	return n
}

// TestWireEqualRequest: the requests the client sends (the first, with
// the node, and the ACK) are, decoded as go-control-plane's
// DiscoveryRequest, the requests it sent on go-control-plane's types; and
// Envoy's request decodes into xdspb's with the same fields.
func TestWireEqualRequest(t *testing.T) {
	for _, s := range []Sidecar{
		{Cluster: "east", Network: "network1", MeshID: "mesh1", Namespace: "sample", Pod: "helloworld-v1-abc", IP: "10.1.0.7",
			ServiceAccount: "helloworld", Workload: "helloworld-v1", Labels: map[string]string{"app": "helloworld", "version": "v1"},
			IstioVersion: "1.31.0", Locality: "us-east-1/us-east-1a"},
		{Cluster: "west", Namespace: "sample", Pod: "meshfed-sidecar-view", IP: "0.0.0.0", ServiceAccount: "default", Workload: "meshfed-sidecar-view"},
	} {
		node, err := s.Node()
		if err != nil {
			t.Fatal(err)
		}
		names := []string{OutboundCluster("helloworld.sample.svc.cluster.local", 5000), OutboundCluster("db.sample.svc.cluster.local", 5432)}
		sent := []*xdspb.DiscoveryRequest{
			{Node: node, TypeUrl: EndpointType, ResourceNames: names},
			{TypeUrl: EndpointType, ResourceNames: names, VersionInfo: "2026-12-03T17:00:00Z/7", ResponseNonce: "f6a1"},
		}
		want := []*discoveryv3.DiscoveryRequest{
			{Node: envoyNode(t, s), TypeUrl: EndpointType, ResourceNames: names},
			{TypeUrl: EndpointType, ResourceNames: names, VersionInfo: "2026-12-03T17:00:00Z/7", ResponseNonce: "f6a1"},
		}
		for i := range sent {
			b, err := proto.Marshal(sent[i])
			if err != nil {
				t.Fatal(err)
			}
			got := &discoveryv3.DiscoveryRequest{}
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatal(err)
			}
			if len(got.ProtoReflect().GetUnknown()) > 0 || !proto.Equal(got, want[i]) {
				t.Errorf("sent\n%v\nEnvoy reads\n%v\nwant\n%v", sent[i], got, want[i])
			}

			b, err = proto.Marshal(want[i])
			if err != nil {
				t.Fatal(err)
			}
			back := &xdspb.DiscoveryRequest{}
			if err := proto.Unmarshal(b, back); err != nil {
				t.Fatal(err)
			}
			if len(back.ProtoReflect().GetUnknown()) > 0 || back.GetVersionInfo() != want[i].GetVersionInfo() || back.GetTypeUrl() != want[i].GetTypeUrl() ||
				back.GetResponseNonce() != want[i].GetResponseNonce() || strings.Join(back.GetResourceNames(), ",") != strings.Join(want[i].GetResourceNames(), ",") ||
				back.GetNode().GetId() != want[i].GetNode().GetId() || back.GetNode().GetCluster() != want[i].GetNode().GetCluster() ||
				!proto.Equal(back.GetNode().GetMetadata(), want[i].GetNode().GetMetadata()) ||
				back.GetNode().GetLocality().GetRegion() != want[i].GetNode().GetLocality().GetRegion() ||
				back.GetNode().GetLocality().GetZone() != want[i].GetNode().GetLocality().GetZone() ||
				back.GetNode().GetLocality().GetSubZone() != want[i].GetNode().GetLocality().GetSubZone() {
				t.Errorf("Envoy's\n%v\nreads as\n%v", want[i], back)
			}
		}
	}
}

// envoyAssignment is what istiod sends for a cluster, with fields xdspb
// leaves out (which must pass through untouched) next to those it reads.
func envoyAssignment() *endpointv3.ClusterLoadAssignment {
	ep := func(addr string, port uint32, health corev3.HealthStatus, weight uint32) *endpointv3.LbEndpoint {
		return &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
				Hostname: "helloworld-v1",
			}},
			HealthStatus:        health,
			LoadBalancingWeight: wrapperspb.UInt32(weight),
			Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"istio": {Fields: map[string]*structpb.Value{
				"workload": structpb.NewStringValue("helloworld-v1;sample;helloworld;v1;east")}}}},
		}
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: "outbound|5000||helloworld.sample.svc.cluster.local",
		Endpoints: []*endpointv3.LocalityLbEndpoints{
			{
				Locality:            &corev3.Locality{Region: "us-east-1", Zone: "us-east-1a"},
				LbEndpoints:         []*endpointv3.LbEndpoint{ep("10.1.0.7", 5000, corev3.HealthStatus_HEALTHY, 1), ep("10.1.0.8", 5000, corev3.HealthStatus_UNHEALTHY, 1)},
				LoadBalancingWeight: wrapperspb.UInt32(2),
			},
			{
				Locality:            &corev3.Locality{Region: "us-west-2", Zone: "us-west-2b", SubZone: "rack7"},
				LbEndpoints:         []*endpointv3.LbEndpoint{ep("192.0.2.2", 15443, corev3.HealthStatus_DRAINING, 3), ep("192.0.2.3", 15443, corev3.HealthStatus_UNKNOWN, 0)},
				LoadBalancingWeight: wrapperspb.UInt32(6),
				Priority:            1,
				Proximity:           wrapperspb.UInt32(4),
			},
		},
		Policy: &endpointv3.ClusterLoadAssignment_Policy{OverprovisioningFactor: wrapperspb.UInt32(140), EndpointStaleAfter: durationpb.New(0)},
	}
}

// TestWireEqualResponse: Envoy's DiscoveryResponse and
// ClusterLoadAssignment (what istiod sends) decode into xdspb's with the
// same values, field by field; what xdspb leaves out is kept, so that
// encoding the decoded message again gives Envoy's message back; and
// Flatten reads what Envoy would.
func TestWireEqualResponse(t *testing.T) {
	cla := envoyAssignment()
	res, err := anypb.New(cla)
	if err != nil {
		t.Fatal(err)
	}
	if res.TypeUrl != EndpointType {
		t.Fatalf("Envoy's type URL is %s, EndpointType %s", res.TypeUrl, EndpointType)
	}
	resp := &discoveryv3.DiscoveryResponse{VersionInfo: "2026-12-03T17:00:00Z/7", Resources: []*anypb.Any{res}, TypeUrl: EndpointType,
		Nonce: "f6a1", Canary: true, ControlPlane: &corev3.ControlPlane{Identifier: "istiod-7d9f"}}
	b, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	got := &xdspb.DiscoveryResponse{}
	if err := proto.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	if got.GetVersionInfo() != resp.VersionInfo || got.GetTypeUrl() != resp.TypeUrl || got.GetNonce() != resp.Nonce ||
		len(got.GetResources()) != 1 || !proto.Equal(got.GetResources()[0], res) {
		t.Errorf("Envoy's\n%v\nreads as\n%v", resp, got)
	}
	back := &discoveryv3.DiscoveryResponse{}
	if b, err = proto.Marshal(got); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(back, resp) {
		t.Errorf("Envoy's response, through xdspb and back: %v\n%v", err, back)
	}

	ours := &xdspb.ClusterLoadAssignment{}
	if err := proto.Unmarshal(got.GetResources()[0].GetValue(), ours); err != nil {
		t.Fatal(err)
	}
	if ours.GetClusterName() != cla.ClusterName || len(ours.GetEndpoints()) != len(cla.Endpoints) {
		t.Fatalf("Envoy's\n%v\nreads as\n%v", cla, ours)
	}
	for i, l := range cla.Endpoints {
		o := ours.GetEndpoints()[i]
		if o.GetLocality().GetRegion() != l.GetLocality().GetRegion() || o.GetLocality().GetZone() != l.GetLocality().GetZone() ||
			o.GetLocality().GetSubZone() != l.GetLocality().GetSubZone() || o.GetPriority() != l.GetPriority() ||
			o.GetLoadBalancingWeight().GetValue() != l.GetLoadBalancingWeight().GetValue() || len(o.GetLbEndpoints()) != len(l.GetLbEndpoints()) {
			t.Fatalf("locality %d: Envoy's\n%v\nreads as\n%v", i, l, o)
		}
		for j, e := range l.GetLbEndpoints() {
			oe := o.GetLbEndpoints()[j]
			sa, osa := e.GetEndpoint().GetAddress().GetSocketAddress(), oe.GetEndpoint().GetAddress().GetSocketAddress()
			if osa.GetAddress() != sa.GetAddress() || osa.GetPortValue() != sa.GetPortValue() || oe.GetEndpoint().GetHostname() != e.GetEndpoint().GetHostname() ||
				int32(oe.GetHealthStatus()) != int32(e.GetHealthStatus()) || oe.GetHealthStatus().String() != e.GetHealthStatus().String() ||
				oe.GetLoadBalancingWeight().GetValue() != e.GetLoadBalancingWeight().GetValue() {
				t.Errorf("endpoint %d/%d: Envoy's\n%v\nreads as\n%v", i, j, e, oe)
			}
		}
	}
	again := &endpointv3.ClusterLoadAssignment{}
	if b, err = proto.Marshal(ours); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, again); err != nil || !proto.Equal(again, cla) {
		t.Errorf("Envoy's assignment, through xdspb and back: %v\n%v", err, again)
	}

	want := []Endpoint{
		{Address: "10.1.0.7", Port: 5000, Weight: 1, Locality: "us-east-1/us-east-1a/", Health: "HEALTHY"},
		{Address: "10.1.0.8", Port: 5000, Weight: 1, Locality: "us-east-1/us-east-1a/", Health: "UNHEALTHY"},
		{Address: "192.0.2.2", Port: 15443, Weight: 3, Locality: "us-west-2/us-west-2b/rack7", Priority: 1, Health: "DRAINING"},
		{Address: "192.0.2.3", Port: 15443, Weight: 0, Locality: "us-west-2/us-west-2b/rack7", Priority: 1, Health: "UNKNOWN"},
	}
	flat := Flatten(ours)
	if len(flat) != len(want) {
		t.Fatalf("Flatten: %+v", flat)
	}
	for i := range want {
		if flat[i] != want[i] {
			t.Errorf("Flatten[%d] = %+v, want %+v", i, flat[i], want[i])
		}
	}
}

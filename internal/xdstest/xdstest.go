// Package xdstest is the product's ADS client (pkg/xds) for tests: dialled
// straight at istiod's plaintext xDS address (the lab's host:15010) instead
// of through a port-forward, with CDS, which the product does not link
// (envoy/config/cluster/v3 costs the binary megabytes).
package xdstest

import (
	"context"
	"fmt"
	"net"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"

	"github.com/meshfed/kubectl-meshfed/pkg/xds"
	"github.com/meshfed/kubectl-meshfed/pkg/xds/xdspb"
)

// Type URLs of the resources asked for.
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	EndpointType = xds.EndpointType
)

// Sidecar is who the client claims to be (xds.Sidecar).
type Sidecar = xds.Sidecar

// Client is one ADS stream to istiod.
type Client struct {
	*xds.Client
}

// Dial opens an ADS stream to istiod's plaintext xDS address (host:15010).
func Dial(ctx context.Context, addr string, s Sidecar) (*Client, error) {
	var d net.Dialer
	c, err := xds.Dial(context.WithoutCancel(ctx), func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }, s)
	if err != nil {
		return nil, fmt.Errorf("ADS stream to %s: %w", addr, err)
	}
	return &Client{c}, nil
}

// Clusters asks for every cluster (CDS), by name.
func (c *Client) Clusters(ctx context.Context) (map[string]*clusterv3.Cluster, error) {
	r, err := c.Request(ctx, ClusterType, nil)
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

// Listeners asks for every listener (LDS), by name.
func (c *Client) Listeners(ctx context.Context) (map[string]*listenerv3.Listener, error) {
	r, err := c.Request(ctx, ListenerType, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]*listenerv3.Listener{}
	for _, a := range r.Resources {
		l := &listenerv3.Listener{}
		if err := a.UnmarshalTo(l); err != nil {
			return nil, err
		}
		out[l.Name] = l
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

// Flatten lists a ClusterLoadAssignment's endpoints (xds.Flatten), sorted
// by address and locality.
func Flatten(cla *xdspb.ClusterLoadAssignment) []Endpoint {
	var out []Endpoint
	for _, e := range xds.Flatten(cla) {
		out = append(out, Endpoint{Address: e.HostPort(), Weight: e.Weight, Locality: e.Locality, Priority: e.Priority, Healthy: e.Healthy()})
	}
	return out
}

// DefaultTimeout bounds one request in tests.
const DefaultTimeout = 20 * time.Second

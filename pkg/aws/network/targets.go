package network

import (
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Targets lists what to look up for the reachable clusters of a fleet: each
// context's server and the gateways whose load balancer has an ELB host
// name (an IP address or another host name is nothing ELBv2 can describe).
// clusterEntry names each context's kubeconfig cluster, when known.
func Targets(f *model.Fleet, clusterEntry map[string]string) []Target {
	var out []Target
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		t := Target{Context: c.Context, ClusterEntry: clusterEntry[c.Context], Server: c.Server}
		for _, g := range mesh.NetworkGateways(c) {
			for _, addr := range g.Addresses {
				if _, ok := LoadBalancerRegion(addr); ok {
					t.Gateways = append(t.Gateways, Gateway{Service: g.Ref(), Network: g.Network, Hostname: addr})
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// Wanted reports whether the AWS network should be read for these
// contexts without --aws: one of them is an EKS cluster by its name, its
// kubeconfig cluster's name, or its server.
func Wanted(f *model.Fleet, clusterEntry map[string]string) bool {
	for _, c := range f.Clusters {
		if _, ok := Identify(c.Context, clusterEntry[c.Context], c.Server); ok {
			return true
		}
	}
	return false
}

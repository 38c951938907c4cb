package mesh

import (
	"fmt"
	"sort"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// NetworkClaim is one thing that says which network a cluster is on,
// other than its Istio namespace's topology.istio.io/network label.
type NetworkClaim struct {
	Network string
	Kind    ClaimKind
	// Source says what claims it, for evidence.
	Source string
}

// ClaimKind is what kind of object makes a NetworkClaim.
type ClaimKind string

const (
	// ClaimInstall: values.global.network, which the injector gives proxies.
	ClaimInstall ClaimKind = "install"
	// ClaimGateway: an east-west gateway Service's network label.
	ClaimGateway ClaimKind = "gateway"
	// ClaimWorkload: a Deployment's pod label or ISTIO_META_NETWORK.
	ClaimWorkload ClaimKind = "workload"
	// ClaimMeshNetworks: a meshNetworks entry naming the cluster's registry.
	ClaimMeshNetworks ClaimKind = "meshNetworks"
)

// NetworkClaims gathers what the fleet says about the network of cluster c,
// apart from the namespace label istiod reads: the install's
// values.global.network (what the injector gives the proxies), the network
// label of its east-west gateway Services, the network label or
// ISTIO_META_NETWORK of its Deployments (gateways installed by the
// gateway-injection template carry both), and every meshNetworks entry in
// the fleet that lists c's cluster ID as a registry. Sorted by source.
func NetworkClaims(f *model.Fleet, c *model.Cluster) []NetworkClaim {
	var out []NetworkClaim
	if n := injectorValues(c).Global.Network; n != "" {
		out = append(out, NetworkClaim{n, ClaimInstall, fmt.Sprintf("values.global.network of ConfigMap %s/%s in %s", c.IstioNamespace, InjectorConfigMap, c.Context)})
	}
	for _, g := range NetworkGateways(c) {
		out = append(out, NetworkClaim{g.Network, ClaimGateway, fmt.Sprintf("label %s of the east-west gateway Service %s in %s", NetworkLabel, g.Ref(), c.Context)})
	}
	for _, d := range c.Deployments {
		if n := d.PodLabels[NetworkLabel]; n != "" {
			out = append(out, NetworkClaim{n, ClaimWorkload, fmt.Sprintf("pod label %s of Deployment %s/%s in %s", NetworkLabel, d.Namespace, d.Name, c.Context)})
		}
		if n, ok := d.Env("ISTIO_META_NETWORK"); ok && n != "" {
			out = append(out, NetworkClaim{n, ClaimWorkload, fmt.Sprintf("ISTIO_META_NETWORK of Deployment %s/%s in %s", d.Namespace, d.Name, c.Context)})
		}
	}
	if id := Identify(c).ClusterID; id != "" {
		for _, o := range f.Clusters {
			if !o.Reachable {
				continue
			}
			mn, ref, err := MeshNetworks(o)
			if err != nil || mn == nil {
				continue
			}
			for name, n := range mn.GetNetworks() {
				for _, ep := range n.GetEndpoints() {
					if ep.GetFromRegistry() == id {
						out = append(out, NetworkClaim{name, ClaimMeshNetworks, fmt.Sprintf("meshNetworks of %s (%s) puts registry %s on it", o.Context, ref, id)})
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

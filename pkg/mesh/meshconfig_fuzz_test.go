package mesh

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// FuzzMeshConfig: the mesh ConfigMap (mesh config, meshNetworks) and the
// injector's values are whatever a cluster holds. Reading a cluster's
// identity, networks and gateways from them never panics, and meshNetworks
// that do not parse are an error, not a silent nothing.
func FuzzMeshConfig(f *testing.F) {
	f.Add("trustDomain: cluster.local\ndefaultConfig:\n  meshId: mesh1\n",
		"networks:\n  network-east:\n    endpoints:\n    - fromRegistry: east\n    gateways:\n    - address: 10.0.0.1\n      port: 15443\n",
		`{"global":{"meshID":"mesh1","multiCluster":{"clusterName":"east"},"network":"network-east"}}`)
	f.Add("defaultConfig: {proxyMetadata: {ISTIO_META_DNS_CAPTURE: \"true\"}}", "networks:\n  n:\n    gateways:\n    - registryServiceName: istio-eastwestgateway.istio-system.svc.cluster.local\n      port: 15443\n", "{}")
	f.Add("trustDomain: [", "networks: 3", "{\"global\":")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, meshConfig, meshNetworks, values string) {
		c := &model.Cluster{Context: "east", IstioNamespace: "istio-system", Reachable: true}
		c.Namespaces = []model.Namespace{{Meta: model.Meta{Name: "istio-system", Labels: map[string]string{NetworkLabel: "network-east"}}}}
		c.ConfigMaps = []model.ConfigMap{
			{Meta: model.Meta{Namespace: "istio-system", Name: MeshConfigMap}, Data: map[string]string{"mesh": meshConfig, MeshNetworksKey: meshNetworks}},
			{Meta: model.Meta{Namespace: "istio-system", Name: InjectorConfigMap}, Data: map[string]string{"values": values}},
		}
		_ = Identify(c)
		n, ref, err := MeshNetworks(c)
		if err != nil && ref == "" {
			t.Fatalf("meshNetworks error %v without saying where", err)
		}
		if err == nil && n != nil && len(n.GetNetworks()) == 0 {
			t.Fatal("meshNetworks with no network returned as some")
		}
		_ = NetworkGateways(c)
		_ = ReadCA(c)
		_ = RootConfigMaps(c)
	})
}

package model

// IstiodGateways is an istiod replica's own list of cross-network gateways,
// /debug/networkz: what it hands a proxy of another network in place of
// this network's pods (istio.io/istio pilot/pkg/xds/debug.go networkz, which
// writes NetworkManager.AllGateways() of pilot/pkg/model/network.go). The
// list merges the gateways of meshNetworks given by address and those of
// every cluster's registry (labelled gateway Services with an address,
// meshNetworks' registryServiceName, Gateway resources), with DNS names
// resolved (a name that does not resolve is left out).
type IstiodGateways struct {
	// Error says why the list could not be read.
	Error string `json:"error,omitempty"`
	// Gateways are the entries, sorted by network, cluster, address, port.
	Gateways []IstiodGateway `json:"gateways,omitempty"`
}

// IstiodGateway is one entry of networkz (a pilot/pkg/model.NetworkGateway).
type IstiodGateway struct {
	Network string `json:"network"`
	// Cluster is the cluster whose registry gave the gateway; "" for a
	// meshNetworks gateway given by address.
	Cluster string `json:"cluster,omitempty"`
	Address string `json:"address"`
	// Port is the mTLS port (0 for an HBONE-only gateway); HBONEPort the
	// HBONE port when it has one.
	Port      uint32 `json:"port,omitempty"`
	HBONEPort uint32 `json:"hbonePort,omitempty"`
}

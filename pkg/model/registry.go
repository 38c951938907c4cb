package model

// IstiodRegistry is what one istiod replica holds in its service registry,
// read from /debug/registryz (its services, each with the clusters it has an
// address in) and /debug/endpointShardz (the endpoints of each service, in
// one shard per cluster), through the same port-forward or debug address as
// its clusterz. Only what the checks judge is kept, per cluster: how many
// services and shards, a few names for the report, and each service's ready
// endpoint addresses (the lab's bench holds 5,000 services per cluster; the
// JSON itself is tens of megabytes and is never held).
type IstiodRegistry struct {
	// Error says why the registry could not be read; the replica's clusterz
	// may still have been.
	Error string `json:"error,omitempty"`
	// Clusters are the Kubernetes clusters the registry holds anything of,
	// by ID.
	Clusters []RegistryCluster `json:"clusters,omitempty"`
}

// RegistryCluster is what one istiod's registry holds of one cluster.
type RegistryCluster struct {
	ID string `json:"id"`
	// Services counts the Kubernetes services registryz lists with an
	// address (clusterVIPs) in this cluster.
	Services int `json:"services"`
	// Shards counts the services with endpoints in the shard
	// Kubernetes/<ID> of endpointShardz; Endpoints counts those endpoints'
	// ready addresses.
	Shards    int `json:"shards"`
	Endpoints int `json:"endpoints"`
	// Examples names up to RegistryExamples of the services, as
	// "namespace/name", the first in that order.
	Examples []string `json:"examples,omitempty"`
	// Ready holds, per service ("namespace/name"), the addresses of the
	// shard's endpoints istiod sends as healthy, sorted. Kept for the
	// clusters other than istiod's own, whose EndpointSlices are compared
	// with it.
	Ready map[string][]string `json:"ready,omitempty"`
}

// RegistryExamples is how many services a RegistryCluster names.
const RegistryExamples = 3

// RegistryOf returns what the registry holds of a cluster ID, or nil.
func (r *IstiodRegistry) RegistryOf(id string) *RegistryCluster {
	if r == nil {
		return nil
	}
	for i := range r.Clusters {
		if r.Clusters[i].ID == id {
			return &r.Clusters[i]
		}
	}
	return nil
}

package mesh

import "github.com/meshfed/kubectl-meshfed/pkg/model"

// RemoteSecretKeys returns the cluster IDs a primary's istiod will read
// remote clusters for, each with the secret (namespace/name) that names it:
// secrets in Istio's namespace labelled istio/multiCluster=true, one cluster
// per data key (istio.io/istio pkg/kube/multicluster).
func RemoteSecretKeys(c *model.Cluster) map[string]string {
	out := map[string]string{}
	for _, s := range c.Secrets {
		if s.Namespace != c.IstioNamespace || s.Labels[model.MultiClusterSecretLabel] != "true" {
			continue
		}
		for _, k := range s.Data.Keys() {
			out[k] = s.Namespace + "/" + s.Name
		}
	}
	return out
}

package fleet

import (
	"sort"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// KubeContexts lists the kubeconfig's contexts, sorted by name (nil when the
// kubeconfig cannot be read: the run reports that elsewhere).
func KubeContexts(flags *kube.Flags) []model.KubeContext {
	if flags == nil {
		return nil
	}
	raw, err := flags.RawConfig()
	if err != nil {
		return nil
	}
	out := make([]model.KubeContext, 0, len(raw.Contexts))
	for name, kctx := range raw.Contexts {
		k := model.KubeContext{Name: name}
		if kctx != nil {
			if cl, ok := raw.Clusters[kctx.Cluster]; ok && cl != nil {
				k.Server = cl.Server
			}
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

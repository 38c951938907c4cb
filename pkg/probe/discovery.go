package probe

import (
	"context"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// StartDiscovery starts the discovery probes (remote secrets' credentials,
// the clusterz of every primary's istiod: at its debug address when one is
// given, else through port-forwards to its pods; and the remote clusters'
// paths to their primary's istiod, 15012 and 15017) in the background, so
// they share the run's deadline with the gateway probes rather than follow
// them. The returned function waits for them and records their results in p.
func StartDiscovery(ctx context.Context, f *model.Fleet, opts Options, istiodDebug map[string]string) func(p *model.Probes) {
	return NewDiscovery(opts, opts.Timeout, istiodDebug).Finish(ctx, f, opts)
}

package probe

import (
	"context"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// StartDiscovery starts the discovery probes (remote secrets' credentials,
// and the clusterz of every primary's istiod: at its debug address when one
// is given, else through port-forwards to its pods) in the background, so
// they share the run's deadline with the gateway probes rather than follow
// them. The returned function waits for them and records their results in p.
func StartDiscovery(ctx context.Context, f *fleet.Fleet, opts Options, istiodDebug map[string]string) func(p *fleet.Probes) {
	var creds []fleet.CredentialProbe
	var views []fleet.IstiodView
	done := make(chan struct{}, 2)
	go func() {
		creds = Credentials(ctx, f, opts)
		done <- struct{}{}
	}()
	go func() {
		views = Istiod(ctx, f, opts, istiodDebug)
		done <- struct{}{}
	}()
	return func(p *fleet.Probes) {
		<-done
		<-done
		if p != nil {
			p.Credentials, p.Istiod = creds, views
		}
	}
}

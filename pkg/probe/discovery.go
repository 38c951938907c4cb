package probe

import (
	"context"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// StartDiscovery starts the discovery probes (remote secrets' credentials,
// and istiod's clusterz for the contexts given a debug address) in the
// background, so they share the run's deadline with the gateway probes
// rather than follow them. The returned function waits for them and records
// their results in p. With no debug address at all istiod is not asked, and
// MF4011 judges nothing, as the other probe checks do under --no-probes.
func StartDiscovery(ctx context.Context, f *fleet.Fleet, opts Options, istiodDebug map[string]string) func(p *fleet.Probes) {
	var creds []fleet.CredentialProbe
	var views []fleet.IstiodView
	done := make(chan struct{}, 2)
	go func() {
		creds = Credentials(ctx, f, opts)
		done <- struct{}{}
	}()
	go func() {
		if len(istiodDebug) > 0 {
			views = Istiod(ctx, f, opts, istiodDebug)
		}
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

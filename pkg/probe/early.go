package probe

import (
	"context"
	"sync"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Discovery runs the discovery probes of one run. The probes of a cluster
// that need only its fleet.EarlyKinds (its remote secrets' credentials, its
// istiod's views) start as soon as the collector has read those (Start),
// while the cluster's large kinds are still arriving; Finish runs the rest
// once the read has ended (istiod paths, and what did not start early) and
// hands back every result in the order StartDiscovery gives them.
type Discovery struct {
	base        Options       // Client, Dial, From…; Timeout and Deadline are set per start
	budget      time.Duration // --probe-timeout: what each probe may use from its start
	istiodDebug map[string]string

	mu    sync.Mutex
	early map[string]*clusterProbes
}

// clusterProbes are one cluster's credential and istiod probes, started
// early.
type clusterProbes struct {
	done  chan struct{}
	creds []model.CredentialProbe
	views []model.IstiodView
}

// NewDiscovery returns the discovery probes of a run: each probe may use
// budget from its start, and base gives the rest of their options.
func NewDiscovery(base Options, budget time.Duration, istiodDebug map[string]string) *Discovery {
	base.credentialCalls = newCredentialCalls() // one call per distinct credential, early or late
	return &Discovery{base: base, budget: budget, istiodDebug: istiodDebug, early: map[string]*clusterProbes{}}
}

// Start starts the credential and istiod probes of a cluster from view,
// the cluster as far as fleet.EarlyKinds go (fleet.Options.Early). They end
// by now + the budget, which is before the probe phase's own deadline (the
// read's end + the budget): starting early never lengthens the run.
func (d *Discovery) Start(ctx context.Context, view *model.Cluster) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.early[view.Context]; ok {
		return
	}
	p := &clusterProbes{done: make(chan struct{})}
	d.early[view.Context] = p
	opts := d.base
	opts.Timeout, opts.Deadline = d.budget, time.Now().Add(d.budget)
	one := &model.Fleet{IstioNamespace: view.IstioNamespace, Clusters: []*model.Cluster{view}}
	go func() {
		defer close(p.done)
		var wg sync.WaitGroup
		wg.Go(func() { p.creds = Credentials(ctx, one, opts) })
		wg.Go(func() { p.views = Istiod(ctx, one, opts, d.istiodDebug) })
		wg.Wait()
	}()
}

// Finish runs, within opts' deadline, the discovery probes that did not
// start early (a cluster that did not come back whole by the time its
// early kinds should have, or no Start at all) and the istiod paths, which
// need Services and EndpointSlices. The returned function waits for every
// probe, early ones included, and records the results in p.
func (d *Discovery) Finish(ctx context.Context, f *model.Fleet, opts Options) func(p *model.Probes) {
	var late []*model.Cluster
	started := map[string]*clusterProbes{}
	d.mu.Lock()
	for _, c := range f.Clusters {
		if e, ok := d.early[c.Context]; ok && c.Reachable {
			started[c.Context] = e
		} else {
			late = append(late, c)
		}
	}
	d.mu.Unlock()
	rest := &model.Fleet{IstioNamespace: f.IstioNamespace, Clusters: late}
	opts.credentialCalls = d.base.credentialCalls
	var creds []model.CredentialProbe
	var views []model.IstiodView
	var paths []model.IstiodPathProbe
	var wg sync.WaitGroup
	wg.Go(func() { creds = Credentials(ctx, rest, opts) })
	wg.Go(func() { views = Istiod(ctx, rest, opts, d.istiodDebug) })
	wg.Go(func() { paths = IstiodPaths(ctx, f, opts) })
	return func(p *model.Probes) {
		wg.Wait()
		for _, e := range started {
			<-e.done // each ends by its own deadline, before opts'
		}
		if p == nil {
			return
		}
		// In the fleet's order, as one plan over the whole fleet lists them.
		p.Credentials, p.Istiod, p.IstiodPaths = nil, nil, paths
		for _, c := range f.Clusters {
			if e, ok := started[c.Context]; ok {
				p.Credentials = append(p.Credentials, e.creds...)
				p.Istiod = append(p.Istiod, e.views...)
				continue
			}
			p.Credentials = append(p.Credentials, ofContext(creds, c.Context, func(r model.CredentialProbe) string { return r.Context })...)
			p.Istiod = append(p.Istiod, ofContext(views, c.Context, func(v model.IstiodView) string { return v.Context })...)
		}
	}
}

func ofContext[T any](all []T, context string, of func(T) string) []T {
	var out []T
	for _, r := range all {
		if of(r) == context {
			out = append(out, r)
		}
	}
	return out
}

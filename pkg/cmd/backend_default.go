package cmd

import (
	"context"
	"sync"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/aws/awsconfig"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/network"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	fixall "github.com/meshfed/kubectl-meshfed/pkg/fix/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

// DefaultBackend wires the commands to the real collector, mesh identity and
// check registry.
func DefaultBackend() Backend {
	runs := &runs{}
	return Backend{
		Catalog: checks.DefaultCatalog,
		Mesh: func(f *model.Fleet) *checks.MeshOverview {
			t := topology.Build(f)
			return &checks.MeshOverview{Lines: topology.Compact(t), TradeOffs: t.TradeOffs}
		},
		Registry: func(t Target) *checks.Registry {
			opts := all.DefaultOptions()
			opts.Trust.Now = t.Now // every check judges expiry at the same instant
			if opts.Trust.Now.IsZero() {
				opts.Trust.Now = time.Now()
			}
			opts.Trust.CertWarn = time.Duration(t.CertWarnDays) * 24 * time.Hour
			opts.Trust.CertError = time.Duration(t.CertErrorDays) * 24 * time.Hour
			return all.RegistryWith(opts)
		},
		Choose: func(ctx context.Context, flags *kube.Flags, t Target) ([]checks.ContextChoice, error) {
			chosen, err := runs.of(flags, t).collector.ChooseContexts(ctx, fleet.ChooseOptions{
				Contexts: t.Contexts, All: t.AllContexts,
			})
			if err != nil {
				return nil, err
			}
			out := make([]checks.ContextChoice, len(chosen))
			for i, c := range chosen {
				out[i] = checks.ContextChoice{Context: c.Context, Reason: c.Reason}
			}
			return out, nil
		},
		Collect: func(ctx context.Context, flags *kube.Flags, contexts []string, t Target) *model.Fleet {
			return runs.of(flags, t).collector.Collect(ctx, contexts)
		},
		Probe: func(ctx context.Context, f *model.Fleet, t Target) *model.Probes {
			// The probes run after the read, all at once, each with the
			// whole probe budget (--probe-timeout, default --timeout): no
			// constant of ours cuts a slow answer short while the user's
			// time is left, and a black-holed gateway holds only its own
			// probe, to the budget's end. The credential and istiod probes
			// of a cluster started during the read, as soon as its
			// secrets and pods had arrived (collection.discovery).
			run := runs.of(nil, t)
			deadline := run.probeDeadline(t)
			opts := run.probeOptions()
			opts.Timeout, opts.Deadline = time.Until(deadline), deadline
			discovery := run.discovery
			if discovery == nil {
				discovery = probe.NewDiscovery(opts, opts.Timeout, t.IstiodDebug)
			}
			finish := discovery.Finish(ctx, f, opts) // remote credentials, istiod's clusterz and paths
			p := probe.Gateways(ctx, f, opts)
			finish(p)
			return p
		},
		PrivateCA: func(ctx context.Context, t Target) *model.AWSPrivateCA {
			ctx, cancel := context.WithDeadline(ctx, runs.of(nil, t).probeDeadline(t))
			defer cancel()
			return readPrivateCA(ctx, t.AWSProfile, t.PCAARN)
		},
		AWS: func(ctx context.Context, flags *kube.Flags, f *model.Fleet, t Target) *model.AWSNetwork {
			return readAWSNetwork(ctx, flags, f, t, runs.of(nil, t).probeDeadline(t))
		},
		Identify: func(c *model.Cluster) checks.ClusterSummary {
			id := mesh.Identify(c)
			// string() because identity fields may be named string types.
			return checks.ClusterSummary{ClusterID: string(id.ClusterID), Network: string(id.Network), Role: string(id.Role)}
		},
		Trust: func(f *model.Fleet, t Target) *model.TrustMatrix {
			return trustMatrix(f, t.Now)
		},
		Fixers: fixall.Fixers,
		Clients: func(flags *kube.Flags, t Target) fix.Clients {
			// The clients the diagnosis read through: apply bounds each of
			// its requests by --timeout itself.
			return runs.of(flags, t).collector.Clients()
		},
		Apply: fix.Apply,
		Reread: func(ctx context.Context, flags *kube.Flags, contexts []string, t Target) *model.Fleet {
			return runs.fresh(flags, t).collector.Collect(ctx, contexts)
		},
	}
}

// trustMatrix builds the trust matrix at now, as the report carries it; nil
// with fewer than two primaries, where there is no pair to judge.
func trustMatrix(f *model.Fleet, now time.Time) *model.TrustMatrix {
	m := trust.BuildMatrix(f, trust.Options{Now: now})
	if len(m.Contexts) < 2 {
		return nil
	}
	return &m
}

// runs keeps the current collection: its collector, so that the clusters
// read while following the mesh are not read again, and the run's two
// deadlines (README, "Deadlines"): the read of every cluster, following the
// mesh included, ends by start + --timeout; the probes and the AWS reads
// start when it has ended and end by then + --probe-timeout.
type runs struct {
	mu      sync.Mutex
	flags   *kube.Flags
	current *collection
}

type collection struct {
	collector *fleet.Collector
	flags     *kube.Flags
	started   time.Time
	// discovery holds the probes started while the read goes on (nil
	// with --no-probes).
	discovery *probe.Discovery

	probesOnce sync.Once
	probesEnd  time.Time
}

// probeDeadline is when the probe phase ends: --probe-timeout after its
// first caller (the probes and the AWS reads start together, once the read
// has ended).
func (c *collection) probeDeadline(t Target) time.Time {
	c.probesOnce.Do(func() { c.probesEnd = time.Now().Add(t.probeBudget()) })
	return c.probesEnd
}

// probeBudget is what each probe may use from its start: --probe-timeout,
// default --timeout.
func (t Target) probeBudget() time.Duration {
	if t.ProbeTimeout > 0 {
		return t.ProbeTimeout
	}
	return t.Timeout
}

// of returns the collection of these flags, starting one when the flags are
// new (nil flags: the current collection).
func (r *runs) of(flags *kube.Flags, t Target) *collection {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil || (flags != nil && flags != r.flags) {
		r.start(flags, t, false)
	}
	return r.current
}

// fresh starts a new collection of these flags, nothing read yet, its
// deadlines counted from now. It reads the newest state: it follows writes
// (fix --apply), which the API servers' watch caches may not show yet.
func (r *runs) fresh(flags *kube.Flags, t Target) *collection {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start(flags, t, true)
	return r.current
}

func (r *runs) start(flags *kube.Flags, t Target, latest bool) {
	r.flags = flags
	started := time.Now()
	c := &collection{flags: flags, started: started}
	opts := fleet.Options{Timeout: t.Timeout, Deadline: started.Add(t.Timeout), IstioNamespace: t.IstioNamespace, Latest: latest}
	if !t.NoProbes {
		// Each cluster's credential and istiod probes start as soon as
		// its secrets and pods are read; each has the whole probe budget
		// from its start, so all still end by the probe phase's deadline.
		c.discovery = probe.NewDiscovery(c.probeOptions(), t.probeBudget(), t.IstiodDebug)
		opts.Early = c.discovery.Start
	}
	c.collector = fleet.NewCollector(flags, opts)
	r.current = c
}

// probeOptions are the probes' options but for their deadline: istiod's
// pods are reached through the API server the snapshot was read from, with
// the user's own credentials, over the connection the read opened.
func (c *collection) probeOptions() probe.Options {
	return probe.Options{Client: func(context string) (*kube.Client, error) { return c.collector.Clients().Client(context) }}
}

// readAWSNetwork reads the AWS network under the fleet when --aws asks for
// it, or when a context is an EKS cluster and AWS credentials are found;
// by the run's deadline. With --aws and no credentials, the network is
// recorded as not read, with why, and the AWS checks say "unknown".
func readAWSNetwork(ctx context.Context, flags *kube.Flags, f *model.Fleet, t Target, deadline time.Time) *model.AWSNetwork {
	entries := clusterEntries(flags)
	if !t.AWS && !network.Wanted(f, entries) {
		return nil
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	cfg, err := awsconfig.Load(ctx, t.AWSProfile)
	if err != nil {
		if !t.AWS {
			return nil // EKS contexts, but no AWS credentials here: AWS is not in play
		}
		return &model.AWSNetwork{Skipped: err.Error()}
	}
	return network.Gather(ctx, network.SDKClients(cfg), network.Targets(f, entries), network.Options{DefaultRegion: cfg.Region})
}

// clusterEntries maps each kubeconfig context to its cluster entry's name
// (an EKS ARN when `aws eks update-kubeconfig` wrote it).
func clusterEntries(flags *kube.Flags) map[string]string {
	if flags == nil {
		return nil
	}
	raw, err := flags.RawConfig()
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for name, c := range raw.Contexts {
		if c != nil {
			out[name] = c.Cluster
		}
	}
	return out
}

package diagnosis

import (
	"context"
	"sync"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/aws/awsconfig"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/network"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/pca"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

// Live is the service that reads the real clusters, probes them, reads AWS
// and judges with every check of the catalog.
func Live() Service {
	return Service{Open: OpenLive, Judge: DefaultJudge{}}
}

// OpenLive starts a live run: a collector over req.Flags and the run's two
// deadlines (README, "Deadlines"): the read of every cluster, following the
// mesh included, ends by now + --timeout; the probes and the AWS reads start
// when it has ended and end by then + --probe-timeout.
func OpenLive(req Request, reread bool) Reader {
	l := &live{noRegistry: !judges(req.Checks, checks.MF4020, checks.MF4021),
		noNetworkz: !judges(req.Checks, checks.MF3030, checks.MF3031),
		noMetrics:  !judges(req.Checks, checks.MF4045, checks.MF4046),
		forwards:   probe.NewForwards()}
	opts := fleet.Options{Timeout: req.Timeout, Deadline: time.Now().Add(req.Timeout), IstioNamespace: req.IstioNamespace, Latest: reread}
	if !req.NoProbes {
		// Each cluster's credential and istiod probes start as soon as
		// its secrets and pods are read; each has the whole probe budget
		// from its start, so all still end by the probe phase's deadline.
		l.discovery = probe.NewDiscovery(l.probeOptions(), req.ProbeBudget(), req.IstiodDebug)
		opts.Early = l.discovery.Start
	}
	l.collector = fleet.NewCollector(req.Flags, opts)
	return l
}

// live is one run's reader.
type live struct {
	collector *fleet.Collector
	// discovery holds the probes started while the read goes on (nil
	// with --no-probes).
	discovery *probe.Discovery
	// forwards are the run's port-forward connections, one per istiod pod:
	// its clusterz and registry, read early, and the sidecar views asked
	// after the read travel on the same one. Probe closes them.
	forwards *probe.Forwards

	probesOnce sync.Once
	probesEnd  time.Time
	// noRegistry: no selected check judges istiod's registry, so it is not
	// read.
	noRegistry bool
	// noNetworkz, noMetrics: no selected check judges istiod's networkz
	// (MF3030, MF3031) or its metrics (MF4045, MF4046).
	noNetworkz, noMetrics bool
}

// judges reports whether one of the checks ids (those that judge one of
// istiod's reads: its registry, networkz, metrics) is selected; a run
// without checks (topology) judges none.
func judges(sel *checks.Selection, ids ...checks.ID) bool {
	if sel == nil {
		return false
	}
	cat := checks.DefaultCatalog()
	for _, id := range ids {
		if m, ok := cat.Lookup(id); ok && sel.Includes(m) {
			return true
		}
	}
	return false
}

// probeDeadline is when the probe phase ends: --probe-timeout after its
// first caller (the probes and the AWS reads start together, once the read
// has ended).
func (l *live) probeDeadline(req Request) time.Time {
	l.probesOnce.Do(func() { l.probesEnd = time.Now().Add(req.ProbeBudget()) })
	return l.probesEnd
}

// probeOptions are the probes' options but for their deadline: istiod's
// pods are reached through the API server the snapshot was read from, with
// the user's own credentials, over the connection the read opened.
func (l *live) probeOptions() probe.Options {
	return probe.Options{NoRegistry: l.noRegistry, NoNetworkz: l.noNetworkz, NoMetrics: l.noMetrics, Forwards: l.forwards,
		Client: func(context string) (*kube.Client, error) { return l.collector.Clients().Client(context) }}
}

func (l *live) Choose(ctx context.Context, req Request) ([]checks.ContextChoice, error) {
	chosen, err := l.collector.ChooseContexts(ctx, fleet.ChooseOptions{Contexts: req.Contexts, All: req.AllContexts})
	if err != nil {
		return nil, err
	}
	out := make([]checks.ContextChoice, len(chosen))
	for i, c := range chosen {
		out[i] = checks.ContextChoice{Context: c.Context, Reason: c.Reason}
	}
	return out, nil
}

func (l *live) Collect(ctx context.Context, contexts []string, _ Request) *model.Fleet {
	return l.collector.Collect(ctx, contexts)
}

// Probe runs the probes after the read, all at once, each with the whole
// probe budget (--probe-timeout, default --timeout): no constant of ours
// cuts a slow answer short while the user's time is left, and a black-holed
// gateway holds only its own probe, to the budget's end. The credential and
// istiod probes of a cluster started during the read, as soon as its
// secrets and pods had arrived.
func (l *live) Probe(ctx context.Context, f *model.Fleet, req Request) *model.Probes {
	deadline := l.probeDeadline(req)
	opts := l.probeOptions()
	opts.Timeout, opts.Deadline = time.Until(deadline), deadline
	discovery := l.discovery
	if discovery == nil {
		discovery = probe.NewDiscovery(opts, opts.Timeout, req.IstiodDebug)
	}
	finish := discovery.Finish(ctx, f, opts) // remote credentials, istiod's clusterz and paths
	// What istiod sends sidecars, for the few services DoctorAsks picks,
	// alongside the gateway dials.
	var views []model.SidecarView
	asked := make(chan struct{})
	go func() {
		defer close(asked)
		views = probe.SidecarViews(ctx, f, opts, probe.DoctorAsks(f))
	}()
	p := probe.Gateways(ctx, f, opts)
	finish(p)
	<-asked
	p.SidecarViews = views
	l.forwards.Close() // every probe that forwards has ended
	return p
}

func (l *live) PrivateCA(ctx context.Context, req Request) *model.AWSPrivateCA {
	ctx, cancel := context.WithDeadline(ctx, l.probeDeadline(req))
	defer cancel()
	return readPrivateCA(ctx, req.AWSProfile, req.PCAARN)
}

// AWSNetwork reads the AWS network under the fleet when --aws asks for it,
// or when a context is an EKS cluster and AWS credentials are found; by the
// probe phase's deadline. With --aws and no credentials, the network is
// recorded as not read, with why, and the AWS checks say "unknown".
func (l *live) AWSNetwork(ctx context.Context, f *model.Fleet, req Request) *model.AWSNetwork {
	entries := clusterEntries(req.Flags)
	if !req.AWS && !network.Wanted(f, entries) {
		return nil
	}
	ctx, cancel := context.WithDeadline(ctx, l.probeDeadline(req))
	defer cancel()
	cfg, err := awsconfig.Load(ctx, req.AWSProfile)
	if err != nil {
		if !req.AWS {
			return nil // EKS contexts, but no AWS credentials here: AWS is not in play
		}
		return &model.AWSNetwork{Skipped: err.Error()}
	}
	return network.Gather(ctx, network.SDKClients(cfg), network.Targets(f, entries), network.Options{DefaultRegion: cfg.Region})
}

// readPrivateCA is what the doctor records of the CA named with --pca-arn;
// without credentials, the reason, so that its checks say "unknown".
func readPrivateCA(ctx context.Context, profile, arn string) *model.AWSPrivateCA {
	cfg, err := awsconfig.Load(ctx, profile)
	if err != nil {
		return &model.AWSPrivateCA{ARN: arn, Error: err.Error()}
	}
	client, err := pca.Client(cfg, arn)
	if err != nil {
		return &model.AWSPrivateCA{ARN: arn, Error: err.Error()}
	}
	return pca.Read(ctx, client, arn)
}

// Clients are the clients the run read through: apply bounds each of its
// requests by --timeout itself.
func (l *live) Clients() Clients { return l.collector.Clients() }

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

// DefaultJudge judges with every check of the catalog, mesh identity, the
// trust matrix and the topology in brief.
type DefaultJudge struct{}

func (DefaultJudge) Registry(req Request) *checks.Registry {
	opts := all.DefaultOptions()
	opts.Trust.Now = req.Now // every check judges expiry at the same instant
	if opts.Trust.Now.IsZero() {
		opts.Trust.Now = time.Now()
	}
	opts.Trust.CertWarn = time.Duration(req.CertWarnDays) * 24 * time.Hour
	opts.Trust.CertError = time.Duration(req.CertErrorDays) * 24 * time.Hour
	return all.RegistryWith(opts)
}

func (DefaultJudge) Identify(c *model.Cluster) checks.ClusterSummary {
	id := mesh.Identify(c)
	// string() because identity fields may be named string types.
	return checks.ClusterSummary{ClusterID: string(id.ClusterID), Network: string(id.Network), Role: string(id.Role),
		DataPlane: string(mesh.DataPlane(c).Mode)}
}

func (DefaultJudge) Trust(f *model.Fleet, req Request) *model.TrustMatrix {
	return TrustMatrix(f, req.Now)
}

func (DefaultJudge) Mesh(f *model.Fleet) *checks.MeshOverview {
	t := topology.Build(f)
	return &checks.MeshOverview{Lines: topology.Compact(t), TradeOffs: t.TradeOffs}
}

// TrustMatrix builds the trust matrix at now, as the report carries it; nil
// with fewer than two primaries, where there is no pair to judge.
func TrustMatrix(f *model.Fleet, now time.Time) *model.TrustMatrix {
	m := trust.BuildMatrix(f, trust.Options{Now: now})
	if len(m.Contexts) < 2 {
		return nil
	}
	return &m
}

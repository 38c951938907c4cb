package diagnosis

import (
	"context"

	"github.com/meshfed/kubectl-meshfed/pkg/bundle"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// FromBundles is the service that judges what bundles recorded (doctor
// --bundle, topology --bundle, trace --bundle) instead of reading clusters: the same checks
// and report as the live runs that wrote them, with nothing read or probed
// now.
func FromBundles(m *bundle.Merged) Service {
	return Service{Open: func(Request, bool) Reader { return recorded{m} }, Judge: DefaultJudge{}}
}

// recorded is a Reader over merged bundles. Its Collect gives the probes'
// results and what AWS said along with the clusters, as recorded; Diagnose
// then runs nothing live.
type recorded struct{ m *bundle.Merged }

// Offline is the report's account of the bundles.
func (r recorded) Offline() *checks.Offline { return r.m.Offline }

func (r recorded) Choose(context.Context, Request) ([]checks.ContextChoice, error) {
	return r.m.Chosen, nil
}

func (r recorded) Collect(_ context.Context, contexts []string, req Request) *model.Fleet {
	src := r.m.Fleet
	f := &model.Fleet{IstioNamespace: src.IstioNamespace, Kubeconfig: src.Kubeconfig, AWSNetwork: src.AWSNetwork, AWSPrivateCA: src.AWSPrivateCA}
	for _, ctx := range contexts {
		if c := src.Cluster(ctx); c != nil {
			f.Clusters = append(f.Clusters, c)
		}
	}
	if !req.NoProbes {
		f.Probes = src.Probes
	}
	return f
}

func (r recorded) Probe(context.Context, *model.Fleet, Request) *model.Probes {
	return r.m.Fleet.Probes
}

func (r recorded) AWSNetwork(context.Context, *model.Fleet, Request) *model.AWSNetwork {
	return r.m.Fleet.AWSNetwork
}

func (r recorded) PrivateCA(context.Context, Request) *model.AWSPrivateCA {
	return r.m.Fleet.AWSPrivateCA
}

// Clients: a bundle reaches no cluster.
func (recorded) Clients() Clients { return nil }

// offlineReader is a Reader whose fleet was recorded: Diagnose takes the
// probes and AWS from its Collect and reports its Offline account.
type offlineReader interface {
	Offline() *checks.Offline
}

// Package diagnosis owns one run of the tool over the clusters: choose the
// contexts, read them, probe them and read AWS under the run's deadlines,
// run the checks, and assemble the report. The commands (doctor, topology,
// fix and its re-check) go through it and keep only flags, output and exit
// codes; tests give it a Reader and a Judge of their own.
package diagnosis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Reader is the live side of one run, made for that run by Service.Open: it
// holds the run's deadlines (README, "Deadlines") and what it has read, so
// the clusters read while choosing are not read again.
type Reader interface {
	// Choose picks the contexts to read and says why each was picked. An
	// error means nothing could be chosen.
	Choose(ctx context.Context, req Request) ([]checks.ContextChoice, error)
	// Collect reads the chosen contexts. It never fails as a whole.
	Collect(ctx context.Context, contexts []string, req Request) *model.Fleet
	// Probe runs the live probes over what Collect read (nil: none ran).
	Probe(ctx context.Context, f *model.Fleet, req Request) *model.Probes
	// AWSNetwork reads what AWS says of the network under what Collect
	// read; nil when AWS is not in play.
	AWSNetwork(ctx context.Context, f *model.Fleet, req Request) *model.AWSNetwork
	// PrivateCA reads what AWS Private CA says of req.PCAARN.
	PrivateCA(ctx context.Context, req Request) *model.AWSPrivateCA
	// Clients are the per-context clients the run read through (fix
	// applies through them); nil when there are none.
	Clients() Clients
}

// Clients reach the live clusters by context (fix.Clients).
type Clients interface {
	Client(context string) (*kube.Client, error)
}

// Judge turns what was read into the report's parts. It reads nothing live.
type Judge interface {
	// Registry pairs the catalog with the checks that run.
	Registry(req Request) *checks.Registry
	// Identify says what a reachable cluster is in the mesh.
	Identify(c *model.Cluster) checks.ClusterSummary
	// Trust builds the trust matrix, or nil (fewer than two primaries).
	Trust(f *model.Fleet, req Request) *model.TrustMatrix
	// Mesh draws the mesh's shape in brief for the report's opening (nil:
	// none).
	Mesh(f *model.Fleet) *checks.MeshOverview
}

// Observer hears how a run goes, for the command to show on stderr; nil
// hears nothing.
type Observer interface {
	// Stage says a slow step begins; the run calls done when it ends.
	Stage(what string) (done func())
	// Chose says which contexts the run reads and why, before it reads them.
	Chose(chosen []checks.ContextChoice)
}

// Service runs diagnoses.
type Service struct {
	// Open starts a Reader for one run, its deadlines counted from now.
	// Reread: nothing is kept from an earlier read and the newest state is
	// read (after fix has written).
	Open  func(req Request, reread bool) Reader
	Judge Judge
}

// Result is one run's outcome.
type Result struct {
	Chosen []checks.ContextChoice
	// Fleet is the snapshot, probes and AWS included.
	Fleet *model.Fleet
	// Checks is what the selected checks found (zero without
	// Request.Checks).
	Checks checks.Result
	// Report is the whole report (nil without Request.Checks).
	Report *checks.Report
	// Clients are the clients the run read through.
	Clients Clients
}

// ErrNoContexts: the kubeconfig has no context to read.
var ErrNoContexts = errors.New("no kubeconfig context to read")

// Diagnose runs once: choose the contexts, read them, probe them and read
// AWS, then, when req.Checks says which, run the checks and assemble the
// report. An error is the tool failing; clusters that cannot be read are in
// the result's fleet.
func (s Service) Diagnose(ctx context.Context, req Request, obs Observer) (*Result, error) {
	obs = orSilent(obs)
	r := s.Open(req, false)
	// Following the mesh reads remote secrets, which takes a moment.
	done := obs.Stage("finding the mesh's clusters…")
	chosen, err := r.Choose(ctx, req)
	done()
	if err != nil {
		return nil, fmt.Errorf("choosing contexts: %v", err)
	}
	if len(chosen) == 0 {
		return nil, ErrNoContexts
	}
	obs.Chose(chosen)

	contexts := make([]string, len(chosen))
	for i, c := range chosen {
		contexts[i] = c.Context
	}
	done = obs.Stage(fmt.Sprintf("reading %d clusters…", len(contexts)))
	f := r.Collect(ctx, contexts, req)
	done()
	if rec, ok := r.(offlineReader); ok {
		// From bundles: the probes and AWS were recorded with the clusters.
		res := &Result{Chosen: chosen, Fleet: f}
		if req.Checks != nil {
			res.Checks = checks.Run(f, s.Judge.Registry(req), *req.Checks)
			res.Report = s.report(res, req)
			res.Report.Offline = rec.Offline()
		}
		return res, nil
	}
	f.Kubeconfig = fleet.KubeContexts(req.Flags) // to name the context that would read an unread member
	// AWS is read alongside the probes; the reader bounds both by the
	// probe phase's deadline.
	var aws sync.WaitGroup
	var awsNetwork *model.AWSNetwork
	if req.ReadAWS && len(f.Reachable()) > 0 {
		aws.Go(func() { awsNetwork = r.AWSNetwork(ctx, f, req) })
	}
	var privateCA *model.AWSPrivateCA
	if req.PCAARN != "" {
		aws.Go(func() { privateCA = r.PrivateCA(ctx, req) })
	}
	if !req.NoProbes && len(f.Reachable()) > 0 {
		done = obs.Stage("probing east-west gateways, remote credentials and istiod…")
		f.Probes = r.Probe(ctx, f, req)
		done()
	}
	aws.Wait()
	f.AWSNetwork, f.AWSPrivateCA = awsNetwork, privateCA

	res := &Result{Chosen: chosen, Fleet: f, Clients: r.Clients()}
	if req.Checks != nil {
		res.Checks = checks.Run(f, s.Judge.Registry(req), *req.Checks)
		res.Report = s.report(res, req)
	}
	return res, nil
}

// report assembles the report: the clusters' header rows, the findings, the
// mesh in brief, the reachability matrix and, when asked, the trust matrix.
func (s Service) report(res *Result, req Request) *checks.Report {
	f := res.Fleet
	report := checks.NewReport(res.Chosen, s.summarize(f), res.Checks)
	if len(f.Reachable()) > 0 {
		report.Mesh = s.Judge.Mesh(f)
	}
	if f.Probes != nil && len(f.Probes.Gateways) > 0 {
		m := model.NewReachabilityMatrix(f.Probes)
		report.Reachability = &m
	}
	if req.TrustMatrix {
		report.Trust = s.Judge.Trust(f, req)
	}
	return report
}

// summarize turns each cluster into the report's header row: its identity
// for the clusters that answered, the read error for the others.
func (s Service) summarize(f *model.Fleet) []checks.ClusterSummary {
	out := make([]checks.ClusterSummary, 0, len(f.Clusters))
	for _, c := range f.Clusters {
		sum := checks.ClusterSummary{Role: "unknown"}
		if c.Reachable {
			sum = s.Judge.Identify(c)
		}
		sum.Context, sum.Reachable, sum.Error = c.Context, c.Reachable, c.Error
		out = append(out, sum)
	}
	return out
}

// Recheck reads contexts anew, nothing kept from an earlier read, probes
// them (unless req.NoProbes) and runs only the checks ids: fix, after
// applying, judges the clusters as they are now.
func (s Service) Recheck(ctx context.Context, req Request, contexts []string, ids []checks.ID, obs Observer) checks.Result {
	obs = orSilent(obs)
	r := s.Open(req, true)
	done := obs.Stage("reading the clusters again…")
	f := r.Collect(ctx, contexts, req)
	done()
	if !req.NoProbes && len(f.Reachable()) > 0 {
		f.Probes = r.Probe(ctx, f, req)
	}
	only := make([]string, len(ids))
	for i, id := range ids {
		only[i] = string(id)
	}
	return checks.Run(f, s.Judge.Registry(req), checks.Selection{Only: only})
}

// Collect reads contexts and nothing more: no probes, no checks (ca issue
// reads one cluster's ID).
func (s Service) Collect(ctx context.Context, req Request, contexts []string) *model.Fleet {
	return s.Open(req, false).Collect(ctx, contexts, req)
}

type silent struct{}

func (silent) Stage(string) func()          { return func() {} }
func (silent) Chose([]checks.ContextChoice) {}

func orSilent(o Observer) Observer {
	if o == nil {
		return silent{}
	}
	return o
}

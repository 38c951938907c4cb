package cmd

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// readMesh is what doctor and topology share: choose the contexts (saying
// which and why on stderr), read them, and, unless the target says no, probe
// what was read. Progress goes to stderr, on a terminal only. An error is
// the tool failing (exit 3); clusters that cannot be read are in the fleet.
func readMesh(ctx context.Context, streams genericiooptions.IOStreams, flags *kube.Flags,
	backend Backend, target Target) ([]checks.ContextChoice, *model.Fleet, error) {
	// Following the mesh reads remote secrets, which takes a moment.
	progress := render.StartProgress(streams.ErrOut, "finding the mesh's clusters…")
	chosen, err := backend.Choose(ctx, flags, target)
	progress.Stop()
	if err != nil {
		return nil, nil, failed("choosing contexts: %v", err)
	}
	if len(chosen) == 0 {
		return nil, nil, failed("no kubeconfig context to read")
	}
	printChoices(streams.ErrOut, chosen)

	contexts := make([]string, len(chosen))
	for i, c := range chosen {
		contexts[i] = c.Context
	}
	progress = render.StartProgress(streams.ErrOut, fmt.Sprintf("reading %d clusters…", len(contexts)))
	f := backend.Collect(ctx, flags, contexts, target)
	progress.Stop()
	f.Kubeconfig = fleet.KubeContexts(flags) // to name the context that would read an unread member
	// AWS is read alongside the probes; the backend bounds both by the
	// run's deadline.
	var aws sync.WaitGroup
	var awsNetwork *model.AWSNetwork
	if target.ReadAWS && backend.AWS != nil && len(f.Reachable()) > 0 {
		aws.Go(func() { awsNetwork = backend.AWS(ctx, flags, f, target) })
	}
	var privateCA *model.AWSPrivateCA
	if target.PCAARN != "" && backend.PrivateCA != nil {
		aws.Go(func() { privateCA = backend.PrivateCA(ctx, target) })
	}
	if !target.NoProbes && backend.Probe != nil && len(f.Reachable()) > 0 {
		progress = render.StartProgress(streams.ErrOut, "probing east-west gateways, remote credentials and istiod…")
		f.Probes = backend.Probe(ctx, f, target)
		progress.Stop()
	}
	aws.Wait()
	f.AWSNetwork, f.AWSPrivateCA = awsNetwork, privateCA
	return chosen, f, nil
}

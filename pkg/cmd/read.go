package cmd

import (
	"context"
	"io"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/diagnosis"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// diagnose is what doctor, topology and fix share: one diagnosis, its
// progress and the contexts it chose (and why) on stderr. An error is the
// tool failing (exit 3); clusters that cannot be read are in the fleet.
func diagnose(ctx context.Context, streams genericiooptions.IOStreams, backend Backend, req diagnosis.Request) (*diagnosis.Result, error) {
	res, err := backend.Diagnosis.Diagnose(ctx, req, stderrObserver{streams.ErrOut})
	if err != nil {
		return nil, failed("%v", err)
	}
	return res, nil
}

// stderrObserver shows a diagnosis's progress (on a terminal only) and
// the contexts it chose on stderr.
type stderrObserver struct{ w io.Writer }

func (o stderrObserver) Stage(what string) func() {
	return render.StartProgress(o.w, what).Stop
}

func (o stderrObserver) Chose(chosen []checks.ContextChoice) { printChoices(o.w, chosen) }

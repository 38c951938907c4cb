// Command kubectl-meshfed is the kubectl plugin `kubectl meshfed`. This is the
// only place the process exits, with the code the command returned.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/cmd"
	"github.com/meshfed/kubectl-meshfed/pkg/logging"
)

func main() {
	os.Exit(run())
}

func run() (code int) {
	// A panic would exit 2, the code for "findings": make it 3 instead, so CI
	// never reads a crash as a report.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "error: internal error: %v\n", r)
			code = cmd.ExitFailed
		}
	}()
	// The first Ctrl-C cancels the reads (each cluster's error then says
	// so); restoring the default handler lets a second one kill at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	// The output goes to the real stdout, which nothing else can write to;
	// whatever a library writes to descriptor 1 goes to stderr with -v, or
	// nowhere (pkg/logging).
	stdout := logging.ReserveStdout()
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: stdout, ErrOut: os.Stderr}
	err := cmd.NewRootCmd(streams, cmd.DefaultBackend()).ExecuteContext(ctx)
	code = cmd.ExitCode(err)
	if err != nil && err.Error() != "" && code != cmd.ExitFindings {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
	}
	return code
}

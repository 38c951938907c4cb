// Package cmd is the cobra wiring of kubectl-meshfed: one file per command,
// each with Options that Complete, Validate and Run. Commands decide what to
// read and which exit code a result earns; pkg/render decides how it looks.
package cmd

import (
	"errors"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/aws/awsconfig"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/logging"
)

// NewRootCmd builds `kubectl meshfed` and its subcommands. Results go to
// streams.Out; progress, the chosen contexts and errors to streams.ErrOut.
func NewRootCmd(streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	flags := kube.NewFlags()
	root := &cobra.Command{
		Use:   "kubectl-meshfed",
		Short: "Diagnose Istio multi-cluster meshes across kubeconfig contexts",
		Long: `kubectl meshfed reads every cluster of an Istio multi-cluster mesh (one kubeconfig
context each) and reports what keeps them from working as one mesh: cluster IDs,
networks and gateways, trust roots, remote secrets, locality.

Exit codes: 0 nothing at or above --fail-on, 2 findings at or above it,
3 the tool could not do its job (bad flags, no cluster reachable),
4 fix could not apply every change (the result says which, where).

kubectl's kubeconfig flags mean what they mean to kubectl; -n is --istio-namespace.`,
		Example: `  # The mesh the current context belongs to, following its remote secrets
  kubectl meshfed doctor

  # Exactly these clusters, Istio in another namespace
  kubectl meshfed doctor --contexts east,west -n istio-prod

  # What one check means and how to fix it
  kubectl meshfed explain MF2001

  # The plan that answers the findings, then apply it
  kubectl meshfed fix
  kubectl meshfed fix --apply`,
		// The report says what is wrong; usage text after every failed check
		// would bury it. main prints errors, once.
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			// kubectl runs us as "kubectl meshfed"; help should say so.
			cobra.CommandDisplayNameAnnotation: "kubectl meshfed",
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: ExitFailed, Err: errors.New(err.Error() + " (see '" + c.CommandPath() + " --help')")}
	})
	flags.AddFlags(root.PersistentFlags())
	// -v as kubectl has it: the libraries' logs (client-go's through klog)
	// on stderr at that verbosity; none at all without it, so stdout and
	// stderr carry only what the plugin itself says.
	var verbosity int
	root.PersistentFlags().IntVarP(&verbosity, "v", "v", 0, "Log level of the client libraries (client-go's klog), on stderr; 0 logs nothing")
	logging.Setup(streams.ErrOut, 0)
	root.PersistentPreRun = func(*cobra.Command, []string) {
		logging.Setup(streams.ErrOut, verbosity)
		// The AWS SDK's own lines (retries, IMDS fall-backs, the credential
		// chain's reasons) follow the same switch: on stderr with -v only.
		var sdk io.Writer
		if verbosity > 0 {
			sdk = streams.ErrOut
		}
		awsconfig.SetLog(sdk)
	}

	root.AddCommand(
		NewDoctorCmd(flags, streams, backend),
		NewDumpCmd(flags, streams, backend),
		NewChecksCmd(streams, backend),
		NewExplainCmd(streams, backend),
		NewVersionCmd(streams),
		NewTopologyCmd(flags, streams, backend),
		NewCACmd(flags, streams, backend),
		NewFixCmd(flags, streams, backend),
		NewEndpointsCmd(flags, streams, backend),
		NewTraceCmd(flags, streams, backend),
	)
	registerCompletions(root, flags, backend.Catalog)
	return root
}

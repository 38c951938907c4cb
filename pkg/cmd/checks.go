package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// ChecksOptions are the flags of `kubectl meshfed checks`.
type ChecksOptions struct {
	Streams genericiooptions.IOStreams
	Backend Backend
	Output  string

	catalog *checks.Catalog
}

// NewChecksCmd builds `kubectl meshfed checks`: the catalog as a table.
func NewChecksCmd(streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &ChecksOptions{Streams: streams, Backend: backend}
	c := &cobra.Command{
		Use:   "checks",
		Short: "List every check doctor can run",
		Example: `  kubectl meshfed checks
  kubectl meshfed checks -o json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	addOutputFlag(c, &o.Output, outputText, outputJSON, outputYAML)
	return c
}

// Complete reads the catalog.
func (o *ChecksOptions) Complete() error {
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	o.catalog = o.Backend.Catalog()
	return nil
}

// Validate checks the output format.
func (o *ChecksOptions) Validate() error {
	if err := validateOutput(o.Output, outputText, outputJSON, outputYAML); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	return nil
}

// Run writes the catalog.
func (o *ChecksOptions) Run() error {
	entries := o.catalog.Entries()
	var err error
	switch o.Output {
	case outputJSON:
		err = render.JSON(o.Streams.Out, render.NewCatalogDocument(entries))
	case outputYAML:
		err = render.YAML(o.Streams.Out, render.NewCatalogDocument(entries))
	default:
		if len(entries) == 0 {
			// Like kubectl's "No resources found": a note, not a result.
			fmt.Fprintln(o.Streams.ErrOut, "No checks in the catalog.")
			return nil
		}
		err = render.CatalogTable(o.Streams.Out, entries)
	}
	if err != nil {
		return failed("writing the catalog: %v", err)
	}
	return nil
}

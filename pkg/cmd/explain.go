package cmd

import (
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// wellFormed is MF and four digits, whatever the area digit.
var wellFormed = regexp.MustCompile(`^MF[0-9]{4}$`)

// ExplainOptions are the arguments of `kubectl meshfed explain MF####`.
type ExplainOptions struct {
	Streams genericiooptions.IOStreams
	Backend Backend
	Output  string
	ID      checks.ID

	meta checks.Meta
}

// NewExplainCmd builds `kubectl meshfed explain`: one catalog entry in full.
func NewExplainCmd(streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &ExplainOptions{Streams: streams, Backend: backend}
	c := &cobra.Command{
		Use:   "explain MF####",
		Short: "Explain a check: why it matters and how to fix what it finds",
		Example: `  kubectl meshfed explain MF2001
  kubectl meshfed explain mf2001 -o yaml`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var ids []string
			for _, m := range backend.Catalog().Entries() {
				ids = append(ids, string(m.ID)+"\t"+m.Title)
			}
			return ids, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
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

// Complete takes the ID from the arguments; IDs are accepted in any case.
func (o *ExplainOptions) Complete(args []string) error {
	if len(args) != 1 {
		return failed("explain takes exactly one check ID, e.g. MF2001")
	}
	o.ID = checks.ID(strings.ToUpper(strings.TrimSpace(args[0])))
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	return nil
}

// Validate finds the ID in the catalog.
func (o *ExplainOptions) Validate() error {
	if err := validateOutput(o.Output, outputText, outputJSON, outputYAML); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if !o.ID.Valid() {
		if wellFormed.MatchString(string(o.ID)) {
			// MF and four digits, but no area: say what is wrong with it.
			return failed("there is no check %s: a check ID's first digit is its area, 0 to 6 ('kubectl meshfed checks' lists them)", o.ID)
		}
		return failed("%q is not a check ID (want MF and four digits, e.g. MF2001)", string(o.ID))
	}
	m, ok := o.Backend.Catalog().Lookup(o.ID)
	if !ok {
		return failed("there is no check %s ('kubectl meshfed checks' lists them)", o.ID)
	}
	o.meta = m
	return nil
}

// Run writes the entry.
func (o *ExplainOptions) Run() error {
	w := o.Streams.Out
	var err error
	switch o.Output {
	case outputJSON:
		err = render.JSON(w, render.CatalogEntry{Meta: o.meta, Doc: render.DocLink(o.meta)})
	case outputYAML:
		err = render.YAML(w, render.CatalogEntry{Meta: o.meta, Doc: render.DocLink(o.meta)})
	default:
		err = render.Explain(w, o.meta, render.NewStyles(w, render.ColorEnabled(w)))
	}
	if err != nil {
		return failed("writing the explanation: %v", err)
	}
	return nil
}

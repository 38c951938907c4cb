package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Output formats a command can write with -o.
const (
	outputText = "text"
	outputJSON = "json"
	outputYAML = "yaml"
	// outputSARIF and outputJUnit are doctor's formats for CI systems:
	// code-scanning services read SARIF, test-report pages read JUnit XML.
	outputSARIF = "sarif"
	outputJUnit = "junit"
	// outputShort and outputWide are doctor's other text layouts: a line
	// per finding, and every detail (kubectl's -o wide).
	outputShort = "short"
	outputWide  = "wide"
)

// addOutputFlag adds -o/--output with the formats the command supports (the
// first is the default) and completes them in the shell.
func addOutputFlag(c *cobra.Command, target *string, formats ...string) {
	c.Flags().StringVarP(target, "output", "o", formats[0], "Output format: "+strings.Join(formats, "|"))
	_ = c.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
}

func validateOutput(got string, formats ...string) error {
	if !slices.Contains(formats, got) {
		return fmt.Errorf("--output must be one of %s, not %q", strings.Join(formats, ", "), got)
	}
	return nil
}

package cmd

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// version is set at build time:
// -ldflags "-X github.com/meshfed/kubectl-meshfed/pkg/cmd.version=v0.1.0".
var version = "dev"

// VersionInfo is what `kubectl meshfed version -o json` writes.
type VersionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// CurrentVersion describes this binary.
func CurrentVersion() VersionInfo {
	return VersionInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// VersionOptions are the flags of `kubectl meshfed version`.
type VersionOptions struct {
	Streams genericiooptions.IOStreams
	Output  string
}

// NewVersionCmd builds `kubectl meshfed version`.
func NewVersionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{Streams: streams}
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl-meshfed",
		Args:  cobra.NoArgs,
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

// Complete normalises the output format.
func (o *VersionOptions) Complete() error {
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	return nil
}

// Validate checks the output format.
func (o *VersionOptions) Validate() error {
	if err := validateOutput(o.Output, outputText, outputJSON, outputYAML); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	return nil
}

// Run writes the version.
func (o *VersionOptions) Run() error {
	v := CurrentVersion()
	var err error
	switch o.Output {
	case outputJSON:
		err = render.JSON(o.Streams.Out, v)
	case outputYAML:
		err = render.YAML(o.Streams.Out, v)
	default:
		_, err = fmt.Fprintf(o.Streams.Out, "kubectl-meshfed %s (%s, %s)\n", v.Version, v.GoVersion, v.Platform)
	}
	if err != nil {
		return failed("writing the version: %v", err)
	}
	return nil
}

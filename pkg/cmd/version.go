package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// version and commit are set at build time (the Makefile does):
// -ldflags "-X github.com/meshfed/kubectl-meshfed/pkg/cmd.version=v0.1.0
// -X github.com/meshfed/kubectl-meshfed/pkg/cmd.commit=<full hash>".
var (
	version = "dev"
	commit  = ""
)

// projectURL is the project's home, as the krew manifest names it.
const projectURL = "https://github.com/meshfed/kubectl-meshfed"

// istioModules are the Istio modules the checks take istiod's behaviour
// from; their versions in this binary are the Istio the checks were written
// against.
var istioModules = []string{"istio.io/istio", "istio.io/api", "istio.io/client-go"}

// VersionInfo is what `kubectl meshfed version -o json` writes.
type VersionInfo struct {
	Version string `json:"version"`
	// Commit is the source's git commit, or "unknown" for a build that was
	// not stamped (go build without the Makefile, with -buildvcs=false).
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
	// Istio is the Istio the checks were written against.
	Istio IstioVersions `json:"istio"`
}

// IstioVersions names the Istio the checks were written against: the
// versions of Istio's modules linked into this binary (go.mod's pins).
type IstioVersions struct {
	// Release is the Istio minor release of istio.io/api ("1.31"), or
	// "unknown" when the binary carries no module information.
	Release string `json:"release"`
	// Modules are istio.io/istio, istio.io/api and istio.io/client-go with
	// their module versions (istio.io/istio is a pseudo-version naming the
	// commit).
	Modules []ModuleVersion `json:"modules"`
}

// ModuleVersion is one Go module and its version.
type ModuleVersion struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

// CurrentVersion describes this binary.
func CurrentVersion() VersionInfo {
	v := VersionInfo{
		Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Istio: IstioVersions{Release: "unknown", Modules: []ModuleVersion{}},
	}
	info, ok := debug.ReadBuildInfo()
	if v.Commit == "" && ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if ok {
		v.Istio = istioVersions(info.Deps)
	}
	return v
}

// istioVersions picks Istio's modules out of the binary's dependencies, in
// istioModules' order.
func istioVersions(deps []*debug.Module) IstioVersions {
	out := IstioVersions{Release: "unknown", Modules: []ModuleVersion{}}
	for _, path := range istioModules {
		for _, d := range deps {
			if d.Path != path {
				continue
			}
			if d.Replace != nil {
				d = d.Replace
			}
			out.Modules = append(out.Modules, ModuleVersion{Path: path, Version: d.Version})
			if path == "istio.io/api" {
				out.Release = minorRelease(d.Version)
			}
		}
	}
	return out
}

// minorRelease is "1.31" for "v1.31.0-rc.0.0.2026…", or "unknown".
func minorRelease(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "unknown"
	}
	return parts[0] + "." + parts[1]
}

// CurrentTool names this binary in reports that carry their tool (SARIF).
func CurrentTool() render.Tool {
	return render.Tool{Name: "kubectl-meshfed", Version: version, InformationURI: projectURL}
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
		Example: `  kubectl meshfed version

  # Version, commit, Go, platform and the Istio the checks were written against, for a bug report
  kubectl meshfed version -o json`,
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
		_, err = fmt.Fprintf(o.Streams.Out, "kubectl-meshfed %s (commit %s, %s, %s)\nchecks written against Istio %s%s\n",
			v.Version, v.Commit, v.GoVersion, v.Platform, v.Istio.Release, moduleList(v.Istio.Modules))
	}
	if err != nil {
		return failed("writing the version: %v", err)
	}
	return nil
}

func moduleList(mods []ModuleVersion) string {
	if len(mods) == 0 {
		return ""
	}
	parts := make([]string, len(mods))
	for i, m := range mods {
		parts[i] = m.Path + " " + m.Version
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

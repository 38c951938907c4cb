package cmd

import (
	"encoding/json"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

func nilStreams() genericiooptions.IOStreams { return genericiooptions.NewTestIOStreamsDiscard() }

func TestChecksTable(t *testing.T) {
	b := (&fakeMesh{t: t}).backend()
	r := run(t, b, "checks")
	r.expect(t, ExitOK, "")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("want a header and 3 rows:\n%s", r.stdout)
	}
	for i, m := range testCat(t).Entries() {
		if !strings.HasPrefix(lines[i+1], string(m.ID)) || !strings.Contains(lines[i+1], m.Title) {
			t.Errorf("row %d = %q, want %s %s", i+1, lines[i+1], m.ID, m.Title)
		}
	}
}

func TestChecksJSON(t *testing.T) {
	r := run(t, (&fakeMesh{t: t}).backend(), "checks", "-o", "json")
	r.expect(t, ExitOK, "")
	var doc render.CatalogDocument
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Checks) != 3 || doc.Checks[2].ID != "MF5001" || doc.Checks[2].Severity != checks.SeverityWarning {
		t.Errorf("catalog document = %+v", doc)
	}
}

func TestChecksEmptyCatalog(t *testing.T) {
	b := (&fakeMesh{t: t}).backend()
	b.Catalog = func() *checks.Catalog { c, _ := checks.LoadCatalog([]byte("checks: []")); return c }
	r := run(t, b, "checks")
	r.expect(t, ExitOK, "")
	if r.stdout != "" || !strings.Contains(r.stderr, "No checks") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
}

func TestExplain(t *testing.T) {
	b := (&fakeMesh{t: t}).backend()
	for _, arg := range []string{"MF1001", "mf1001"} {
		r := run(t, b, "explain", arg)
		r.expect(t, ExitOK, "")
		for _, want := range []string{"MF1001", "Cluster IDs are unique", "topology", "error",
			"Two clusters with one ID overwrite each other's endpoints. More text.", "Give each cluster its own ID.", "docs/checks.md#mf1001"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("explain %s lacks %q:\n%s", arg, want, r.stdout)
			}
		}
	}
	r := run(t, b, "explain", "MF5001", "-o", "json")
	r.expect(t, ExitOK, "")
	var e render.CatalogEntry
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.ID != "MF5001" || e.Remediation != "Label the nodes." {
		t.Errorf("explain -o json = %+v (%v)", e, err)
	}
}

func TestExplainErrors(t *testing.T) {
	b := (&fakeMesh{t: t}).backend()
	run(t, b, "explain", "MF6999").expect(t, ExitFailed, "there is no check MF6999")
	// MF and four digits is what the message asks for: it says the area is wrong.
	run(t, b, "explain", "MF9999").expect(t, ExitFailed, "there is no check MF9999: a check ID's first digit is its area, 0 to 6")
	run(t, b, "explain", "MF12").expect(t, ExitFailed, "is not a check ID")
	run(t, b, "explain").expect(t, ExitFailed, "accepts 1 arg")
	run(t, b, "explain", "MF1001", "MF2001").expect(t, ExitFailed, "accepts 1 arg")
	run(t, b, "explain", "MF1001", "-o", "table").expect(t, ExitFailed, "--output")
}

func TestVersion(t *testing.T) {
	b := (&fakeMesh{t: t}).backend()
	r := run(t, b, "version")
	r.expect(t, ExitOK, "")
	if !strings.Contains(r.stdout, version) || !strings.Contains(r.stdout, runtime.Version()) {
		t.Errorf("version = %q", r.stdout)
	}
	r = run(t, b, "version", "-o", "json")
	r.expect(t, ExitOK, "")
	var v VersionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, CurrentVersion()) || v.GoVersion != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -o json = %+v", v)
	}
	if v.Commit == "" {
		t.Error("version -o json names no commit (not even \"unknown\")")
	}
	// A test binary carries no module list (go test does not embed it), so
	// here the Istio versions must say "unknown", not guess; test/e2e's
	// TestVersionNamesCommitAndIstio reads them from the built binary.
	if v.Istio.Release != "unknown" || len(v.Istio.Modules) != 0 {
		if len(v.Istio.Modules) != len(istioModules) || !regexp.MustCompile(`^1\.[0-9]+$`).MatchString(v.Istio.Release) {
			t.Errorf("istio %+v", v.Istio)
		}
	}
	if r := run(t, b, "version"); !strings.Contains(r.stdout, "checks written against Istio "+v.Istio.Release) {
		t.Errorf("version does not name the Istio release: %q", r.stdout)
	}
}

func TestIstioVersions(t *testing.T) {
	deps := []*debug.Module{
		{Path: "k8s.io/api", Version: "v0.36.3"},
		{Path: "istio.io/api", Version: "v1.31.0-rc.0.0.20260824154656-b943409680a7"},
		{Path: "istio.io/istio", Version: "v0.0.0-20260827124520-eed52ebb66ad", Replace: &debug.Module{Path: "istio.io/istio", Version: "v1.30.2"}},
	}
	got := istioVersions(deps)
	want := IstioVersions{Release: "1.31", Modules: []ModuleVersion{
		{Path: "istio.io/istio", Version: "v1.30.2"},
		{Path: "istio.io/api", Version: "v1.31.0-rc.0.0.20260824154656-b943409680a7"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("istioVersions = %+v, want %+v", got, want)
	}
	if got := istioVersions(nil); got.Release != "unknown" || len(got.Modules) != 0 {
		t.Errorf("no modules: %+v", got)
	}
	for in, want := range map[string]string{"v1.31.0": "1.31", "v2": "unknown", "": "unknown"} {
		if got := minorRelease(in); got != want {
			t.Errorf("minorRelease(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	run(t, (&fakeMesh{t: t}).backend(), "frobnicate").expect(t, ExitFailed, "unknown command")
}

// The standard kubectl flags are there, on every command.
func TestKubectlFlags(t *testing.T) {
	root := NewRootCmd(nilStreams(), (&fakeMesh{t: t}).backend())
	doctor, _, err := root.Find([]string{"doctor"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kubeconfig", "context", "cluster", "user", "namespace", "request-timeout",
		"contexts", "all-contexts", "output", "timeout", "no-probes", "fail-on", "checks", "skip", "istio-namespace"} {
		if doctor.Flag(name) == nil {
			t.Errorf("doctor has no --%s", name)
		}
	}
	if !strings.HasPrefix(doctor.CommandPath(), "kubectl meshfed") {
		t.Errorf("command path %q; kubectl runs the plugin as 'kubectl meshfed'", doctor.CommandPath())
	}
}

// TestEveryCommandHasExamples: kubectl's commands all show examples; so do
// the plugin's, the root and the command groups included.
func TestEveryCommandHasExamples(t *testing.T) {
	root := NewRootCmd(genericiooptions.NewTestIOStreamsDiscard(), (&fakeMesh{t: t}).backend())
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" && c.Name() != "help" && c.Name() != "completion" && c.Parent() != nil && c.Parent().Name() != "completion" {
			t.Errorf("%q has no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

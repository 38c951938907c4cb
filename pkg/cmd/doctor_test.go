package cmd

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

func TestDoctorFlagValidation(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"-o", "xml"}, "--output must be one of"},
		{[]string{"--fail-on", "info"}, "--fail-on must be error or warning"},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--timeout", "-1s"}, "--timeout must be positive"},
		{[]string{"--cert-warn-days", "3", "--cert-error-days", "7"}, "at most --cert-warn-days"},
		{[]string{"--cert-error-days", "-1"}, "at least 0"},
		{[]string{"--contexts", "a", "--all-contexts"}, "cannot be used together"},
		{[]string{"--istio-namespace", "Istio_System"}, "is not a namespace name"},
		{[]string{"--checks", "MF9999"}, `"MF9999" is neither a check ID nor an area`},
		{[]string{"--skip", "routing"}, `"routing" is neither`},
		{[]string{"--timeout", "soon"}, "invalid argument"},
		{[]string{"--no-such-flag"}, "unknown flag"},
		{[]string{"extra-arg"}, "unknown command"},
		{[]string{"--istiod-debug-address", "east"}, "want CONTEXT=URL"},
		{[]string{"--istiod-debug-address", "=http://x:1"}, "want CONTEXT=URL"},
		{[]string{"--istiod-debug-address", "east=10.0.0.1:15014"}, "is not an http(s) URL"},
		{[]string{"--istiod-debug-address", "east=http://a:1", "--istiod-debug-address", "east=http://b:1"}, "twice"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			m := &fakeMesh{t: t}
			r := run(t, m.backend(), append([]string{"doctor"}, tc.args...)...)
			r.expect(t, ExitFailed, tc.err)
			if m.chosen {
				t.Error("contexts were chosen despite invalid flags")
			}
		})
	}
}

func TestDoctorValidFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-o", "JSON", "--fail-on", "Warning"},
		{"-o", "yaml", "--checks", "trust,mf1001", "--skip", "MF2001"},
		{"--all-contexts", "--timeout", "2s", "--no-probes", "--istio-namespace", "mesh-system"},
	} {
		m := &fakeMesh{t: t}
		m.cluster("east", nil)
		m.cluster("west", nil)
		run(t, m.backend(), append([]string{"doctor"}, args...)...).expect(t, ExitOK, "")
		if !m.chosen {
			t.Errorf("%v: no contexts chosen", args)
		}
	}
}

func TestDoctorPassesTargetAndChoice(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("a", nil)
	m.cluster("b", nil)
	r := run(t, m.backend(), "doctor", "--contexts", " a, b,", "--timeout", "3s", "--istio-namespace", "mesh",
		"--istiod-debug-address", "a=http://10.0.0.1:15014", "--istiod-debug-address", "b=https://istiod.b:15014/x")
	r.expect(t, ExitOK, "")
	if m.target.IstiodDebug["a"] != "http://10.0.0.1:15014" || m.target.IstiodDebug["b"] != "https://istiod.b:15014/x" || len(m.target.IstiodDebug) != 2 {
		t.Errorf("istiod debug addresses %v", m.target.IstiodDebug)
	}
	want := Target{Contexts: []string{"a", "b"}, Timeout: 3 * time.Second, IstioNamespace: "mesh"}
	if strings.Join(m.target.Contexts, ",") != "a,b" || m.target.Timeout != want.Timeout || m.target.IstioNamespace != want.IstioNamespace {
		t.Errorf("Choose got %+v, want %+v", m.target, want)
	}
	if strings.Join(m.collected, ",") != "a,b" {
		t.Errorf("collected %v, want the chosen contexts a,b", m.collected)
	}
	// Which contexts and why go to stderr, never into the report.
	if !strings.Contains(r.stderr, "Reading 2 contexts") || !strings.Contains(r.stderr, "because the test said so") {
		t.Errorf("stderr does not say which contexts were chosen:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "because the test said so") {
		t.Errorf("the text report repeats the choice reasons:\n%s", r.stdout)
	}
	// Not a terminal: no spinner frames, no colour.
	if strings.Contains(r.stderr, "⠋") || strings.Contains(r.stdout, "\x1b") {
		t.Error("progress or colour written to a non-terminal")
	}
}

func TestDoctorExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]map[string]string // per reachable context
		args   []string
		want   int
	}{
		{"healthy", map[string]map[string]string{"east": nil, "west": nil}, nil, ExitOK},
		{"an error", map[string]map[string]string{"east": {"root": "bad"}, "west": nil}, nil, ExitFindings},
		{"a warning", map[string]map[string]string{"east": {"zone": "bad"}, "west": nil}, nil, ExitOK},
		{"a warning, --fail-on warning", map[string]map[string]string{"east": {"zone": "bad"}, "west": nil}, []string{"--fail-on", "warning"}, ExitFindings},
		{"an error in a skipped area", map[string]map[string]string{"east": {"root": "bad"}, "west": nil}, []string{"--skip", "trust"}, ExitOK},
		{"an error outside --checks", map[string]map[string]string{"east": {"root": "bad"}, "west": nil}, []string{"--checks", "MF1001,locality"}, ExitOK},
		{"one cluster unreachable", map[string]map[string]string{"east": nil}, nil, ExitOK},
		{"no cluster reachable", nil, nil, ExitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &fakeMesh{t: t}
			for ctx, labels := range tc.labels {
				m.cluster(ctx, labels)
			}
			r := run(t, m.backend(), append([]string{"doctor", "-o", "json"}, tc.args...)...)
			r.expect(t, tc.want, "")
			// Whatever the exit code, a report was written.
			var rep checks.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("stdout is not a JSON report: %v\n%s", err, r.stdout)
			}
			if len(rep.Clusters) != 2 {
				t.Errorf("report has %d clusters, want 2", len(rep.Clusters))
			}
		})
	}
}

func TestDoctorReportContents(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", map[string]string{"root": "bad"})
	r := run(t, m.backend(), "doctor", "-o", "json", "--skip", "locality")
	r.expect(t, ExitFindings, "")
	var rep checks.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	east, west := rep.Clusters[0], rep.Clusters[1]
	if east.Context != "east" || !east.Reachable || east.ClusterID != "id-east" || east.Role != "primary" {
		t.Errorf("east = %+v", east)
	}
	if west.Context != "west" || west.Reachable || west.Role != "unknown" || !strings.Contains(west.Error, "connection refused") {
		t.Errorf("west = %+v", west)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Check != "MF2001" || rep.Findings[0].Contexts[0] != "east" {
		t.Errorf("findings = %+v", rep.Findings)
	}
	if len(rep.Checks) != 2 {
		t.Errorf("ran %d checks, want 2 (locality skipped)", len(rep.Checks))
	}
	if len(rep.Selection) != 2 || rep.Selection[1].Reason == "" {
		t.Errorf("selection = %+v", rep.Selection)
	}
}

func TestDoctorText(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", map[string]string{"id": "bad"})
	m.cluster("west", nil)
	r := run(t, m.backend(), "doctor")
	r.expect(t, ExitFindings, "")
	for _, want := range []string{"id-east", "✗ MF1001", "id is bad in east", "kubectl meshfed explain MF1001", "1 error"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.HasPrefix(r.stdout, "✗ FAILING · 1 error") {
		t.Errorf("text report does not open with its verdict:\n%s", r.stdout)
	}
	// -o wide is every detail, the check's why included.
	wide := run(t, m.backend(), "doctor", "-o", "wide")
	wide.expect(t, ExitFindings, "")
	for _, want := range []string{"✗ MF1001", "id is bad in east", "why: Two clusters with one ID overwrite each other's endpoints.", "kubectl meshfed explain MF1001", "1 error"} {
		if !strings.Contains(wide.stdout, want) {
			t.Errorf("-o wide lacks %q:\n%s", want, wide.stdout)
		}
	}
	// -o short: a line per finding, then the summary.
	short := run(t, m.backend(), "doctor", "-o", "short")
	short.expect(t, ExitFindings, "")
	if lines := strings.Split(strings.TrimSpace(short.stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "✗ MF1001 [east] ") || !strings.HasPrefix(lines[1], "1 error") {
		t.Errorf("-o short is not a line per finding and the summary:\n%s", short.stdout)
	}
}

// TestDoctorWaitEndsWhenHealthy: a mesh that is healthy needs one run, and
// --wait with --from is refused (a bundle does not change).
func TestDoctorWait(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", nil)
	m.cluster("west", nil)
	r := run(t, m.backend(), "doctor", "--wait", "1m", "-o", "json")
	r.expect(t, ExitOK, "")
	if len(m.collected) != 2 {
		t.Errorf("a healthy mesh was read %d times under --wait, want once (2 clusters)", len(m.collected))
	}
	run(t, m.backend(), "doctor", "--wait", "1m", "--bundle", "x.tar.gz").expect(t, ExitFailed, "--wait")
	run(t, m.backend(), "doctor", "--wait", "-1s").expect(t, ExitFailed, "--wait")
}

func TestDoctorCannotChoose(t *testing.T) {
	m := &fakeMesh{t: t, chooseErr: errors.New(`context "nope" is not in the kubeconfig`)}
	r := run(t, m.backend(), "doctor", "--contexts", "nope")
	r.expect(t, ExitFailed, `context "nope" is not in the kubeconfig`)
	if r.stdout != "" {
		t.Errorf("wrote a report without contexts:\n%s", r.stdout)
	}
}

func TestDoctorProbes(t *testing.T) {
	m := &fakeMesh{t: t, refuseGateway: true}
	m.cluster("east", nil)
	m.cluster("west", nil)
	r := run(t, m.backend(), "doctor", "-o", "json")
	r.expect(t, ExitFindings, "")
	if m.probed != 1 {
		t.Errorf("probes ran %d times, want once", m.probed)
	}
	if !strings.Contains(r.stdout, "gateway refused, probed from the test") {
		t.Errorf("the probe's result did not reach the checks:\n%s", r.stdout)
	}

	m = &fakeMesh{t: t, refuseGateway: true}
	m.cluster("east", nil)
	m.cluster("west", nil)
	run(t, m.backend(), "doctor", "--no-probes").expect(t, ExitOK, "")
	if m.probed != 0 {
		t.Error("--no-probes, yet probes ran")
	}

	// Nothing reachable: nothing to probe.
	m = &fakeMesh{t: t}
	run(t, m.backend(), "doctor").expect(t, ExitFailed, "no cluster could be reached")
	if m.probed != 0 {
		t.Error("probed a fleet with no reachable cluster")
	}
}

// -o sarif and -o junit write the same run as -o json, with the same exit
// code; pkg/render's tests validate them against the published schemas.
func TestDoctorCIOutputs(t *testing.T) {
	m := &fakeMesh{t: t}
	m.cluster("east", map[string]string{"root": "bad"})

	r := run(t, m.backend(), "doctor", "-o", "sarif", "--skip", "locality")
	r.expect(t, ExitFindings, "")
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID string `json:"ruleId"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil {
		t.Fatalf("-o sarif is not JSON: %v\n%s", err, r.stdout)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "kubectl-meshfed" || log.Runs[0].Tool.Driver.Version != version {
		t.Errorf("sarif header %+v", log)
	}
	if res := log.Runs[0].Results; len(res) != 1 || res[0].RuleID != "MF2001" {
		t.Errorf("sarif results %+v, want the one MF2001 finding", res)
	}

	r = run(t, m.backend(), "doctor", "-o", "JUnit", "--skip", "locality")
	r.expect(t, ExitFindings, "")
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(r.stdout), &suites); err != nil {
		t.Fatalf("-o junit is not XML: %v\n%s", err, r.stdout)
	}
	if suites.Tests != 2 || suites.Failures != 1 {
		t.Errorf("junit: %d tests, %d failures; want 2 checks, MF2001 failed", suites.Tests, suites.Failures)
	}

	run(t, m.backend(), "doctor", "-o", "html").expect(t, ExitFailed, "sarif, junit")
}

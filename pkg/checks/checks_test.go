package checks

import (
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func TestDefaultCatalogLoads(t *testing.T) {
	cat, err := LoadCatalog(catalogYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Entries()) == 0 {
		t.Fatal("the catalog is empty")
	}
	for _, m := range cat.Entries() {
		if m.Severity < SeverityInfo || m.Severity == SeverityUnknown {
			t.Errorf("%s: a catalog severity must be info, warning or error", m.ID)
		}
	}
}

func TestCatalogRejects(t *testing.T) {
	entry := func(id, area, extra string) string {
		return "- {id: " + id + ", area: " + area + ", title: t, severity: error, explanation: e, remediation: r" + extra + "}\n"
	}
	for name, tc := range map[string]struct{ doc, want string }{
		"malformed ID":   {entry("MF12", "topology", ""), "not a check ID"},
		"area mismatch":  {entry("MF1001", "trust", ""), "first digit"},
		"duplicate":      {entry("MF1001", "topology", "") + entry("MF1001", "topology", ""), "twice"},
		"unknown field":  {entry("MF1001", "topology", ", colour: red"), "unknown field"},
		"unknown kind":   {entry("MF1001", "topology", ", needs: [widgets]"), "does not read"},
		"unknown input":  {entry("MF6001", "aws", ", input: gcp-network"), "does not read"},
		"bad severity":   {strings.Replace(entry("MF1001", "topology", ""), "error", "fatal", 1), "unknown severity"},
		"no explanation": {strings.Replace(entry("MF1001", "topology", ""), "explanation: e", "explanation: ''", 1), "required"},
	} {
		_, err := LoadCatalog([]byte("checks:\n" + tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
}

func testRegistry(t *testing.T, impls ...Check) *Registry {
	t.Helper()
	cat, err := LoadCatalog([]byte(`checks:
- {id: MF1001, area: topology, title: t, severity: error, explanation: e, remediation: r, needs: [secrets]}
- {id: MF5001, area: locality, title: t, severity: warning, explanation: e, remediation: r, needs: [nodes]}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRegistry(cat, impls...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunnerMarksUnreadableClustersUnknown(t *testing.T) {
	var sawContexts []string
	reg := testRegistry(t,
		Func{"MF1001", func(f *model.Fleet) []Finding {
			for _, c := range f.Clusters {
				sawContexts = append(sawContexts, c.Context)
			}
			return nil
		}},
		Func{"MF5001", func(f *model.Fleet) []Finding { panic("boom") }},
	)
	f := &model.Fleet{Clusters: []*model.Cluster{
		{Context: "ok", Reachable: true},
		{Context: "forbidden", Reachable: true, Failures: map[model.Kind]string{model.KindSecrets: "forbidden (403)"}},
		{Context: "down", Error: "connection refused"},
	}}
	res := Run(f, reg, Selection{})
	if strings.Join(sawContexts, ",") != "ok" {
		t.Errorf("MF1001 saw %v, want only the cluster where secrets were read", sawContexts)
	}
	byID := map[ID]CheckResult{}
	for _, r := range res.Checks {
		byID[r.ID] = r
	}
	if r := byID["MF1001"]; r.Status != StatusUnknown || len(r.Unknown) != 2 {
		t.Errorf("MF1001: %+v, want unknown for two contexts", r)
	}
	if r := byID["MF5001"]; r.Status != StatusUnknown || len(res.Findings) != 1 || res.Findings[0].Severity != SeverityUnknown {
		t.Errorf("a panicking check should become an unknown finding: %+v %+v", r, res.Findings)
	}
	report := NewReport(nil, nil, res)
	if report.Summary.Checks != 2 || report.Summary.Passed != 0 || report.Summary.Unknowns != 1 {
		t.Errorf("summary %+v", report.Summary)
	}
}

// TestRunnerDoesNotRunWithoutInput: a check whose input was not read is
// reported as not run, with the way to run it, and is never called; with
// its input it runs.
func TestRunnerDoesNotRunWithoutInput(t *testing.T) {
	cat, err := LoadCatalog([]byte(`checks:
- {id: MF6001, area: aws, title: t, severity: error, explanation: e, remediation: r, input: aws-private-ca}
`))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	reg, err := NewRegistry(cat, Func{"MF6001", func(*model.Fleet) []Finding { calls++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	res := Run(&model.Fleet{}, reg, Selection{})
	if r := res.Checks[0]; calls != 0 || r.Status != StatusNotRun || !strings.Contains(r.NotRun, "--pca-arn") {
		t.Errorf("without a Private CA: %d calls, %+v", calls, r)
	}
	if s := NewReport(nil, nil, res).Summary; s.NotRun != 1 || s.Passed != 0 {
		t.Errorf("summary %+v, want one not run and none passed", s)
	}
	res = Run(&model.Fleet{AWSPrivateCA: &model.AWSPrivateCA{ARN: "arn"}}, reg, Selection{})
	if r := res.Checks[0]; calls != 1 || r.Status != StatusPass {
		t.Errorf("with a Private CA: %d calls, %+v", calls, r)
	}
}

func TestSelection(t *testing.T) {
	reg := testRegistry(t, Func{"MF1001", nil}, Func{"MF5001", nil})
	if err := (Selection{Only: []string{"mf1001", "Locality"}}).Validate(reg.Catalog); err != nil {
		t.Error(err)
	}
	if err := (Selection{Skip: []string{"MF9999"}}).Validate(reg.Catalog); err == nil {
		t.Error("an unknown ID should be rejected")
	}
	m1, _ := reg.Catalog.Lookup("MF1001")
	m5, _ := reg.Catalog.Lookup("MF5001")
	s := Selection{Only: []string{"topology", "locality"}, Skip: []string{"MF5001"}}
	if !s.Includes(m1) || s.Includes(m5) {
		t.Errorf("selection %+v: MF1001 %v MF5001 %v", s, s.Includes(m1), s.Includes(m5))
	}
}

func TestRunnerViewKeepsProbes(t *testing.T) {
	probes := &model.Probes{From: "this machine"}
	var saw *model.Probes
	reg := testRegistry(t,
		Func{"MF1001", func(f *model.Fleet) []Finding { saw = f.Probes; return nil }},
		Func{"MF5001", func(*model.Fleet) []Finding { return nil }},
	)
	f := &model.Fleet{Probes: probes, Clusters: []*model.Cluster{{Context: "a", Reachable: true}}}
	Run(f, reg, Selection{Only: []string{"MF1001"}})
	if saw != probes {
		t.Error("a check with needs did not see the probes' results")
	}
}

// TestRunnerReportedElsewhereIsNotAPass: a check that leaves what it saw to
// another check is neither passed nor a finding of its own; with a finding
// of its own as well, it fails as usual and still names the other.
func TestRunnerReportedElsewhereIsNotAPass(t *testing.T) {
	own := false
	reg := testRegistry(t,
		Func{"MF1001", func(*model.Fleet) []Finding {
			out := []Finding{ReportedUnder("MF5001", "east"), ReportedUnder("MF5001", "west")}
			if own {
				out = append(out, Finding{Contexts: []string{"east"}, Message: "own"})
			}
			return out
		}},
		Func{"MF5001", func(*model.Fleet) []Finding { return nil }},
	)
	res := Run(&model.Fleet{}, reg, Selection{Only: []string{"MF1001"}})
	r := res.Checks[0]
	if r.Status != StatusReportedElsewhere || len(r.ReportedUnder) != 1 || r.ReportedUnder[0] != "MF5001" || len(res.Findings) != 0 {
		t.Errorf("check %+v, findings %+v: want reported-elsewhere under MF5001, no findings", r, res.Findings)
	}
	if s := NewReport(nil, nil, res).Summary; s.Passed != 0 || s.ReportedElsewhere != 1 {
		t.Errorf("summary %+v: want 0 passed, 1 reported elsewhere", s)
	}
	own = true
	res = Run(&model.Fleet{}, reg, Selection{Only: []string{"MF1001"}})
	if r := res.Checks[0]; r.Status != StatusFail || len(r.ReportedUnder) != 1 || len(res.Findings) != 1 {
		t.Errorf("with its own finding: %+v, %d findings", r, len(res.Findings))
	}
}

package render

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	gosarif "github.com/owenrumney/go-sarif/v2/sarif"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

var testTool = Tool{Name: "kubectl-meshfed", Version: "v0.0.0-test", InformationURI: "https://github.com/meshfed/kubectl-meshfed"}

// sarifSchema compiles the published SARIF 2.1.0 schema shipped as test data.
func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/schema/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SARIFSchemaURI, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SARIFSchemaURI)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateSARIF(t *testing.T, s *jsonschema.Schema, b []byte) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(doc)
}

func renderSARIF(t *testing.T, r *checks.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := SARIF(&b, r, mustCatalog(t), testTool); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withUnknownFinding is the mixed report plus a finding that says a check
// could not decide.
func withUnknownFinding() *checks.Report {
	r := mixedReport()
	r.Findings = append(r.Findings, checks.Finding{
		Check: "MF1001", Area: checks.AreaTopology, Severity: checks.SeverityUnknown, Contexts: []string{"east"},
		Message: "istiod's CLUSTER_ID in east cannot be read: no istiod Deployment in istio-system",
	})
	return r
}

func TestSARIFGolden(t *testing.T) {
	golden(t, "mixed.sarif", renderSARIF(t, mixedReport()))
}

// TestSARIFMatchesPublishedSchema validates every report shape against the
// OASIS schema, and shows the validator rejects what the schema forbids.
func TestSARIFMatchesPublishedSchema(t *testing.T) {
	s := sarifSchema(t)
	for name, r := range map[string]*checks.Report{
		"mixed": mixedReport(), "healthy": healthyReport(t), "unknown finding": withUnknownFinding(),
	} {
		if err := validateSARIF(t, s, renderSARIF(t, r)); err != nil {
			t.Errorf("%s: the SARIF log does not match the 2.1.0 schema: %v", name, err)
		}
	}

	// The catalog built into the binary: every rule's help and address.
	var b bytes.Buffer
	if err := SARIF(&b, mixedReport(), checks.DefaultCatalog(), testTool); err != nil {
		t.Fatal(err)
	}
	if err := validateSARIF(t, s, b.Bytes()); err != nil {
		t.Errorf("with the built-in catalog: %v", err)
	}

	broken := strings.Replace(string(renderSARIF(t, mixedReport())), `"level": "warning"`, `"level": "serious"`, 1)
	if err := validateSARIF(t, s, []byte(broken)); err == nil {
		t.Error("a result with level \"serious\" passed the schema: the validator checks nothing")
	}
}

// TestSARIFReadBack reads the log with go-sarif, a SARIF library other tools
// use to consume logs, and checks what a code-scanning service would show.
func TestSARIFReadBack(t *testing.T) {
	log, err := gosarif.FromBytes(renderSARIF(t, withUnknownFinding()))
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != "kubectl-meshfed" || run.Tool.Driver.Version == nil || *run.Tool.Driver.Version != "v0.0.0-test" {
		t.Errorf("driver %q version %v", run.Tool.Driver.Name, run.Tool.Driver.Version)
	}
	cat := mustCatalog(t)
	if len(run.Tool.Driver.Rules) != len(cat.Entries()) {
		t.Fatalf("%d rules, want one per catalog entry (%d)", len(run.Tool.Driver.Rules), len(cat.Entries()))
	}
	for i, m := range cat.Entries() {
		rule := run.Tool.Driver.Rules[i]
		if rule.ID != string(m.ID) || rule.HelpURI == nil || *rule.HelpURI != DocLink(m) {
			t.Errorf("rule %d: id %s help %v, want %s %s", i, rule.ID, rule.HelpURI, m.ID, DocLink(m))
		}
		if rule.Help == nil || rule.Help.Text == nil || !strings.Contains(*rule.Help.Text, strings.TrimSpace(m.Remediation)) {
			t.Errorf("rule %s: help does not hold the remediation", m.ID)
		}
	}

	if len(run.Results) != 5 {
		t.Fatalf("%d results, want one per finding (5)", len(run.Results))
	}
	want := []struct{ rule, kind, level, fqn string }{
		{"MF0001", "fail", "error", "north"},
		{"MF2001", "fail", "error", "east/Secret/istio-system/cacerts"},
		{"MF3001", "fail", "warning", "west"},
		{"MF5001", "fail", "note", "east/Node/node-7"},
		{"MF1001", "open", "none", "east"},
	}
	for i, w := range want {
		res := run.Results[i]
		if *res.RuleID != w.rule || *res.Kind != w.kind || *res.Level != w.level {
			t.Errorf("result %d: %s kind %s level %s, want %s %s %s", i, *res.RuleID, *res.Kind, *res.Level, w.rule, w.kind, w.level)
		}
		if rule := run.Tool.Driver.Rules[*res.RuleIndex]; rule.ID != w.rule {
			t.Errorf("result %d: ruleIndex points at %s, want %s", i, rule.ID, w.rule)
		}
		if got := res.Locations[0].LogicalLocations[0].FullyQualifiedName; got == nil || *got != w.fqn {
			t.Errorf("result %d: first location %v, want %s", i, got, w.fqn)
		}
	}
	// MF2001 names two contexts: one logical location for each.
	if n := len(run.Results[1].Locations); n != 2 {
		t.Errorf("MF2001 has %d locations, want one per context (2)", n)
	}

	// The contexts a check could not look at are said, not silent.
	var raw map[string]any
	if err := json.Unmarshal(renderSARIF(t, mixedReport()), &raw); err != nil {
		t.Fatal(err)
	}
	inv := raw["runs"].([]any)[0].(map[string]any)["invocations"].([]any)[0].(map[string]any)
	notes, _ := json.Marshal(inv["toolExecutionNotifications"])
	for _, s := range []string{"MF1001 could not look at context north", "MF6001 did not run"} {
		if !strings.Contains(string(notes), s) {
			t.Errorf("notifications %s do not say %q", notes, s)
		}
	}
}

func TestSARIFFingerprintIgnoresMessage(t *testing.T) {
	f := mixedReport().Findings[1]
	g := f
	g.Message = "root 3f:2a:9b in east differs from root 77:00:01 in west"
	if findingFingerprint(f) != findingFingerprint(g) {
		t.Error("the same finding with a new value in its message got a new fingerprint")
	}
	g.Contexts = []string{"east", "north"}
	if findingFingerprint(f) == findingFingerprint(g) {
		t.Error("findings about different contexts share a fingerprint")
	}
}

package render

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// demoReport is the report of the lab's demo scenario (`go run
// ./internal/lab/cmd/lab demo`, -o json), with and without a refused context.
func demoReport(t testing.TB, name string) *checks.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var r checks.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

func renderDemo(t *testing.T, name string, o TextOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := TextReport(&b, demoReport(t, name), nil, plainStyles(), o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestIncidentGolden pins the demo report at a 100- and a 160-column
// terminal, with a refused context, unwrapped (no terminal) and -o short.
func TestIncidentGolden(t *testing.T) {
	for name, tc := range map[string]struct {
		report string
		o      TextOptions
	}{
		"demo-100.txt":         {"demo.json", TextOptions{Width: 100}},
		"demo-160.txt":         {"demo.json", TextOptions{Width: 160}},
		"demo-nowidth.txt":     {"demo.json", TextOptions{}},
		"demo-refused-160.txt": {"demo-refused.json", TextOptions{Width: 160}},
		"demo-short-160.txt":   {"demo-refused.json", TextOptions{Layout: LayoutShort, Width: 160}},
	} {
		t.Run(name, func(t *testing.T) {
			golden(t, name, []byte(renderDemo(t, tc.report, tc.o)))
		})
	}
}

// The goldens pin the layout; these pin what the incident layout promises.
func TestIncidentPutsTheVerdictAndErrorsFirst(t *testing.T) {
	out := renderDemo(t, "demo.json", TextOptions{Width: 160})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "✗ FAILING · 5 errors, 2 warnings") {
		t.Errorf("first line is not the verdict and counts: %q", lines[0])
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "5 errors, 2 warnings, 0 unknown · 85 checks") {
		t.Errorf("last line is not the summary: %q", last)
	}
	firstError, firstWarning := -1, -1
	for i, l := range lines {
		if firstError < 0 && strings.HasPrefix(l, "  ✗ MF") {
			firstError = i
		}
		if firstWarning < 0 && strings.HasPrefix(l, "  ! MF") {
			firstWarning = i
		}
		if n := utf8.RuneCountInString(l); n > 160 && !strings.Contains(l, "Trust matrix") {
			t.Errorf("line %d is %d columns wide, over the terminal's 160: %q", i+1, n, l)
		}
	}
	if firstError < 0 || firstError > 12 || firstWarning < firstError {
		t.Errorf("first error on line %d, first warning on line %d: errors should open the report", firstError+1, firstWarning+1)
	}
	// The 4 error checks, each once, before any warning; one line per pair.
	for _, id := range []string{"MF2001", "MF3002", "MF4001", "MF5002"} {
		if strings.Count(out, "✗ "+id+" ") != 1 {
			t.Errorf("%s is not shown once as an error", id)
		}
	}
	if !strings.Contains(out, "\n    ✗ central → east: fails") || !strings.Contains(out, "\n      east → central: fails") {
		t.Errorf("MF2001's cluster pairs are not a line each:\n%s", out)
	}
	// Passed checks: one row per area, every ID kept.
	for _, id := range []string{"MF0001", "MF4051", "MF6005"} {
		if !strings.Contains(out, id) {
			t.Errorf("passed check %s is missing", id)
		}
	}
}

func TestIncidentCollapsesAnUnreachableCluster(t *testing.T) {
	out := renderDemo(t, "demo-refused.json", TextOptions{Width: 160})
	if n := strings.Count(out, "\n"); n > 100 {
		t.Errorf("one refused context makes %d lines", n)
	}
	if strings.Count(out, "refused is unreachable") != 1 || strings.Contains(out, "not checked on refused") {
		t.Errorf("the unreachable cluster is not said once:\n%s", out)
	}
	// The summary's unknown count is the ? the report shows (67 checks).
	marked := 0
	for _, m := range regexp.MustCompile(`\? ((?:MF\d+\s+)+)\(not on refused\)`).FindAllStringSubmatch(out, -1) {
		marked += len(strings.Fields(m[1]))
	}
	if !strings.Contains(out, "67 unknown") || marked != 67 {
		t.Errorf("unknown count does not match what is shown:\n%s", out)
	}
	// MF0001 (the cluster cannot be read) explains every ?: it comes first.
	if i, j := strings.Index(out, "✗ MF0001"), strings.Index(out, "✗ MF2001"); i < 0 || i > j {
		t.Errorf("MF0001 is not the first error:\n%s", out)
	}
}

func TestShortIsOneLinePerFinding(t *testing.T) {
	r := demoReport(t, "demo-refused.json")
	out := renderDemo(t, "demo-refused.json", TextOptions{Layout: LayoutShort})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// findings, the unreachable cluster, the summary
	if want := len(r.Findings) + 1 + 1; len(lines) != want {
		t.Errorf("%d lines, want %d:\n%s", len(lines), want, out)
	}
	if !strings.HasPrefix(lines[0], "✗ MF0001 [refused]") || !strings.HasPrefix(lines[len(lines)-1], "6 errors") {
		t.Errorf("worst first, summary last:\n%s", out)
	}
	if strings.Contains(out, "…") {
		t.Errorf("without a terminal nothing is cut:\n%s", out)
	}
}

func TestWideIsTheFullReport(t *testing.T) {
	var wide, full bytes.Buffer
	r := demoReport(t, "demo.json")
	if err := TextReport(&wide, r, nil, plainStyles(), TextOptions{Layout: LayoutWide, Width: 100}); err != nil {
		t.Fatal(err)
	}
	if err := Text(&full, r, nil, plainStyles()); err != nil {
		t.Fatal(err)
	}
	if wide.String() != full.String() || !strings.Contains(wide.String(), "- central trusts ConfigMap") {
		t.Error("-o wide is not the full report with its evidence")
	}
}

func TestClauses(t *testing.T) {
	for in, want := range map[string][]string{
		"a; b":                {"a", "b"},
		"a (x; y); b":         {"a (x; y)", "b"},
		`a "x; y"; b`:         {`a "x; y"`, "b"},
		"one":                 {"one"},
		"a;b":                 {"a;b"},
		"a → b: fails; b → a": {"a → b: fails", "b → a"},
	} {
		if got := Clauses(in); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("Clauses(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTextWidth(t *testing.T) {
	t.Setenv(WidthEnv, "")
	if w := TextWidth(&bytes.Buffer{}); w != 0 {
		t.Errorf("no terminal, no %s: width %d, want 0 (unwrapped)", WidthEnv, w)
	}
	t.Setenv(WidthEnv, "123")
	if w := TextWidth(&bytes.Buffer{}); w != 123 {
		t.Errorf("%s=123: width %d", WidthEnv, w)
	}
	t.Setenv(WidthEnv, "wide")
	if w := TextWidth(&bytes.Buffer{}); w != 0 {
		t.Errorf("%s=wide (not a number): width %d, want 0", WidthEnv, w)
	}
}

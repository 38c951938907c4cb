package render

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/joshdk/go-junit"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

func renderJUnit(t *testing.T, r *checks.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := JUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestJUnitGolden(t *testing.T) {
	golden(t, "mixed.junit.xml", renderJUnit(t, mixedReport()))
}

// xmllintSchema validates doc against the JUnit schema Jenkins uses, with
// libxml2's xmllint (Debian's libxml2-utils; `make test` installs it).
func xmllintSchema(t *testing.T, doc []byte) error {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint is not installed: apt-get install libxml2-utils (make test and make unit install it)")
	}
	path := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/schema/junit-10.xsd", path).CombinedOutput()
	if err != nil {
		return &xmllintError{string(out)}
	}
	return nil
}

type xmllintError struct{ out string }

func (e *xmllintError) Error() string { return e.out }

func TestJUnitMatchesSchema(t *testing.T) {
	for name, r := range map[string]*checks.Report{
		"mixed": mixedReport(), "healthy": healthyReport(t), "unknown finding": withUnknownFinding(),
	} {
		if err := xmllintSchema(t, renderJUnit(t, r)); err != nil {
			t.Errorf("%s: the JUnit report does not match junit-10.xsd:\n%v", name, err)
		}
	}
	// A testsuite without its required failures count is refused: the
	// schema is really applied.
	broken := strings.Replace(string(renderJUnit(t, mixedReport())), `<testsuite name="general" tests="1" failures="1"`, `<testsuite name="general" tests="1"`, 1)
	if err := xmllintSchema(t, []byte(broken)); err == nil {
		t.Error("a testsuite without failures= passed the schema: xmllint checks nothing")
	}
}

// A control character from an API server's error reaches neither the
// attribute nor the body as itself: XML 1.0 cannot hold it.
func TestJUnitControlCharacters(t *testing.T) {
	r := mixedReport()
	r.Findings[0].Message = "dial: \x1b[31mrefused\x00"
	r.Findings[0].Evidence = []string{"server said \x1b[0m"}
	doc := renderJUnit(t, r)
	if bytes.ContainsAny(doc, "\x1b\x00") {
		t.Errorf("control characters written:\n%q", doc)
	}
	if err := xmllintSchema(t, doc); err != nil {
		t.Errorf("not valid XML: %v", err)
	}
}

// TestJUnitReadBack reads the report with go-junit, a JUnit parser CI tools
// are built on, and checks what a CI page would show for each check.
func TestJUnitReadBack(t *testing.T) {
	suites, err := junit.Ingest(renderJUnit(t, mixedReport()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	status := map[string]junit.Status{}
	tests := map[string]junit.Test{}
	for _, s := range suites {
		names = append(names, s.Name)
		for _, tc := range s.Tests {
			id := strings.Fields(tc.Name)[0]
			status[id], tests[id] = tc.Status, tc
		}
	}
	if got, want := strings.Join(names, ","), "general,topology,trust,connectivity,locality,aws"; got != want {
		t.Errorf("suites %s, want one per area with checks: %s", got, want)
	}
	want := map[string]junit.Status{
		"MF0001": junit.StatusFailed,  // error finding
		"MF1001": junit.StatusError,   // could not look at north
		"MF2001": junit.StatusFailed,  // error finding, and north unknown
		"MF3001": junit.StatusFailed,  // warning finding
		"MF5001": junit.StatusPassed,  // an info finding only
		"MF6001": junit.StatusSkipped, // did not run
	}
	for id, w := range want {
		if status[id] != w {
			t.Errorf("%s is %s, want %s", id, status[id], w)
		}
	}
	roots := tests["MF2001"]
	if roots.Message != "root 3f:2a:9b in east differs from root 9c:11:04 in west" || roots.Error == nil {
		t.Errorf("MF2001 message %q", roots.Message)
	} else if body := roots.Error.(junit.Error).Body; !strings.Contains(body, "object: Secret/istio-system/cacerts") ||
		!strings.Contains(body, "- east: root CN=Root A") || !strings.Contains(body, "kubectl meshfed explain MF2001") {
		t.Errorf("MF2001 failure body lacks the object, evidence or explain line:\n%s", body)
	}
	if !strings.Contains(tests["MF5001"].SystemOut, "node node-7 has no topology.kubernetes.io/zone label") {
		t.Errorf("MF5001's info finding is not in its system-out: %q", tests["MF5001"].SystemOut)
	}
	if !strings.Contains(tests["MF1001"].Message, "could not look at context north") {
		t.Errorf("MF1001 says %q", tests["MF1001"].Message)
	}
}

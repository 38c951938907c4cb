package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// trustReport is mixedReport with a trust matrix of three primaries: east
// and west share a root, central has its own, and north's chain cannot be
// read.
func trustReport() *checks.Report {
	r := mixedReport()
	ctxs := []string{"central", "east", "north", "west"}
	m := &model.TrustMatrix{Contexts: ctxs, At: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	for _, from := range ctxs {
		for _, to := range ctxs {
			c := model.TrustCell{From: from, To: to, Verdict: model.TrustOK, Method: "issued leaf"}
			switch {
			case from == "north":
				c.Verdict, c.Method, c.Reason = model.TrustUnknown, "", "north's istiod does not sign workload certificates itself"
			case from == to:
			case from == "central" || to == "central":
				c.Verdict, c.Reason = model.TrustFail, "no root of the bundle issued the chain"
			}
			m.Cells = append(m.Cells, c)
		}
	}
	r.Trust = m
	return r
}

func TestTextTrustMatrixGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, trustReport(), mustCatalog(t), plainStyles()); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("\x1b")) {
		t.Error("plain text output holds escape sequences")
	}
	golden(t, "trust-matrix.txt", b.Bytes())
	out := b.String()
	// The grid sits in the Trust section, before Connectivity.
	grid, trust, conn := strings.Index(out, "Trust matrix"), strings.Index(out, "\nTrust\n"), strings.Index(out, "\nConnectivity\n")
	if !(trust < grid && grid < conn) {
		t.Errorf("the trust matrix is not inside the Trust section (Trust at %d, matrix at %d, Connectivity at %d):\n%s", trust, grid, conn, out)
	}
	lines := strings.Split(out[grid:conn], "\n")
	want := map[string][]string{
		"central": {"✓", "✗", "✗", "✗"},
		"east":    {"✗", "✓", "✓", "✓"},
		"north":   {"?", "?", "?", "?"},
		"west":    {"✗", "✓", "✓", "✓"},
	}
	found := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 5 && want[f[0]] != nil {
			if got := strings.Join(f[1:], " "); got != strings.Join(want[f[0]], " ") {
				t.Errorf("row %s: got %s, want %s", f[0], got, strings.Join(want[f[0]], " "))
			}
			found++
		}
	}
	if found != 4 {
		t.Errorf("found %d matrix rows, want 4:\n%s", found, out)
	}
	if !strings.Contains(out, "✓ verifies  ✗ rejected  ? cannot be decided") {
		t.Errorf("no legend:\n%s", out)
	}
}

// Without a trust matrix (trust not selected, or fewer than two primaries),
// nothing is drawn and the JSON has no "trust" key.
func TestNoTrustMatrix(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, mixedReport(), mustCatalog(t), plainStyles()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Trust matrix") {
		t.Errorf("a report without a matrix draws one:\n%s", b.String())
	}
	b.Reset()
	if err := JSON(&b, mixedReport()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `"trust":`) {
		t.Error(`a report without a matrix has a "trust" key`)
	}
}

// The matrix is data in JSON and YAML: contexts, cells with verdicts and
// reasons, and the instant it was judged at.
func TestTrustMatrixJSON(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, trustReport()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Trust struct {
			Contexts []string
			Cells    []map[string]string
			At       time.Time
		}
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Trust.Contexts) != 4 || len(doc.Trust.Cells) != 16 || doc.Trust.At.IsZero() {
		t.Fatalf("trust: %+v", doc.Trust)
	}
	c := doc.Trust.Cells[1] // central → east
	if c["from"] != "central" || c["to"] != "east" || c["verdict"] != "fail" || c["reason"] == "" || c["method"] != "issued leaf" {
		t.Errorf("cell central → east: %v", c)
	}
	b.Reset()
	if err := YAML(&b, trustReport()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "trust:\n  at:") || !strings.Contains(b.String(), "verdict: fail") {
		t.Errorf("YAML lacks the matrix:\n%s", b.String())
	}
}

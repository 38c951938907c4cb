package labtest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// TrustErrors runs doctor on the trust checks and returns its error
// findings (check@contexts); with none, every cell of the trust matrix must
// say the pair trusts each other.
func TrustErrors(t *testing.T, l *lab.Lab) []string {
	t.Helper()
	out, stderr, _ := Run(t, l, "doctor", "-o", "json", "--checks", "trust", "--contexts", strings.Join(l.Contexts(), ","))
	if strings.Contains(out+stderr, "PRIVATE KEY") {
		t.Fatal("doctor printed a private key")
	}
	r := reporttest.Parse(t, out)
	var errs []string
	for _, f := range r.Findings {
		if f.Severity == "error" {
			errs = append(errs, f.Check+"@"+strings.Join(f.Contexts, ","))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	var tr reporttest.TrustReport
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Trust == nil || len(tr.Trust.Cells) != len(l.Primaries())*len(l.Primaries()) {
		t.Fatalf("trust matrix %+v", tr.Trust)
	}
	for _, c := range tr.Trust.Cells {
		if c.Verdict != "ok" {
			errs = append(errs, "matrix "+c.From+"→"+c.To+": "+c.Verdict+" ("+c.Reason+")")
		}
	}
	return errs
}

package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

func reportOf(findings ...checks.Finding) *checks.Report {
	return checks.NewReport(nil, nil, checks.Result{Findings: findings})
}

func TestWaitRunsUntilDone(t *testing.T) {
	gateway := checks.Finding{Check: "MF3002", Severity: checks.SeverityError, Contexts: []string{"central"}, Message: "no address"}
	secret := checks.Finding{Check: "MF4001", Severity: checks.SeverityError, Contexts: []string{"east"}, Message: "no secret"}
	runs := []*checks.Report{reportOf(gateway, secret), reportOf(secret), reportOf()}
	n := 0
	var changes bytes.Buffer
	w := Wait{For: time.Minute, Interval: time.Millisecond, Changes: &changes, Styles: render.NewStyles(&changes, false)}
	got, err := w.Until(context.Background(), func(context.Context) (*checks.Report, error) {
		r := runs[n]
		n++
		return r, nil
	}, func(r *checks.Report) bool { return len(r.Findings) == 0 })
	if err != nil || got != runs[2] || n != 3 {
		t.Fatalf("ran %d times, returned run %v (err %v); want the third, healthy one", n, got, err)
	}
	out := changes.String()
	for _, want := range []string{"run 2", "✓ gone: MF3002 [central]", "now: 1 error", "run 3", "✓ gone: MF4001 [east]", "now: 0 errors"} {
		if !strings.Contains(out, want) {
			t.Errorf("what changed lacks %q:\n%s", want, out)
		}
	}
}

func TestWaitStopsAtTheDeadline(t *testing.T) {
	bad := reportOf(checks.Finding{Check: "MF3002", Severity: checks.SeverityError, Contexts: []string{"central"}})
	n := 0
	w := Wait{For: 30 * time.Millisecond, Interval: 10 * time.Millisecond}
	got, err := w.Until(context.Background(), func(context.Context) (*checks.Report, error) {
		n++
		return bad, nil
	}, func(*checks.Report) bool { return false })
	// No assertion on the count beyond "it ran and it ended": timing
	// under load is noisy.
	if err != nil || got != bad || n < 1 {
		t.Fatalf("ran %d times, err %v", n, err)
	}
}

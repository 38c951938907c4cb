package cmd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/diagnosis"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The trust matrix is in the report when a trust check runs, built at the
// instant the checks judge certificates at, and absent otherwise.
func TestDoctorTrustMatrixOnlyWhenTrustRuns(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--checks", "MF2001"}, true},
		{[]string{"--checks", "trust,MF1001"}, true},
		{[]string{"--checks", "topology"}, false},
		{[]string{"--skip", "trust"}, false},
	} {
		m := &fakeMesh{t: t}
		m.cluster("east", nil)
		m.cluster("west", nil)
		b := m.backend()
		var registryAt, trustAt time.Time
		b.Diagnosis.Judge = timedJudge{Judge: b.Diagnosis.Judge, registryAt: &registryAt, trustAt: &trustAt}
		r := run(t, b, append([]string{"doctor", "-o", "json"}, tc.args...)...)
		var rep checks.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, r.stderr)
		}
		if got := rep.Trust != nil; got != tc.want {
			t.Errorf("doctor %v: matrix present = %v, want %v", tc.args, got, tc.want)
		}
		if tc.want && (trustAt.IsZero() || !trustAt.Equal(registryAt)) {
			t.Errorf("doctor %v: matrix judged at %v, checks at %v: want one instant", tc.args, trustAt, registryAt)
		}
		if tc.want {
			text := run(t, b, append([]string{"doctor"}, tc.args...)...)
			if !containsLine(text.stdout, "east ✓ ✗") || !containsLine(text.stdout, "west ✗ ✓") {
				t.Errorf("doctor %v: the text report draws no matrix:\n%s", tc.args, text.stdout)
			}
		}
	}
}

// timedJudge records the instants the checks and the trust matrix judge at,
// and draws a matrix of two primaries that do not trust each other.
type timedJudge struct {
	diagnosis.Judge
	registryAt, trustAt *time.Time
}

func (j timedJudge) Registry(tg Target) *checks.Registry {
	*j.registryAt = tg.Now
	return j.Judge.Registry(tg)
}

func (j timedJudge) Trust(_ *model.Fleet, tg Target) *model.TrustMatrix {
	*j.trustAt = tg.Now
	return &model.TrustMatrix{Contexts: []string{"east", "west"}, At: tg.Now, Cells: []model.TrustCell{
		{From: "east", To: "east", Verdict: model.TrustOK}, {From: "east", To: "west", Verdict: model.TrustFail, Reason: "r"},
		{From: "west", To: "east", Verdict: model.TrustFail, Reason: "r"}, {From: "west", To: "west", Verdict: model.TrustOK},
	}}
}

func containsLine(text, fields string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.Join(strings.Fields(line), " ") == fields {
			return true
		}
	}
	return false
}

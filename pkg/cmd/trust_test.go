package cmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
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
		registry := b.Registry
		b.Registry = func(tg Target) *checks.Registry { registryAt = tg.Now; return registry(tg) }
		b.Trust = func(_ *model.Fleet, tg Target) *model.TrustMatrix {
			trustAt = tg.Now
			return &model.TrustMatrix{Contexts: []string{"east", "west"}, At: tg.Now, Cells: []model.TrustCell{
				{From: "east", To: "east", Verdict: model.TrustOK}, {From: "east", To: "west", Verdict: model.TrustFail, Reason: "r"},
				{From: "west", To: "east", Verdict: model.TrustFail, Reason: "r"}, {From: "west", To: "west", Verdict: model.TrustOK},
			}}
		}
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

// The default backend's matrix is trust.BuildMatrix's, as data; one primary
// has no pair to judge.
func TestTrustMatrixFromFixtures(t *testing.T) {
	load := func(check, name string) *model.Fleet {
		f, err := fleet.LoadDir(filepath.Join("..", "checks", "all", "testdata", check, name), "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	m := trustMatrix(load("MF2001", "fail-two-roots"), now)
	if m == nil || len(m.Contexts) != 2 || len(m.Cells) != 4 || !m.At.Equal(now) {
		t.Fatalf("two roots: %+v", m)
	}
	for _, c := range m.Cells {
		want := model.TrustOK
		if c.From != c.To {
			want = model.TrustFail
		}
		if c.Verdict != want || (want == model.TrustFail && c.Reason == "") || c.Method == "" {
			t.Errorf("%s → %s: %+v, want %s", c.From, c.To, c, want)
		}
	}
	if m := trustMatrix(load("MF2002", "fail-self-signed-single-primary"), now); m != nil {
		t.Errorf("one primary: %+v, want no matrix", m)
	}
}

func containsLine(text, fields string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.Join(strings.Fields(line), " ") == fields {
			return true
		}
	}
	return false
}

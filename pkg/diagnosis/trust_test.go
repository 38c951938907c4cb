package diagnosis

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The live judge's matrix is trust.BuildMatrix's, as data; one primary
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
	m := TrustMatrix(load("MF2001", "fail-two-roots"), now)
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
	if m := TrustMatrix(load("MF2002", "fail-self-signed-single-primary"), now); m != nil {
		t.Errorf("one primary: %+v, want no matrix", m)
	}
}

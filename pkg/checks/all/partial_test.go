package all

import (
	"slices"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// TestPartialRead runs every check over east alone, whose remote secret
// names west: west is an unread member, the checks that compare clusters
// say they did not compare with it, and nothing warns for its absence.
func TestPartialRead(t *testing.T) {
	f, err := fleet.LoadDir("testdata/MF5003/pass-region-in-unread-member", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, Registry(), checks.Selection{})
	if f.Members != nil {
		t.Error("Run changed the caller's fleet")
	}
	if got := res.Members.IDs(); !slices.Equal(got, []string{"west"}) {
		t.Fatalf("unread members %v, want [west]", got)
	}
	for _, fd := range res.Findings {
		if fd.Severity >= checks.SeverityWarning {
			t.Errorf("partial read raised %s %s: %s", fd.Severity, fd.Check, fd.Message)
		}
	}
	cat := Registry().Catalog
	compared := 0
	for _, c := range res.Checks {
		m, _ := cat.Lookup(c.ID)
		switch {
		case m.Compares && c.Status != checks.StatusNotRun:
			compared++
			if !slices.Equal(c.NotCompared, []string{"west"}) {
				t.Errorf("%s compares clusters, but names %v as not compared", c.ID, c.NotCompared)
			}
		case !m.Compares && len(c.NotCompared) > 0:
			t.Errorf("%s does not compare clusters, but names %v as not compared", c.ID, c.NotCompared)
		}
	}
	if compared == 0 {
		t.Error("no check that compares clusters ran")
	}
	r := checks.NewReport(nil, nil, res)
	if len(r.UnreadMembers) != 1 || r.UnreadMembers[0].ClusterID != "west" || !slices.Equal(r.UnreadMembers[0].Regions, []string{"us-east-1"}) {
		t.Errorf("report's unread members: %+v", r.UnreadMembers)
	}
}

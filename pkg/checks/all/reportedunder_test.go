package all

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// TestBrokenCAIsNotPassedByOtherTrustChecks: with cacerts that do not
// parse, MF2009 reports it; the trust checks that read the CA material could
// not look at it, so none of them reads as passed: each says "reported
// under MF2009".
func TestBrokenCAIsNotPassedByOtherTrustChecks(t *testing.T) {
	f, err := fleet.LoadDir("testdata/MF2009/fail-malformed-pem", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, Registry(), checks.Selection{Only: []string{"trust"}})
	var mf2009, elsewhere int
	for _, c := range res.Checks {
		switch {
		case c.ID == "MF2009":
			if c.Status == checks.StatusFail {
				mf2009++
			}
		case c.Status == checks.StatusReportedElsewhere:
			if len(c.ReportedUnder) != 1 || c.ReportedUnder[0] != "MF2009" {
				t.Errorf("%s reported under %v, want MF2009", c.ID, c.ReportedUnder)
			}
			elsewhere++
		}
	}
	if mf2009 != 1 || elsewhere == 0 {
		t.Errorf("MF2009 failed %d times, %d checks reported under it: %+v", mf2009, elsewhere, res.Checks)
	}
}

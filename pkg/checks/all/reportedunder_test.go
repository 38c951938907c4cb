package all

import (
	"slices"
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

// TestUnjudgedRemoteSecretIsNotPassedByMF4007: an entry whose target
// MF4007 cannot judge (a kubeconfig that does not load, the primary's own
// key, a loopback server) leaves MF4007 "reported under" the check that
// explains it, never passed; on a healthy pair it passes.
func TestUnjudgedRemoteSecretIsNotPassedByMF4007(t *testing.T) {
	for dir, want := range map[string]checks.ID{
		"testdata/MF4005/fail-malformed-and-exec":             "MF4005",
		"testdata/MF4003/fail-own-key-pointing-nowhere-known": "MF4003",
		"testdata/MF4006/fail-localhost":                      "MF4006",
		"testdata/MF4007/pass-servers-match":                  "",
	} {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		res := checks.Run(f, Registry(), checks.Selection{Only: []string{"MF4007"}})
		if len(res.Checks) != 1 {
			t.Fatalf("%s: %d results for MF4007", dir, len(res.Checks))
		}
		c := res.Checks[0]
		switch {
		case want == "" && c.Status != checks.StatusPass:
			t.Errorf("%s: MF4007 is %s, want passed", dir, c.Status)
		case want != "" && (c.Status != checks.StatusReportedElsewhere || !slices.Contains(c.ReportedUnder, want)):
			t.Errorf("%s: MF4007 is %s, reported under %v; want reported under %s", dir, c.Status, c.ReportedUnder, want)
		}
	}
}

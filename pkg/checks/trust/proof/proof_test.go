package proof

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// The lab scenarios, by the fixture case that holds each.
var scenarios = map[string]string{
	"shared root":                "MF2001/pass-shared-root",
	"two roots":                  "MF2001/fail-two-roots",
	"expired intermediate":       "MF2001/fail-expired-intermediate",
	"chain not to its root":      "MF2001/fail-chain-not-to-root",
	"mismatched istio-ca-root":   "MF2001/fail-mismatched-root-configmap",
	"self-signed istiod":         "MF2001/fail-self-signed",
	"different trust domains":    "MF2001/pass-different-trust-domains",
	"multi-root rotation":        "MF2001/pass-multi-root-rotation",
	"kubernetes.io/tls layout":   "MF2001/pass-tls-layout",
	"not yet valid intermediate": "MF2001/fail-not-yet-valid",
	"name constraint":            "MF2015/fail-name-constraint",
	"intermediate's key usage":   "MF2015/fail-intermediate-eku",
}

// TestMatrixAgreesWithTLS proves, for every trust fixture, that each cell of
// the trust matrix says what a real TLS handshake between endpoints holding
// leaves from each cluster's CA says: one-way TLS for (A, B), and mTLS for
// the pair both ways.
func TestMatrixAgreesWithTLS(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "all", "testdata", "MF2*", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no trust fixtures: %v", err)
	}
	opts := trust.DefaultOptions()
	handshakes := map[string]int{}
	for _, dir := range dirs {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			f, err := fleet.LoadDir(dir, "istio-system")
			if err != nil {
				t.Fatal(err)
			}
			results, m := Handshakes(context.Background(), f, opts)
			for _, d := range Compare(results, m) {
				t.Errorf("%s", d.Why)
			}
			for _, r := range results {
				if r.TLS.Done {
					handshakes[name]++
				}
				t.Logf("%s → %s: matrix %s; TLS ok=%v mTLS ok=%v %s%s", r.From, r.To, r.Cell.Verdict, r.TLS.OK, r.MTLS.OK, r.Skipped, r.TLS.Err)
			}
		})
	}
	for scenario, fixture := range scenarios {
		if _, err := os.Stat(filepath.Join("..", "..", "all", "testdata", fixture)); err != nil {
			t.Errorf("scenario %q: fixture %s is missing", scenario, fixture)
			continue
		}
		if handshakes[fixture] == 0 {
			t.Errorf("scenario %q (%s): no handshake was made", scenario, fixture)
		}
	}
}

// TestHandshakeFailsForStrangers guards the proof itself: a client that
// trusts another root must fail, or every agreement above would be hollow.
func TestHandshakeFailsForStrangers(t *testing.T) {
	f, err := fleet.LoadDir(filepath.Join("..", "..", "all", "testdata", "MF2001", "fail-two-roots"), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	results, _ := Handshakes(context.Background(), f, trust.DefaultOptions())
	var ok, failed int
	for _, r := range results {
		switch {
		case r.TLS.OK:
			ok++
		case r.TLS.Done:
			failed++
			if !strings.Contains(r.TLS.Err, "certificate") {
				t.Errorf("%s → %s failed for another reason: %s", r.From, r.To, r.TLS.Err)
			}
		}
	}
	if ok != 2 || failed != 2 {
		t.Errorf("two roots: want the 2 same-cluster handshakes to pass and the 2 cross-cluster ones to fail, got %d ok, %d failed", ok, failed)
	}
}

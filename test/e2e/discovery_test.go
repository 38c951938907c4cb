package e2e

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// onlyDiscovery keeps the discovery findings (MF4).
func onlyDiscovery(fs []finding) []finding {
	var out []finding
	for _, f := range fs {
		if strings.HasPrefix(f.Check, "MF4") {
			out = append(out, f)
		}
	}
	return out
}

type discoveryCase struct {
	scenario  string
	isolation bool
	// clusterz is what east's istiod must report of west once the fault has
	// settled ("" when west must be absent).
	clusterz string
	// want are the MF4 findings (check@contexts, sorted); say is a phrase
	// the first of them must contain.
	want []string
	say  string
}

var discoveryCases = []discoveryCase{
	{scenario: "multi-primary", clusterz: lab.Synced},
	// The token is rejected: istiod times out, and the probe says why.
	{scenario: "bad-remote-secret", clusterz: lab.Timeout, want: []string{"MF4011@east,west"}, say: "401"},
	// No secret at all: istiod does not list west.
	{scenario: "missing-remote-secret", clusterz: "", want: []string{"MF4001@east,west"}},
	// This machine reaches west with east's secret; east's istiod cannot.
	{scenario: "cut-path", isolation: true, clusterz: lab.Timeout, want: []string{"MF4011@east,west"}, say: "path from east's istiod"},
}

// TestDiscoveryAgreesWithIstiod runs the doctor, with the probes and
// istiod's debug addresses, on a lab per discovery fault, and checks that
// its findings agree with what east's istiod itself reports of west at
// /debug/clusterz: a peer istiod has synced gives no error, one it has not
// gives exactly one finding that says why.
func TestDiscoveryAgreesWithIstiod(t *testing.T) {
	for _, tc := range discoveryCases {
		t.Run(tc.scenario, func(t *testing.T) {
			l := labtest.Start(t, tc.scenario, 2)
			if tc.isolation {
				labtest.RequireIsolation(t, l)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			clusterz, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool {
				return m["west"] == tc.clusterz && m["east"] == lab.Synced
			})
			if err != nil {
				t.Fatalf("east's clusterz never showed west %q: %v (last %v)", tc.clusterz, err, clusterz)
			}

			args := append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, l.IstiodDebugFlags()...)
			out, stderr, _ := labtest.Run(t, l, args...)
			r := parseReport(t, out)
			got := onlyDiscovery(r.Findings)
			if k := keys(got); !reflect.DeepEqual(k, tc.want) {
				t.Errorf("findings %v, want %v (east's clusterz %v)\nstderr: %s", k, tc.want, clusterz, stderr)
				for _, f := range got {
					t.Logf("  %s %s: %s", f.Check, f.Severity, f.Message)
				}
			}
			for _, f := range got {
				t.Logf("%s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
			}
			if tc.say != "" && len(got) > 0 && !strings.Contains(got[0].Message, tc.say) {
				t.Errorf("%s does not say %q: %s", got[0].Check, tc.say, got[0].Message)
			}
			// Agreement with istiod: no error about east→west when istiod has
			// it synced; an error when it has not.
			var errorEastWest bool
			for _, f := range got {
				if f.Severity == "error" && strings.Join(f.Contexts, ",") == "east,west" {
					errorEastWest = true
				}
			}
			if errorEastWest != (clusterz["west"] != lab.Synced) {
				t.Errorf("istiod of east reports west %q, but the doctor's error about it: %v", clusterz["west"], errorEastWest)
			}
			for _, s := range labSecrets(t, l) {
				if len(s) > 8 && (strings.Contains(out, s) || strings.Contains(stderr, s)) {
					t.Errorf("the report quotes secret material (%d bytes)", len(s))
				}
			}
		})
	}
}

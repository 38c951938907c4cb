// Package trustlab runs the built kubectl-meshfed on the trust lab
// scenarios (broken, expired, rotated and constrained CAs) and holds its
// trust matrix to real TLS handshakes. Its own package so that make test
// runs it beside test/e2e.
package trustlab

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust/proof"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// trustCase is one of the trust lab scenarios, on two clusters
// (east, west), and what doctor must say about it.
type trustCase struct {
	scenario string
	// findings are the trust findings, check@contexts, sorted.
	findings []string
	// fail are the matrix cells (from→to) that must fail; every other cell
	// must be ok.
	fail []string
	// exits are the clusters whose istiod refuses its CA and exits.
	exits []string
	// says are phrases the findings' messages must hold between them.
	says []string
}

// emptyQuoted is a quoted empty name ("" or ”), which names nothing.
var emptyQuoted = regexp.MustCompile(`(^|[^\w"'])(""|'')([^\w"']|$)`)

var trustCases = []trustCase{
	{scenario: "multi-primary"}, // one shared root
	{
		scenario: "different-roots", // west's intermediate comes from a root of its own
		findings: []string{"MF2001@east,west"},
		fail:     []string{"east→west", "west→east"},
	},
	{
		scenario: "self-signed", // west's istiod made its own root
		findings: []string{"MF2001@east,west", "MF2002@west"},
		fail:     []string{"east→west", "west→east"},
	},
	{
		// Trust holds across the roots; the trust domains are the problem.
		scenario: "trust-domain",
		findings: []string{"MF2012@east,west"},
	},
	{
		scenario: "expired-intermediate",
		findings: []string{"MF2001@east,west", "MF2007@east"},
		fail:     []string{"east→east", "east→west"},
		exits:    []string{"east"},
	},
	{
		// The workloads' root (root-cert.pem) is not the one east's chain
		// ends at, so MF2010 says so too.
		scenario: "chain-not-to-root",
		findings: []string{"MF2001@east,west", "MF2006@east", "MF2010@east"},
		fail:     []string{"east→east", "east→west"},
		exits:    []string{"east"},
	},
	{
		// east's namespace legacy trusts a stale root: nothing verifies there.
		scenario: "mismatched-root-cert",
		findings: []string{"MF2001@east,west", "MF2010@east"},
		fail:     []string{"east→east", "west→east"},
	},
	{
		// One root; east's intermediate excludes cluster.local's SPIFFE
		// IDs: east's CA is the finding (MF2015), not the roots (MF2001).
		scenario: "name-constraint",
		findings: []string{"MF2015@east"},
		fail:     []string{"east→east", "east→west"},
		says:     []string{"east's CA", `"CN=intermediate east (excludes cluster.local)`, `name constraint that excludes URIs in "cluster.local"`, "the workloads of east, west reject them"},
	},
	{
		// East signs under the new root, west under the old; both trust both.
		scenario: "root-rotation",
		findings: []string{"MF2011@east", "MF2011@west"},
	},
}

// TestTrustLabScenarios runs, for every trust lab scenario, doctor with the
// trust checks, and checks its findings and its A×B matrix; then collects
// the live fleet itself and shows with real TLS handshakes (Go endpoints
// holding leaves issued by each cluster's CA, verifying with each cluster's
// trust bundles) that the matrix says what TLS says.
func TestTrustLabScenarios(t *testing.T) {
	for _, tc := range trustCases {
		t.Run(tc.scenario, func(t *testing.T) {
			l := labtest.Start(t, tc.scenario, 2)
			for _, c := range l.Contexts() {
				err := l.IstiodExited(c)
				if want := contains(tc.exits, c); want != (err != nil) {
					t.Errorf("%s: istiod exited = %v, want %v", c, err, want)
				}
			}
			contexts := strings.Join(l.Contexts(), ",")
			out, stderr, code := labtest.Run(t, l, "doctor", "-o", "json", "--checks", "trust", "--contexts", contexts)
			r := reporttest.Parse(t, out)
			var tr reporttest.TrustReport
			if err := json.Unmarshal([]byte(out), &tr); err != nil {
				t.Fatal(err)
			}
			if got := reporttest.Keys(r.Findings); !reflect.DeepEqual(got, sorted(tc.findings)) {
				t.Errorf("findings %v, want %v\nstderr: %s", got, sorted(tc.findings), stderr)
				for _, f := range r.Findings {
					t.Logf("  %s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
				}
			}
			if wantCode := exitFor(r); code != wantCode {
				t.Errorf("exit code %d, want %d", code, wantCode)
			}
			var said []string
			for _, f := range r.Findings {
				if f.Area != "trust" {
					t.Errorf("--checks trust gave a %s finding: %s", f.Area, f.Check)
				}
				said = append(append(said, f.Message), f.Evidence...)
			}
			for _, want := range tc.says {
				if !strings.Contains(strings.Join(said, "\n"), want) {
					t.Errorf("no finding says %q:\n%s", want, strings.Join(said, "\n"))
				}
			}

			// The matrix in the report.
			if tr.Trust == nil {
				t.Fatalf("the report has no trust matrix:\n%s", out)
			}
			if !reflect.DeepEqual(tr.Trust.Contexts, []string{"east", "west"}) || len(tr.Trust.Cells) != 4 || tr.Trust.At.IsZero() {
				t.Fatalf("matrix %+v", tr.Trust)
			}
			verdicts := map[string]string{}
			for _, c := range tr.Trust.Cells {
				pair := c.From + "→" + c.To
				verdicts[pair] = c.Verdict
				want := "ok"
				if contains(tc.fail, pair) {
					want = "fail"
				}
				if c.Verdict != want {
					t.Errorf("matrix %s: %s (%s), want %s", pair, c.Verdict, c.Reason, want)
				}
				if c.Verdict == "fail" && c.Reason == "" {
					t.Errorf("matrix %s fails without a reason", pair)
				}
				said = append(said, c.Reason)
				if c.Method != trust.MethodLeaf {
					t.Errorf("matrix %s decided by %q, want %q (every CA key of the lab is readable)", pair, c.Method, trust.MethodLeaf)
				}
			}

			for _, m := range said {
				if emptyQuoted.MatchString(m) {
					t.Errorf("the report quotes an empty name: %s", m)
				}
			}

			// The text report draws the same matrix.
			text, _, _ := labtest.Run(t, l, "doctor", "--checks", "trust", "--contexts", contexts)
			for _, from := range []string{"east", "west"} {
				row := from
				for _, to := range []string{"east", "west"} {
					row += " " + map[string]string{"ok": "✓", "fail": "✗", "unknown": "?"}[verdicts[from+"→"+to]]
				}
				if !containsRow(text, row) {
					t.Errorf("text report has no matrix row %q:\n%s", row, text)
				}
			}

			// -o wide adds the evidence: it must hold no secret either.
			wide, _, _ := labtest.Run(t, l, "doctor", "--checks", "trust", "--contexts", contexts, "-o", "wide")
			text += wide

			// Nothing secret in either output: CA keys, tokens, credentials.
			for _, s := range labtest.Secrets(t, l) {
				for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
					if len(s) > 8 && (strings.Contains(out, form) || strings.Contains(text, form)) {
						t.Errorf("doctor's output shows a secret value (%d bytes)", len(s))
					}
				}
			}
			if strings.Contains(out+text, "PRIVATE KEY") {
				t.Error("doctor's output holds a PEM private key")
			}

			// Real TLS on the live fleet agrees with the matrix.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			flags := kube.ForKubeconfig(l.Kubeconfig())
			f := fleet.NewCollector(flags, fleet.Options{Timeout: 20 * time.Second}).Collect(ctx, l.Contexts())
			for _, c := range f.Clusters {
				if !c.Reachable {
					t.Fatalf("%s unreachable: %s", c.Context, c.Error)
				}
			}
			results, m := proof.Handshakes(ctx, f, trust.Options{})
			for _, d := range proof.Compare(results, m) {
				t.Errorf("matrix and TLS disagree: %s", d.Why)
			}
			for _, res := range results {
				if !res.TLS.Done || !res.MTLS.Done {
					t.Errorf("%s → %s: no handshake was made (%s)", res.From, res.To, res.Skipped)
				}
				if got := string(res.Cell.Verdict); got != verdicts[res.From+"→"+res.To] {
					t.Errorf("%s → %s: the live matrix says %s, doctor said %s", res.From, res.To, got, verdicts[res.From+"→"+res.To])
				}
				t.Logf("%s → %s: matrix %s; TLS ok=%v, mTLS ok=%v %s", res.From, res.To, res.Cell.Verdict, res.TLS.OK, res.MTLS.OK, res.TLS.Err)
			}
		})
	}
}

// TestTrustMatrixOnlyWithTrustChecks: the matrix belongs to runs that judge
// trust, and only where there is a pair of primaries to judge.
func TestTrustMatrixOnlyWithTrustChecks(t *testing.T) {
	l := labtest.Shared(t, "multi-primary", 2)
	contexts := strings.Join(l.Contexts(), ",")
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--contexts", contexts}, true},
		{[]string{"--contexts", contexts, "--checks", "MF2001"}, true},
		{[]string{"--contexts", contexts, "--checks", "topology"}, false},
		{[]string{"--contexts", contexts, "--skip", "trust"}, false},
		{[]string{"--contexts", "east", "--checks", "trust"}, false}, // one primary
	} {
		out, stderr, _ := labtest.Run(t, l, append([]string{"doctor", "-o", "json"}, tc.args...)...)
		var tr reporttest.TrustReport
		if err := json.Unmarshal([]byte(out), &tr); err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, stderr)
		}
		if got := tr.Trust != nil; got != tc.want {
			t.Errorf("doctor %v: matrix present = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func exitFor(r reporttest.Report) int {
	if r.Summary.Errors > 0 {
		return 2
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// containsRow reports whether a line of text holds exactly these fields.
func containsRow(text, row string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.Join(strings.Fields(l), " ") == row {
			return true
		}
	}
	return false
}

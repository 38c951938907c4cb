// Package trace runs the built `kubectl meshfed trace` against live labs,
// one per scenario, and checks that it names the first broken hop of the
// call, that it agrees with the doctor run on the same lab, and that it
// never says ✓ for a hop it could not observe.
package trace

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.Cleanup()
	os.Exit(code)
}

// doc is the part of `trace -o json` the tests read.
type doc struct {
	Identity   string   `json:"identity"`
	To         []string `json:"to"`
	ProbedFrom string   `json:"probedFrom"`
	Offline    *struct {
		Bundles []struct {
			File string `json:"file"`
		} `json:"bundles"`
		LiveResults string `json:"liveResults"`
	} `json:"offline"`
	Verdict     string `json:"verdict"`
	FirstBroken string `json:"firstBroken"`
	Hops        []struct {
		Name     string   `json:"name"`
		Status   string   `json:"status"`
		Summary  string   `json:"summary"`
		Evidence []string `json:"evidence"`
		Checks   []string `json:"checks"`
		Findings []struct {
			Check    string   `json:"check"`
			Severity string   `json:"severity"`
			Contexts []string `json:"contexts"`
		} `json:"findings"`
	} `json:"hops"`
}

func (d doc) hop(name string) (status string, checks []string) {
	for _, h := range d.Hops {
		if h.Name == name {
			return h.Status, h.Checks
		}
	}
	return "", nil
}

// runTrace runs trace as JSON and as text (logged, and checked to draw the
// same verdict), and returns the JSON document and the exit code.
func runTrace(t *testing.T, l *lab.Lab, args ...string) (doc, int) {
	t.Helper()
	out, stderr, code := labtest.Run(t, l, append([]string{"trace", "-o", "json"}, args...)...)
	var d doc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("trace %v: exit %d, output is not JSON (%v):\n%s\nstderr: %s", args, code, err, out, stderr)
	}
	text, _, textCode := labtest.Run(t, l, append([]string{"trace"}, args...)...)
	t.Logf("trace %s (exit %d):\n%s", strings.Join(args, " "), textCode, text)
	if textCode != code {
		t.Errorf("text exit %d, JSON exit %d", textCode, code)
	}
	// One line per hop, its symbol from its status.
	symbol := map[string]string{"ok": "✓", "warning": "‼", "fail": "✗", "unknown": "?"}
	for i, h := range d.Hops {
		want := symbol[h.Status] + " " + string(rune('1'+i)) + " " + h.Name
		if !strings.Contains(text, want) {
			t.Errorf("text has no line %q", want)
		}
	}
	return d, code
}

// doctorFindings runs doctor on every cluster of the lab and returns its
// findings as check → contexts and severity.
type finding struct {
	Check    string   `json:"check"`
	Severity string   `json:"severity"`
	Contexts []string `json:"contexts"`
	Message  string   `json:"message"`
}

func doctorFindings(t *testing.T, l *lab.Lab) []finding {
	t.Helper()
	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
	var r struct {
		Findings []finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor: %v\n%s\nstderr: %s", err, out, stderr)
	}
	return r.Findings
}

// agree checks that every finding trace cites is one the doctor reports
// on the same lab, and that the doctor reports check (when not empty).
func agree(t *testing.T, l *lab.Lab, d doc, check string) {
	t.Helper()
	found := doctorFindings(t, l)
	has := func(id string, contexts []string) bool {
		for _, f := range found {
			if f.Check == id && (contexts == nil || slices.Equal(f.Contexts, contexts)) {
				return true
			}
		}
		return false
	}
	for _, h := range d.Hops {
		for _, f := range h.Findings {
			if !has(f.Check, f.Contexts) {
				t.Errorf("trace's hop %s cites %s@%v, which the doctor does not report", h.Name, f.Check, f.Contexts)
			}
		}
	}
	if check != "" && !has(check, nil) {
		t.Errorf("the doctor does not report %s; its findings:", check)
		for _, f := range found {
			t.Logf("  %s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
		}
	}
}

// expectBroken asserts the first broken hop, the check it cites (when not
// empty), exit code 2, that the hops before it are not failing, and that
// the doctor agrees.
func expectBroken(t *testing.T, l *lab.Lab, hop, check string, args ...string) doc {
	t.Helper()
	d, code := runTrace(t, l, args...)
	if code != 2 || d.Verdict != "fail" || d.FirstBroken != hop {
		t.Fatalf("exit %d, verdict %s at %q; want exit 2, fail at %q", code, d.Verdict, d.FirstBroken, hop)
	}
	status, checks := d.hop(hop)
	if status != "fail" {
		t.Errorf("hop %s is %s", hop, status)
	}
	if check != "" && !slices.Contains(checks, check) {
		t.Errorf("hop %s cites %v, want %s among them", hop, checks, check)
	}
	agree(t, l, d, check)
	return d
}

// expectWorks asserts exit 0 and every hop OK: the labs it is used on
// have nothing wrong on the call's path, so a warning would be a finding
// about another call cited on this one.
func expectWorks(t *testing.T, l *lab.Lab, args ...string) doc {
	t.Helper()
	d, code := runTrace(t, l, args...)
	if code != 0 || d.Verdict != "ok" {
		t.Fatalf("exit %d, verdict %s at %q; want a working path", code, d.Verdict, d.FirstBroken)
	}
	for _, h := range d.Hops {
		if h.Status != "ok" {
			t.Errorf("hop %s is %s: %s", h.Name, h.Status, h.Summary)
		}
	}
	agree(t, l, d, "")
	return d
}

// sameFromBundle dumps the lab and checks that `trace --bundle` walks the
// call as the live trace did: the same destinations, identity, verdict and
// first broken hop, and per hop the same status and check IDs; and that
// it says it is from the bundle.
func sameFromBundle(t *testing.T, l *lab.Lab, live doc, args ...string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mesh.tar.gz")
	if _, stderr, code := labtest.Run(t, l, "dump", "--contexts", strings.Join(l.Contexts(), ","), "-o", path); code != 0 {
		t.Fatalf("dump: exit %d\n%s", code, stderr)
	}
	d, code := runTrace(t, l, append(args, "--bundle", path)...)
	wantCode := map[string]int{"ok": 0, "fail": 2, "unknown": 3}[live.Verdict]
	if code != wantCode || d.Verdict != live.Verdict || d.FirstBroken != live.FirstBroken {
		t.Errorf("from the bundle: exit %d, verdict %s at %q; live: verdict %s at %q", code, d.Verdict, d.FirstBroken, live.Verdict, live.FirstBroken)
	}
	if !slices.Equal(d.To, live.To) || d.Identity != live.Identity {
		t.Errorf("from the bundle: to %v as %s; live: to %v as %s", d.To, d.Identity, live.To, live.Identity)
	}
	if len(d.Hops) != len(live.Hops) {
		t.Fatalf("from the bundle: %d hops, live %d", len(d.Hops), len(live.Hops))
	}
	for i, h := range d.Hops {
		lh := live.Hops[i]
		if h.Name != lh.Name || h.Status != lh.Status || !slices.Equal(h.Checks, lh.Checks) {
			t.Errorf("hop %d from the bundle: %s %s %v (%s); live: %s %s %v (%s)", i+1, h.Name, h.Status, h.Checks, h.Summary, lh.Name, lh.Status, lh.Checks, lh.Summary)
		}
	}
	if d.Offline == nil || len(d.Offline.Bundles) != 1 || d.Offline.Bundles[0].File != path ||
		!strings.Contains(d.Offline.LiveResults, "from the bundle, observed at") || !strings.Contains(d.ProbedFrom, "from the bundle, observed at") {
		t.Errorf("the trace does not say it is from the bundle: offline %+v, probed from %q", d.Offline, d.ProbedFrom)
	}
}

// The healthy mesh: the call works, and with the probes off the hops that
// need them are unknown (never ✓) and the exit code says trace could not
// tell. One lab for both.
func TestHealthyMultiNetwork(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	t.Run("works", func(t *testing.T) {
		d := expectWorks(t, l, "helloworld.sample", "--from", "east")
		if !slices.Equal(d.To, []string{"east", "west"}) {
			t.Errorf("destinations %v, want east and west (helloworld runs in both)", d.To)
		}
		if d.Identity != "cluster.local/ns/sample/sa/default" {
			t.Errorf("identity %q", d.Identity)
		}
		if status, _ := d.hop("gateway"); status != "ok" {
			t.Errorf("gateway hop %s, want ok (west's gateway was probed)", status)
		}
		t.Run("bundle", func(t *testing.T) { sameFromBundle(t, l, d, "helloworld.sample", "--from", "east") })
	})
	t.Run("no-probes", func(t *testing.T) {
		d, code := runTrace(t, l, "helloworld.sample", "--from", "east", "--no-probes")
		if code != 3 || d.Verdict != "unknown" {
			t.Fatalf("exit %d, verdict %s; want 3, unknown", code, d.Verdict)
		}
		for _, name := range []string{"discovery", "proxy", "gateway", "locality"} {
			if status, _ := d.hop(name); status != "unknown" {
				t.Errorf("hop %s is %s with --no-probes, want unknown", name, status)
			}
		}
	})
}

// A service whose pods run only in west: east keeps a Service for httpbin
// (the call works through west's gateway) and none for api (the name does
// not resolve in east).
func TestRemoteOnlyService(t *testing.T) {
	l := labtest.Start(t, "remote-only-service", 2)
	t.Run("with-local-service", func(t *testing.T) {
		d := expectWorks(t, l, "httpbin.sample:8000", "--from", "east")
		if !slices.Equal(d.To, []string{"west"}) {
			t.Errorf("destinations %v, want west only", d.To)
		}
	})
	t.Run("without-local-service", func(t *testing.T) {
		expectBroken(t, l, "resolve", "MF4014", "api.sample", "--from", "east")
	})
}

func TestCutGateway(t *testing.T) {
	l := labtest.Start(t, "gateway-refusing", 2)
	d := expectBroken(t, l, "gateway", "MF3012", "helloworld.sample", "--from", "east")
	t.Run("bundle", func(t *testing.T) { sameFromBundle(t, l, d, "helloworld.sample", "--from", "east") })
}

func TestDifferentRoots(t *testing.T) {
	l := labtest.Start(t, "different-roots", 2)
	d := expectBroken(t, l, "gateway", "MF2001", "helloworld.sample", "--from", "east")
	if status, checks := d.hop("trust"); status != "fail" || !slices.Contains(checks, "MF2001") {
		t.Errorf("trust hop %s %v, want fail with MF2001", status, checks)
	}
}

func TestDenyPolicyOnSourcePrincipal(t *testing.T) {
	l := labtest.Start(t, "deny-policy", 2)
	d := expectBroken(t, l, "policy", "", "helloworld.sample", "--from", "east")
	found := false
	for _, h := range d.Hops {
		if h.Name == "policy" {
			for _, e := range h.Evidence {
				found = found || strings.Contains(e, "sample/deny-sample-default")
			}
		}
	}
	if !found {
		t.Errorf("the policy hop does not name sample/deny-sample-default")
	}
	t.Run("bundle", func(t *testing.T) { sameFromBundle(t, l, d, "helloworld.sample", "--from", "east") })
	// The policy names one principal: a caller of another namespace is let
	// in everywhere.
	expectWorks(t, l, "helloworld.sample", "--from", "east", "--from-namespace", "other")
}

func TestTrustDomainMismatch(t *testing.T) {
	l := labtest.Start(t, "trust-domain", 2)
	expectBroken(t, l, "trust", "MF2012", "helloworld.sample", "--from", "east")
}

func TestFailoverWithoutOutlierDetection(t *testing.T) {
	l := labtest.Start(t, "no-outlier-detection", 2)
	expectBroken(t, l, "locality", "MF5002", "helloworld.sample", "--from", "east")
}

func TestIstiodCutFromPeer(t *testing.T) {
	l := labtest.Start(t, "cut-path", 2)
	labtest.RequireIsolation(t, l)
	d := expectBroken(t, l, "discovery", "MF4011", "helloworld.sample", "--from", "east")
	t.Run("bundle", func(t *testing.T) { sameFromBundle(t, l, d, "helloworld.sample", "--from", "east") })
}

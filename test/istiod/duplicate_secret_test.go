package istiod

import (
	"context"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// duplicateCase is a lab where east holds two remote secrets for west, one
// with a token west's API server rejects, and what istiod makes of them.
type duplicateCase struct {
	scenario string
	// used and ignored are the secrets east's istiod must use and ignore
	// (its /debug/clusterz names the one it uses); working is the one whose
	// credentials west accepts.
	used, ignored, working string
	// status is what istiod reports of west once settled.
	status string
	// findings are the discovery findings, check@contexts, sorted.
	findings []string
}

var duplicateCases = []duplicateCase{
	{
		scenario: "duplicate-remote-secret-good-first",
		used:     "istio-system/istio-remote-secret-west", ignored: "istio-system/istio-remote-secret-west-old",
		working: "istio-system/istio-remote-secret-west", status: lab.Synced,
		findings: []string{"MF4013@east,west"},
	},
	{
		scenario: "duplicate-remote-secret-bad-first",
		used:     "istio-system/istio-remote-secret-west", ignored: "istio-system/istio-remote-secret-west-new",
		working: "istio-system/istio-remote-secret-west-new", status: lab.Timeout,
		findings: []string{"MF4011@east,west", "MF4013@east,west"},
	},
}

// TestDuplicateRemoteSecretsAgreeWithIstiod: for two remote secrets naming
// one cluster ID, in both orders (the secret istiod keeps is good, or its
// token is rejected), doctor, fix's plan and topology, reading istiod's
// clusterz through the port-forward to its pod, agree with istiod on which
// secret is in use: the link is judged by it, the other is reported as an
// ignored duplicate, a rejected token is never "only this machine's path",
// fix never deletes or rewrites the secret that works, and topology's edge
// is the secret istiod uses.
func TestDuplicateRemoteSecretsAgreeWithIstiod(t *testing.T) {
	for _, tc := range duplicateCases {
		t.Run(tc.scenario, func(t *testing.T) {
			l := labtest.Start(t, tc.scenario, 2)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			if m, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool { return m["west"] == tc.status }); err != nil {
				t.Fatalf("east's istiod never reported west %s: %v (last %v)", tc.status, err, m)
			}
			clusterz, err := l.Clusterz(ctx, "east")
			if err != nil {
				t.Fatal(err)
			}
			used := ""
			for _, c := range clusterz {
				if c.ID == "west" {
					used = c.SecretName
				}
			}
			if used != tc.used {
				t.Fatalf("east's istiod registered west from %q, the scenario means %q: %+v", used, tc.used, clusterz)
			}

			// doctor, through the port-forward to east's istiod pod.
			out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", "east,west")
			got := reporttest.Discovery(reporttest.Parse(t, out).Findings)
			for _, f := range got {
				t.Logf("%s %s %v: %s %v", f.Check, f.Severity, f.Contexts, f.Message, f.Evidence)
			}
			if k := reporttest.Keys(got); !reflect.DeepEqual(k, tc.findings) {
				t.Errorf("findings %v, want %v\nstderr: %s", k, tc.findings, stderr)
			}
			for _, f := range got {
				switch f.Check {
				case "MF4013":
					if f.Object == nil || f.Object.Namespace+"/"+f.Object.Name != tc.ignored {
						t.Errorf("MF4013's object is %+v, want the ignored duplicate %s", f.Object, tc.ignored)
					}
					for _, want := range []string{"istiod uses " + used, "ignores " + tc.ignored + " as a duplicate", "401"} {
						if !strings.Contains(f.Message, want) {
							t.Errorf("MF4013 does not say %q: %s", want, f.Message)
						}
					}
				case "MF4011":
					// Judged by the secret in use: its token is rejected;
					// the working duplicate is named, never a broken path.
					if !strings.Contains(f.Message, "401") || !strings.Contains(f.Message, tc.working+" also names") {
						t.Errorf("MF4011 does not judge west by %s with its rejected token and name the working %s: %s", used, tc.working, f.Message)
					}
				}
				if strings.Contains(f.Message, "only the path") || strings.Contains(f.Message, "path from east's istiod") {
					t.Errorf("%s calls a rejected token a path fault: %s", f.Check, f.Message)
				}
			}
			if st := reporttest.CheckStatus(t, out, "MF4008"); st != "reported-elsewhere" {
				t.Errorf("MF4008 is %q: the rejected token belongs to the duplicate's or istiod's finding", st)
			}
			if (tc.status != lab.Synced) != slices.ContainsFunc(got, func(f reporttest.Finding) bool { return f.Severity == "error" }) {
				t.Errorf("istiod reports west %s, doctor's errors disagree", tc.status)
			}

			// fix: never the deletion or rewrite of the secret that works.
			planOut, planErr, code := labtest.Run(t, l, "fix", "--only", "discovery", "--contexts", "east,west")
			if code != 0 {
				t.Fatalf("fix: exit %d\n%s\n%s", code, planOut, planErr)
			}
			plan := strings.Join(strings.Fields(strings.ReplaceAll(planOut, "#", " ")), " ")
			_, workingName, _ := strings.Cut(tc.working, "/")
			for key := range reporttest.PlanChanges(t, planOut) {
				if key == "east Secret "+tc.working {
					t.Errorf("fix rewrites %s, the secret that works:\n%s", tc.working, planOut)
				}
			}
			for _, m := range regexp.MustCompile(`delete secret ([a-z0-9.-]+)`).FindAllStringSubmatch(plan, -1) {
				if m[1] == workingName {
					t.Errorf("fix has the user delete %s, the secret that works:\n%s", tc.working, planOut)
				}
			}
			if !strings.Contains(plan, "keep "+tc.working) {
				t.Errorf("fix does not keep %s:\n%s", tc.working, planOut)
			}
			if used != tc.working && !strings.Contains(plan, "rollout restart deployment/istiod") {
				t.Errorf("istiod uses the broken secret: once it is deleted, istiod must be restarted to read %s:\n%s", tc.working, planOut)
			}
			for _, s := range labtest.Secrets(t, l) {
				if len(s) > 8 && (strings.Contains(out, s) || strings.Contains(planOut, s)) {
					t.Errorf("doctor or fix prints secret material (%d bytes)", len(s))
				}
			}

			// topology: the edge istiod uses.
			topo := topologyThroughPortForward(t, l, "east", "west")
			found := false
			for _, e := range topo.Edges {
				if e.From != "east" || e.To != "west" {
					continue
				}
				found = true
				wantCred := "unauthorized"
				if used == tc.working {
					wantCred = "ok"
				}
				if e.Secret != used || !reflect.DeepEqual(e.Ignored, []string{tc.ignored}) || e.Istiod != tc.status || e.Credentials != wantCred {
					t.Errorf("edge east → west on %s (ignored %v, istiod %s, credentials %s); istiod uses %s (%s), credentials %s, ignores %s",
						e.Secret, e.Ignored, e.Istiod, e.Credentials, used, tc.status, wantCred, tc.ignored)
				}
			}
			if !found {
				t.Errorf("no edge east → west: %+v", topo.Edges)
			}
		})
	}
}

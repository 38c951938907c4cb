package fix

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

var destinationRules = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}

// fixCase is one fault lab fix repairs as a user would: doctor reports the
// findings; fix prints a plan naming the change in each context; the server
// dry run writes nothing; --apply makes doctor clean of them; then fix has
// nothing left to do and --apply writes nothing.
type fixCase struct {
	scenario string
	check    string
	// want are the findings doctor reports first (check@contexts).
	want []string
	// changed are the objects the fix writes; inPlan are strings the plan
	// must hold for each context with a finding.
	changed func(l *lab.Lab) []objectRef
	inPlan  func(l *lab.Lab) []string
}

func TestFixLabs(t *testing.T) {
	for _, tc := range []fixCase{
		{
			scenario: "no-outlier-detection", check: "MF5002",
			want: []string{"MF5002@east", "MF5002@west"},
			changed: func(l *lab.Lab) []objectRef {
				return refsInEveryContext(l, destinationRules, "sample", "helloworld")
			},
			inPlan: func(*lab.Lab) []string {
				return []string{"kind: DestinationRule", "outlierDetection:", "consecutive5xxErrors: 5", "# answers: MF5002"}
			},
		},
		{
			scenario: "missing-network-label", check: "MF1003",
			want: []string{"MF1003@west"},
			changed: func(l *lab.Lab) []objectRef {
				return refsInEveryContext(l, corev1.SchemeGroupVersion.WithResource("namespaces"), "", "istio-system")
			},
			inPlan: func(l *lab.Lab) []string {
				// The network west's own gateway is labelled with.
				return []string{"kind: Namespace", "topology.istio.io/network: " + l.Network("west"), "# answers: MF1003"}
			},
		},
	} {
		t.Run(tc.scenario, func(t *testing.T) { testFixLab(t, tc) })
	}
}

func testFixLab(t *testing.T, tc fixCase) {
	l := labtest.Start(t, tc.scenario, 2)
	objs := tc.changed(l)
	if got := doctorKeys(t, l, tc.check); !reflect.DeepEqual(got, tc.want) {
		t.Fatalf("doctor finds %v, want %v", got, tc.want)
	}

	before := resourceVersions(t, l, objs...)
	out, code := runFix(t, l)
	if code != 0 {
		t.Fatalf("fix: exit %d\n%s", code, out)
	}
	for _, key := range tc.want {
		ctx := strings.SplitN(key, "@", 2)[1]
		if !strings.Contains(out, "# context: "+ctx) {
			t.Errorf("the plan has no change in %s\n%s", ctx, out)
		}
	}
	for _, s := range tc.inPlan(l) {
		if !strings.Contains(out, s) {
			t.Errorf("the plan lacks %q\n%s", s, out)
		}
	}

	out, code = runFix(t, l, "--dry-run=server")
	if code != 0 || !strings.Contains(out, "Server-side dry run (nothing was changed)") || strings.Contains(out, "  failed") {
		t.Errorf("fix --dry-run=server: exit %d\n%s", code, out)
	}
	if after := resourceVersions(t, l, objs...); !reflect.DeepEqual(before, after) {
		t.Fatalf("the server dry run wrote: %v → %v", before, after)
	}
	dryRun := actions(out)

	out, code = runFix(t, l, "--apply")
	// The dry run said what the apply then did, object by object.
	if applied := actions(out); len(dryRun) == 0 || !reflect.DeepEqual(dryRun, applied) {
		t.Errorf("the server dry run said %v, the apply did %v", dryRun, applied)
	}
	if code != 0 || !strings.Contains(out, tc.check) || !strings.Contains(out, "→ none") {
		t.Fatalf("fix --apply: exit %d, want 0 and %s gone in the re-check\n%s", code, tc.check, out)
	}
	if got := doctorKeys(t, l, tc.check); len(got) != 0 {
		t.Fatalf("after fix --apply doctor still finds %v", got)
	}
	expectNothingToDo(t, l, objs)
}

// One cluster rejects the change: the other is fixed, the run says where
// and exits 4, doctor still reports the rejected one; with the obstacle
// gone a second run converges.
func TestFixPartialFailure(t *testing.T) {
	l := labtest.Start(t, "no-outlier-detection", 2)
	ctx := context.Background()
	east, west := l.Contexts()[0], l.Contexts()[1]
	objs := refsInEveryContext(l, destinationRules, "sample", "helloworld")
	undo, err := l.DenyUpdates(ctx, west, destinationRules, "sample", "helloworld", "changes to helloworld are frozen by policy")
	if err != nil {
		t.Fatal(err)
	}
	before := resourceVersions(t, l, objs...)
	out, code := runFix(t, l, "--apply")
	if code != 4 {
		t.Fatalf("fix --apply with west rejecting: exit %d, want 4\n%s", code, out)
	}
	for _, want := range []string{
		east + "  DestinationRule.networking.istio.io sample/helloworld  configured",
		west + "  DestinationRule.networking.istio.io sample/helloworld  failed",
		"frozen by policy",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the result lacks %q\n%s", want, out)
		}
	}
	after := resourceVersions(t, l, objs...)
	if after[objs[0].String()] == before[objs[0].String()] || after[objs[1].String()] != before[objs[1].String()] {
		t.Errorf("east should be written and west not: %v → %v", before, after)
	}
	if got := doctorKeys(t, l, "MF5002"); !reflect.DeepEqual(got, []string{"MF5002@" + west}) {
		t.Errorf("after the partial fix doctor finds %v, want west's only", got)
	}

	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	out, code = runFix(t, l, "--apply")
	if code != 0 {
		t.Fatalf("fix --apply once west accepts: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, west+"  DestinationRule.networking.istio.io sample/helloworld  configured") ||
		!strings.Contains(out, "1 error → none") {
		t.Errorf("the second run did not converge:\n%s", out)
	}
	if got := doctorKeys(t, l, "MF5002"); len(got) != 0 {
		t.Errorf("doctor still finds %v", got)
	}
	expectNothingToDo(t, l, objs)
}

// actionLine is one object's result in fix's output: context, kind, object,
// then what was (or would be) done to it.
var actionLine = regexp.MustCompile(`(?m)^\s*(\S+  \S+ \S+)  (created|configured|unchanged|failed)\b`)

// actions are the results of a fix run, object → action.
func actions(out string) map[string]string {
	m := map[string]string{}
	for _, g := range actionLine.FindAllStringSubmatch(out, -1) {
		m[g[1]] = g[2]
	}
	return m
}

package fix

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// planned is a fixer that returns a fixed plan for the checks it answers.
type planned struct {
	answers []checks.ID
	plan    Plan
	calls   int
}

func (p *planned) Answers() []checks.ID { return p.answers }
func (p *planned) Plan(Input) (Plan, error) {
	p.calls++
	return p.plan, nil
}

func object(apiVersion, kind, ns, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	if labels != nil {
		u.SetLabels(labels)
	}
	return u
}

func findings(ids ...checks.ID) Input {
	var in Input
	for _, id := range ids {
		in.Findings = append(in.Findings, checks.Finding{Check: id})
	}
	return in
}

func TestBuildRunsOnlyFixersWithFindings(t *testing.T) {
	a := &planned{answers: []checks.ID{"MF1003"}, plan: Plan{Changes: []Change{
		{Context: "west", Object: object("v1", "Namespace", "", "istio-system", nil), Answers: []checks.ID{"MF1003"}},
	}}}
	b := &planned{answers: []checks.ID{"MF5002"}, plan: Plan{Notes: []Note{{Text: "never"}}}}
	plan, err := Build([]Fixer{a, b}, findings("MF1003", "MF2001"))
	if err != nil {
		t.Fatal(err)
	}
	if a.calls != 1 || b.calls != 0 {
		t.Errorf("calls: answering fixer %d, other %d; want 1, 0", a.calls, b.calls)
	}
	if len(plan.Changes) != 1 || len(plan.Notes) != 0 {
		t.Errorf("plan = %+v", plan)
	}
}

func TestBuildOrdersByPhaseContextKindNamespaceName(t *testing.T) {
	var changes []Change
	add := func(phase Phase, ctx, kind, ns, name string) {
		changes = append(changes, Change{Context: ctx, Phase: phase, Object: object("v1", kind, ns, name, nil)})
	}
	add(PhaseConfigure, "a", "Secret", "istio-system", "x")
	add(PhaseIdentity, "b", "ServiceAccount", "istio-system", "reader")
	add(PhasePrepare, "b", "Namespace", "", "istio-system")
	add(PhaseIdentity, "a", "ServiceAccount", "istio-system", "reader")
	add(PhaseIdentity, "a", "Secret", "istio-system", "b")
	add(PhaseIdentity, "a", "Secret", "default", "c")
	add(PhaseIdentity, "a", "Secret", "default", "a")
	f := &planned{answers: []checks.ID{"MF4001"}, plan: Plan{Changes: changes}}
	plan, err := Build([]Fixer{f}, findings("MF4001"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range plan.Changes {
		got = append(got, KeyOf(c).String())
	}
	want := []string{
		"Namespace istio-system in b",
		"Secret default/a in a", "Secret default/c in a", "Secret istio-system/b in a",
		"ServiceAccount istio-system/reader in a", "ServiceAccount istio-system/reader in b",
		"Secret istio-system/x in a",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("order:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBuildMergesIdenticalAndRejectsConflicts(t *testing.T) {
	label := func(v string) *unstructured.Unstructured {
		return object("v1", "Namespace", "", "istio-system", map[string]string{"topology.istio.io/network": v})
	}
	one := &planned{answers: []checks.ID{"MF1003"}, plan: Plan{Changes: []Change{
		{Context: "west", Object: label("net1"), Answers: []checks.ID{"MF1003"}, Reason: "west has no network"},
	}}}
	same := &planned{answers: []checks.ID{"MF3001"}, plan: Plan{Changes: []Change{
		{Context: "west", Object: label("net1"), Answers: []checks.ID{"MF3001"}, Reason: "the gateway says net1"},
	}}}
	plan, err := Build([]Fixer{one, same}, findings("MF1003", "MF3001"))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Changes) != 1 {
		t.Fatalf("identical changes not merged: %d changes", len(plan.Changes))
	}
	c := plan.Changes[0]
	if len(c.Answers) != 2 || c.Answers[0] != "MF1003" || c.Answers[1] != "MF3001" {
		t.Errorf("answers %v, want both", c.Answers)
	}
	if !strings.Contains(c.Reason, "west has no network") || !strings.Contains(c.Reason, "the gateway says net1") {
		t.Errorf("reason %q lost one of the reasons", c.Reason)
	}

	other := &planned{answers: []checks.ID{"MF3001"}, plan: Plan{Changes: []Change{
		{Context: "west", Object: label("net2"), Answers: []checks.ID{"MF3001"}},
	}}}
	_, err = Build([]Fixer{one, other}, findings("MF1003", "MF3001"))
	if err == nil || !strings.Contains(err.Error(), "fix.planned and fix.planned both change Namespace istio-system in west differently") {
		t.Errorf("conflict error = %v", err)
	}
	// The same object in another context is another object.
	otherCtx := &planned{answers: []checks.ID{"MF3001"}, plan: Plan{Changes: []Change{
		{Context: "east", Object: label("net2"), Answers: []checks.ID{"MF3001"}},
	}}}
	if plan, err := Build([]Fixer{one, otherCtx}, findings("MF1003", "MF3001")); err != nil || len(plan.Changes) != 2 {
		t.Errorf("changes in two contexts: %v, %d changes", err, len(plan.Changes))
	}
}

func TestBuildNeverMergesChangesCompletedAtApply(t *testing.T) {
	complete := func(context.Context, Clients) (*unstructured.Unstructured, error) { return nil, nil }
	secret := func() Change {
		return Change{Context: "east", Object: object("v1", "Secret", "istio-system", "s", nil), Pending: "a token", Complete: complete}
	}
	a := &planned{answers: []checks.ID{"MF4001"}, plan: Plan{Changes: []Change{secret()}}}
	b := &planned{answers: []checks.ID{"MF4002"}, plan: Plan{Changes: []Change{secret()}}}
	if _, err := Build([]Fixer{a, b}, findings("MF4001", "MF4002")); err == nil {
		t.Error("two changes completed at apply time were merged; what they send is not known")
	}
}

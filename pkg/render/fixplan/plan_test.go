package fixplan

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// secretValue stands for key material: it must never appear in a plan.
const secretValue = "-----BEGIN EC PRIVATE KEY-----\nnot-a-real-key-but-secret\n-----END EC PRIVATE KEY-----\n"

func u(obj map[string]any) *unstructured.Unstructured { return &unstructured.Unstructured{Object: obj} }

// handPlan has one of everything a plan can hold: a label on a namespace, a
// Secret with values, a Secret completed at apply time, a custom resource,
// notes (of a context and of the whole mesh) and a refusal.
func handPlan() fix.Plan {
	return fix.Plan{
		Changes: []fix.Change{
			{Context: "west", Phase: fix.PhasePrepare, Answers: []checks.ID{"MF1001"},
				Reason: "west's Istio namespace names no network while east's is on network1. istiod would hand west's pod IPs to east's clients, which cannot route to them; west's east-west gateway says it is on network2.",
				Object: u(map[string]any{"apiVersion": "v1", "kind": "Namespace",
					"metadata": map[string]any{"name": "istio-system", "labels": map[string]any{"topology.istio.io/network": "network2"}}})},
			{Context: "east", Phase: fix.PhaseIdentity, Answers: []checks.ID{"MF2001"},
				Reason: "east's intermediate, issued from the mesh root.",
				Object: u(map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
					"metadata":   map[string]any{"name": "cacerts", "namespace": "istio-system"},
					"data":       map[string]any{"ca-key.pem": base64.StdEncoding.EncodeToString([]byte(secretValue))},
					"stringData": map[string]any{"note": secretValue}})},
			{Context: "east", Phase: fix.PhaseConfigure, Answers: []checks.ID{"MF3001", "MF2001"},
				Reason:  "east's istiod reads west with this secret.",
				Pending: "the token of west's istio-reader-service-account, read from west at apply time",
				Complete: func(context.Context, fix.Clients) (*unstructured.Unstructured, error) {
					return nil, nil
				},
				Object: u(map[string]any{"apiVersion": "v1", "kind": "Secret",
					"metadata": map[string]any{"name": "istio-remote-secret-west", "namespace": "istio-system"},
					"data":     map[string]any{"west": ""}})},
			{Context: "east", Phase: fix.PhaseConfigure, Answers: []checks.ID{"MF5001"},
				Reason: "Failover needs outlier detection.\nThe values:\n- consecutive5xxErrors: 5",
				Object: u(map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
					"metadata": map[string]any{"name": "reviews", "namespace": "bookinfo"},
					"spec":     map[string]any{"trafficPolicy": map[string]any{"outlierDetection": map[string]any{"consecutive5xxErrors": int64(5)}}}})},
		},
		Notes: []fix.Note{
			{Text: "Restart istiod in every cluster, then the workloads."},
			{Context: "west", Answers: []checks.ID{"MF1001"}, Text: "istiod reads the network label when it starts: restart it (kubectl -n istio-system rollout restart deployment/istiod)."},
		},
		Refused: []fix.Refusal{
			{Context: "east", Answers: []checks.ID{"MF0001"}, Reason: "its API server is 127.0.0.1:6443, which no other cluster can reach; pass --server east=URL."},
		},
	}
}

func TestPlanGolden(t *testing.T) {
	p := handPlan()
	p.Sort()
	var b bytes.Buffer
	if err := Plan(&b, &p, mustCatalog(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.yaml", b.Bytes())
	assertNoSecret(t, b.String())
	for _, want := range []string{model.Redacted([]byte(secretValue)), "<filled in at apply>", "# context: west",
		"# answers: MF1001 Cluster IDs are unique", "# NOT FIXED (east; MF0001 Cluster unreachable)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q", want)
		}
	}
}

func TestPlanEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Plan(&b, &fix.Plan{}, mustCatalog(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-empty.yaml", b.Bytes())
	p := fix.Plan{Refused: handPlan().Refused}
	b.Reset()
	if err := Plan(&b, &p, mustCatalog(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-empty-refused.yaml", b.Bytes())
	if !strings.HasPrefix(b.String(), NothingToDo) {
		t.Errorf("an empty plan does not open with %q", NothingToDo)
	}
}

func TestPlanFilesPerContext(t *testing.T) {
	p := handPlan()
	p.Sort()
	files, err := PlanFiles(&p, mustCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files for %d contexts, want east and west", len(files))
	}
	for ctx, doc := range files {
		golden(t, filepath.Join("plan-files", ctx+".yaml"), doc)
		assertNoSecret(t, string(doc))
		other := map[string]string{"east": "west", "west": "east"}[ctx]
		if strings.Contains(string(doc), "# context: "+other) {
			t.Errorf("%s's file holds a change of %s", ctx, other)
		}
		// The mesh-wide note belongs to every file.
		if !strings.Contains(string(doc), "Restart istiod in every cluster") {
			t.Errorf("%s's file lacks the mesh-wide note", ctx)
		}
	}
}

// A value of the wrong shape in a Secret is not printed either.
func TestPlanSecretOddShapes(t *testing.T) {
	p := fix.Plan{Changes: []fix.Change{{Context: "east", Object: u(map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "namespace": "ns"}, "data": secretValue, "stringData": []any{secretValue}})}}}
	var b bytes.Buffer
	if err := Plan(&b, &p, mustCatalog(t)); err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, b.String())
}

func assertNoSecret(t *testing.T, out string) {
	t.Helper()
	for _, leak := range []string{"not-a-real-key", base64.StdEncoding.EncodeToString([]byte(secretValue))[:20]} {
		if strings.Contains(out, leak) {
			t.Fatalf("the plan prints secret material (%q):\n%s", leak, out)
		}
	}
}

// TestNextSteps: the notes come again after the result, as what is left to
// do; one text for several contexts is written once, naming them.
func TestNextSteps(t *testing.T) {
	notes := []fix.Note{
		{Context: "east", Answers: []checks.ID{"MF2001"}, Text: "Restart istiod, then the workloads."},
		{Context: "west", Answers: []checks.ID{"MF2001"}, Text: "Restart istiod, then the workloads."},
		{Context: "central", Text: "Something else."},
	}
	var b bytes.Buffer
	if err := NextSteps(&b, notes, checks.DefaultCatalog(), false, render.Styles{}); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if !strings.Contains(got, "Next steps:") || strings.Count(got, "Restart istiod") != 1 || !strings.Contains(got, "(east, west; MF2001") || !strings.Contains(got, "(central)") {
		t.Errorf("next steps:\n%s", got)
	}
	b.Reset()
	if err := NextSteps(&b, notes[:1], checks.DefaultCatalog(), true, render.Styles{}); err != nil || !strings.Contains(b.String(), "Next steps, once applied:") {
		t.Errorf("dry run: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := NextSteps(&b, nil, checks.DefaultCatalog(), false, render.Styles{}); err != nil || b.Len() != 0 {
		t.Errorf("no notes: %v %q", err, b.String())
	}
}

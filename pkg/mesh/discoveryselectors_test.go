package mesh

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pkg/config/mesh/labelselector"
)

// The binary does not link istio's labelselector (see
// discoveryselectors.go); this holds the port to it on selectors that cross
// each of its branches, against namespaces' labels.
func TestDiscoverySelectorsMatchIstios(t *testing.T) {
	docs := []string{
		"discoverySelectors: [{matchLabels: {env: prod}}]",
		"discoverySelectors: [{matchLabels: {env: prod, team: a}}, {matchLabels: {istio-injection: enabled}}]",
		"discoverySelectors: [{matchExpressions: [{key: env, operator: In, values: [prod, staging]}]}]",
		"discoverySelectors: [{matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}]",
		"discoverySelectors: [{matchExpressions: [{key: meshfed-lab/outside-discovery, operator: DoesNotExist}]}]",
		"discoverySelectors: [{matchExpressions: [{key: env, operator: Exists}]}, {matchLabels: {a: b}}]",
		"discoverySelectors: [{}]",
	}
	namespaces := []map[string]string{
		nil, {"env": "prod"}, {"env": "prod", "team": "a"}, {"env": "staging"}, {"env": "dev"},
		{"istio-injection": "enabled"}, {"meshfed-lab/outside-discovery": "true"}, {"a": "b"},
	}
	for _, doc := range docs {
		m, err := ParseMeshConfig(doc)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		sels, err := DiscoverySelectors(m)
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		for _, ns := range namespaces {
			want := false
			for _, ps := range m.GetDiscoverySelectors() {
				s, err := labelselector.LabelSelectorAsSelector(ps)
				if err != nil {
					t.Fatal(err)
				}
				want = want || s.Matches(labels.Set(ns))
			}
			if _, got := SelectedBy(sels, ns); got != want {
				t.Errorf("%s, namespace labels %v: selected %v, istio's filter says %v", doc, ns, got, want)
			}
		}
	}
}

func TestNoDiscoverySelectorsSelectEverything(t *testing.T) {
	if _, ok := SelectedBy(nil, map[string]string{"x": "y"}); !ok {
		t.Error("without selectors istiod discovers every namespace")
	}
	if _, err := DiscoverySelectors(&meshconfig.MeshConfig{DiscoverySelectors: []*meshconfig.LabelSelector{
		{MatchExpressions: []*meshconfig.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}},
	}}); err == nil {
		t.Error("an unknown operator must be an error, as in istiod")
	}
}

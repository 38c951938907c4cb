package e2e

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// report is the documented JSON schema of `doctor -o json`. Decoding with
// unknown fields disallowed would forbid additions; instead every documented
// field is required to be present (see requireSchema).
type report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Clusters   []struct {
		Context   string `json:"context"`
		ClusterID string `json:"clusterID"`
		Network   string `json:"network"`
		Role      string `json:"role"`
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
	} `json:"clusters"`
	Findings []finding `json:"findings"`
	Summary  struct {
		Errors   int `json:"errors"`
		Warnings int `json:"warnings"`
		Infos    int `json:"infos"`
		Checks   int `json:"checks"`
	} `json:"summary"`
}

type finding struct {
	Check    string   `json:"check"`
	Area     string   `json:"area"`
	Severity string   `json:"severity"`
	Contexts []string `json:"contexts"`
	Object   *struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"object"`
	Message  string   `json:"message"`
	Evidence []string `json:"evidence"`
}

func parseReport(t *testing.T, out string) report {
	t.Helper()
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json is not JSON: %v\n%s", err, out)
	}
	requireSchema(t, out)
	if r.APIVersion != "meshfed.dev/v1alpha1" || r.Kind != "Report" {
		t.Errorf("apiVersion/kind = %q/%q", r.APIVersion, r.Kind)
	}
	return r
}

// requireSchema checks that every documented field is present by name.
func requireSchema(t *testing.T, out string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"apiVersion", "kind", "clusters", "findings", "summary"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report has no %q", k)
		}
	}
	for _, c := range doc["clusters"].([]any) {
		for _, k := range []string{"context", "clusterID", "network", "role", "reachable"} {
			if _, ok := c.(map[string]any)[k]; !ok {
				t.Errorf("cluster %v has no %q", c, k)
			}
		}
	}
	for _, f := range doc["findings"].([]any) {
		for _, k := range []string{"check", "area", "severity", "contexts", "message"} {
			if _, ok := f.(map[string]any)[k]; !ok {
				t.Errorf("finding %v has no %q", f, k)
			}
		}
	}
	for _, k := range []string{"errors", "warnings", "infos", "checks"} {
		if _, ok := doc["summary"].(map[string]any)[k]; !ok {
			t.Errorf("summary has no %q", k)
		}
	}
}

// keys identifies findings as check@contexts, sorted, for comparison.
func keys(fs []finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Check+"@"+strings.Join(f.Contexts, ","))
	}
	sort.Strings(out)
	return out
}

func without(fs []finding, check string) []finding {
	var out []finding
	for _, f := range fs {
		if f.Check != check {
			out = append(out, f)
		}
	}
	return out
}

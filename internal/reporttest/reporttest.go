// Package reporttest reads the plugin's machine output in tests: the
// documented JSON report of `doctor -o json`, with every documented field
// required, and the findings by check and contexts. Shared by the lab test
// packages (test/e2e, test/istiod), which run as separate processes so that
// make test runs them in parallel.
package reporttest

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// Report is the documented JSON schema of `doctor -o json`. Decoding with
// unknown fields disallowed would forbid additions; instead every documented
// field is required to be present (see requireSchema).
type Report struct {
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
	Findings []Finding `json:"findings"`
	Summary  struct {
		Errors   int `json:"errors"`
		Warnings int `json:"warnings"`
		Infos    int `json:"infos"`
		Checks   int `json:"checks"`
	} `json:"summary"`
}

// Finding is one finding of a Report.
type Finding struct {
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

// Parse decodes a doctor's -o json output, failing t unless it is a Report
// with every documented field.
func Parse(t *testing.T, out string) Report {
	t.Helper()
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json is not JSON: %v\n%s", err, out)
	}
	RequireSchema(t, out)
	if r.APIVersion != "meshfed.dev/v1alpha1" || r.Kind != "Report" {
		t.Errorf("apiVersion/kind = %q/%q", r.APIVersion, r.Kind)
	}
	return r
}

// RequireSchema checks that every documented field is present by name.
func RequireSchema(t *testing.T, out string) {
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
	clusters, _ := doc["clusters"].([]any)
	for _, c := range clusters {
		for _, k := range []string{"context", "clusterID", "network", "role", "reachable"} {
			if _, ok := c.(map[string]any)[k]; !ok {
				t.Errorf("cluster %v has no %q", c, k)
			}
		}
	}
	findings, _ := doc["findings"].([]any)
	for _, f := range findings {
		for _, k := range []string{"check", "area", "severity", "contexts", "message"} {
			if _, ok := f.(map[string]any)[k]; !ok {
				t.Errorf("finding %v has no %q", f, k)
			}
		}
	}
	summary, _ := doc["summary"].(map[string]any)
	for _, k := range []string{"errors", "warnings", "infos", "checks"} {
		if _, ok := summary[k]; !ok {
			t.Errorf("summary has no %q", k)
		}
	}
}

// Keys identifies findings as check@contexts, sorted, for comparison.
func Keys(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Check+"@"+strings.Join(f.Contexts, ","))
	}
	sort.Strings(out)
	return out
}

// Of keeps the findings of the checks ids.
func Of(fs []Finding, ids ...string) []Finding {
	var out []Finding
	for _, f := range fs {
		for _, id := range ids {
			if f.Check == id {
				out = append(out, f)
			}
		}
	}
	return out
}

// Without drops the findings of check.
func Without(fs []Finding, check string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Check != check {
			out = append(out, f)
		}
	}
	return out
}

// Discovery keeps the discovery area's findings (MF4xxx) but MF4045's:
// istiod's past sync timeouts, which the lab's istiods (with
// PILOT_REMOTE_CLUSTER_TIMEOUT=5s) may rightly count while a loaded machine
// starts the lab, and every fault that times a peer out leaves behind once
// repaired. The tests of MF4045 (test/istiod history_test.go) look for it
// against what istiod counted.
func Discovery(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if strings.HasPrefix(f.Check, "MF4") && f.Check != "MF4045" {
			out = append(out, f)
		}
	}
	return out
}

// CheckStatus returns the status of check id in a doctor's JSON output
// (pass, fail, unknown, …), "" when the check did not run.
func CheckStatus(t testing.TB, out, id string) string {
	t.Helper()
	var r struct {
		Checks []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return ""
}

// PlannedChange is one change of a plan `fix` printed: Key is
// "context Kind namespace/name", Answers the checks it answers.
type PlannedChange struct {
	Key     string
	Answers []string
}

var (
	contextComment = regexp.MustCompile(`(?m)^# context: (\S+)`)
	answersComment = regexp.MustCompile(`(?m)^# answers: (MF\d{4})`)
	documents      = regexp.MustCompile(`(?m)^---\s*$`)
)

// PlanChanges reads the changes of a plan `fix` printed: each YAML
// document's object, with the context and answers from its comments.
func PlanChanges(t *testing.T, out string) map[string]PlannedChange {
	t.Helper()
	got := map[string]PlannedChange{}
	for _, doc := range documents.Split(out, -1) {
		ctx := contextComment.FindStringSubmatch(doc)
		if ctx == nil {
			continue
		}
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("plan document does not parse: %v\n%s", err, doc)
		}
		key := ctx[1] + " " + obj.Kind + " " + obj.Metadata.Namespace + "/" + obj.Metadata.Name
		c := PlannedChange{Key: key}
		for _, m := range answersComment.FindAllStringSubmatch(doc, -1) {
			c.Answers = append(c.Answers, m[1])
		}
		got[key] = c
	}
	return got
}

// TrustReport is the trust matrix of a doctor's JSON output: for every
// ordered pair of primaries, whether a workload of From is trusted by To.
type TrustReport struct {
	Trust *struct {
		Contexts []string `json:"contexts"`
		Cells    []struct {
			From    string `json:"from"`
			To      string `json:"to"`
			Verdict string `json:"verdict"`
			Reason  string `json:"reason"`
			Method  string `json:"method"`
		} `json:"cells"`
		At time.Time `json:"at"`
	} `json:"trust"`
}

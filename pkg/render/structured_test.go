package render

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, mixedReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "mixed.json", b.Bytes())
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// TestJSONSchema pins the documented schema (README "JSON schema"): field
// names are a contract with scripts, so a rename must fail here first.
func TestJSONSchema(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, mixedReport()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["apiVersion"] != "meshfed.dev/v1alpha1" || doc["kind"] != "Report" {
		t.Errorf("apiVersion/kind = %v/%v", doc["apiVersion"], doc["kind"])
	}
	if got, want := keys(doc), "apiVersion,checks,clusters,findings,kind,selection,summary"; got != want {
		t.Errorf("top-level keys %s, want %s", got, want)
	}
	north := doc["clusters"].([]any)[2].(map[string]any)
	if got, want := keys(north), "clusterID,context,error,network,reachable,role"; got != want {
		t.Errorf("cluster keys %s, want %s", got, want)
	}
	roots := doc["findings"].([]any)[1].(map[string]any)
	if got, want := keys(roots), "area,check,contexts,evidence,message,object,severity"; got != want {
		t.Errorf("finding keys %s, want %s", got, want)
	}
	if got, want := keys(roots["object"].(map[string]any)), "kind,name,namespace"; got != want {
		t.Errorf("object keys %s, want %s", got, want)
	}
	if roots["severity"] != "error" {
		t.Errorf("severity is %v, want the name \"error\"", roots["severity"])
	}
	if got, want := keys(doc["summary"].(map[string]any)), "checks,errors,incomplete,infos,notRun,passed,reportedElsewhere,unknowns,warnings"; got != want {
		t.Errorf("summary keys %s, want %s", got, want)
	}
}

func TestYAMLMatchesJSON(t *testing.T) {
	var j, y bytes.Buffer
	if err := JSON(&j, mixedReport()); err != nil {
		t.Fatal(err)
	}
	if err := YAML(&y, mixedReport()); err != nil {
		t.Fatal(err)
	}
	fromYAML, err := yaml.YAMLToJSON(y.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(j.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(fromYAML, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("YAML and JSON disagree:\n%s\n%s", ja, jb)
	}
}

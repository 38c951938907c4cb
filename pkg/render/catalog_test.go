package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCatalogTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := CatalogTable(&b, mustCatalog(t).Entries()); err != nil {
		t.Fatal(err)
	}
	golden(t, "catalog.txt", b.Bytes())
	if lines := strings.Count(b.String(), "\n"); lines != 6 {
		t.Errorf("want a header and 5 rows, got %d lines", lines)
	}
}

func TestExplainGolden(t *testing.T) {
	cat := mustCatalog(t)
	m, _ := cat.Lookup("MF2001")
	var b bytes.Buffer
	if err := Explain(&b, m, plainStyles()); err != nil {
		t.Fatal(err)
	}
	golden(t, "explain-mf2001.txt", b.Bytes())
	out := b.String()
	for _, want := range []string{m.Title, "Cross-cluster mTLS fails.", "kubectl create secret generic cacerts", "#mf2001", "Reads:", "secrets"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
}

func TestExplainWraps(t *testing.T) {
	m, _ := mustCatalog(t).Lookup("MF1001")
	m.Explanation = strings.Repeat("word ", 60)
	var b bytes.Buffer
	if err := Explain(&b, m, plainStyles()); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if len(line) > explainWidth+len(DocsBaseURL) && !strings.Contains(line, "http") {
			t.Errorf("line longer than %d: %q", explainWidth, line)
		}
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing space: %q", line)
		}
	}
}

func TestCatalogDocument(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, NewCatalogDocument(mustCatalog(t).Entries())); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kind   string
		Checks []struct{ ID, Severity, Doc string }
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "Catalog" || len(doc.Checks) != 5 {
		t.Fatalf("got kind %q with %d checks", doc.Kind, len(doc.Checks))
	}
	if c := doc.Checks[3]; c.ID != "MF3001" || c.Severity != "warning" || !strings.HasSuffix(c.Doc, "docs/checks.md#mf3001") {
		t.Errorf("entry 3 = %+v", c)
	}
	// An empty catalog is an empty list, never null.
	b.Reset()
	_ = JSON(&b, NewCatalogDocument(nil))
	if !strings.Contains(b.String(), `"checks": []`) {
		t.Errorf("empty catalog renders as %s", b.String())
	}
}

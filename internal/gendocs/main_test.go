package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// TestDocsUpToDate fails when docs/checks.md no longer matches the catalog.
func TestDocsUpToDate(t *testing.T) {
	var want bytes.Buffer
	if err := Generate(&want, checks.DefaultCatalog()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/checks.md")
	if err != nil {
		t.Fatalf("%v: run `make generate`", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/checks.md is out of date with pkg/checks/catalog.yaml: run `make generate` and commit the result")
	}
}

const testCatalog = `
checks:
- id: MF2001
  area: trust
  title: Roots differ | between clusters
  severity: error
  explanation: Workloads cannot verify each other.
  remediation: |
    Use one root:
      kubectl create secret generic cacerts -n istio-system
  needs: [secrets]
- id: MF0001
  area: general
  title: Cluster cannot be read
  severity: error
  explanation: Nothing can be checked.
  remediation: Fix the context.
- id: MF6001
  area: aws
  title: Private CA expires soon
  severity: warning
  explanation: Certificates stop being issued.
  remediation: Renew it.
  fixable: true
`

func TestGenerate(t *testing.T) {
	cat, err := checks.LoadCatalog([]byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Generate(&b, cat); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	// One anchor per ID, equal to the lower-case ID, and an index link to it.
	for _, id := range []string{"mf0001", "mf2001", "mf6001"} {
		if n := strings.Count(doc, `<a id="`+id+`"></a>`); n != 1 {
			t.Errorf("anchor %s appears %d times", id, n)
		}
		if !strings.Contains(doc, "(#"+id+")") {
			t.Errorf("index does not link to #%s", id)
		}
	}
	// Grouped by area in catalog order; areas without checks have no section.
	general, trust, aws := strings.Index(doc, "## General"), strings.Index(doc, "## Trust"), strings.Index(doc, "## AWS")
	if general < 0 || trust < general || aws < trust {
		t.Errorf("area sections out of order: general %d, trust %d, aws %d", general, trust, aws)
	}
	if strings.Contains(doc, "## Topology") {
		t.Error("a section for an area without checks")
	}
	// Each entry sits in its own area's section.
	if i := strings.Index(doc, "### MF2001"); i < trust || i > aws {
		t.Error("MF2001 is not in the Trust section")
	}
	for _, want := range []string{
		"**Severity:** warning · **Fixable:** yes",
		"**Reads:** `secrets`",
		"**Why it matters.** Workloads cannot verify each other.",
		"  kubectl create secret generic cacerts -n istio-system\n",
		`Roots differ \| between clusters |`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
	for i, line := range strings.Split(doc, "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("line %d has trailing space: %q", i+1, line)
		}
	}
}

func TestGenerateEmptyCatalog(t *testing.T) {
	cat, err := checks.LoadCatalog([]byte("checks: []"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Generate(&b, cat); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no checks in the catalog") || strings.Contains(b.String(), "<a id=") {
		t.Errorf("empty catalog document:\n%s", b.String())
	}
}

// Every link `explain` prints must land on an anchor this document has.
func TestExplainLinksLandOnAnchors(t *testing.T) {
	var b bytes.Buffer
	cat := checks.DefaultCatalog()
	if err := Generate(&b, cat); err != nil {
		t.Fatal(err)
	}
	for _, m := range cat.Entries() {
		link := render.DocLink(m)
		file, anchor, ok := strings.Cut(link, "#")
		if !ok || !strings.HasSuffix(file, "/docs/checks.md") {
			t.Errorf("%s: link %s does not point into docs/checks.md", m.ID, link)
			continue
		}
		if !strings.Contains(b.String(), `<a id="`+anchor+`"></a>`) {
			t.Errorf("%s: link %s has no anchor in docs/checks.md", m.ID, link)
		}
	}
}

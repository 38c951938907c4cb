package render

import (
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// DocsBaseURL is where docs/checks.md is published; a check's documentation
// is DocsBaseURL + "/" + Meta.DocURL().
const DocsBaseURL = "https://github.com/meshfed/kubectl-meshfed/blob/main"

// DocLink is the full address of a check's documentation.
func DocLink(m checks.Meta) string { return DocsBaseURL + "/" + m.DocURL() }

// CatalogDocument is the catalog as `kubectl meshfed checks -o json|yaml`
// writes it.
type CatalogDocument struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Checks     []CatalogEntry `json:"checks"`
}

// CatalogEntry is one catalog entry with the address of its documentation.
type CatalogEntry struct {
	checks.Meta
	Doc string `json:"doc"`
}

// NewCatalogDocument wraps catalog entries for JSON or YAML output.
func NewCatalogDocument(entries []checks.Meta) CatalogDocument {
	doc := CatalogDocument{APIVersion: checks.APIVersion, Kind: "Catalog", Checks: []CatalogEntry{}}
	for _, m := range entries {
		doc.Checks = append(doc.Checks, CatalogEntry{Meta: m, Doc: DocLink(m)})
	}
	return doc
}

// CatalogTable writes entries as a kubectl-style table.
func CatalogTable(w io.Writer, entries []checks.Meta) error {
	rows := [][]string{{"ID", "AREA", "SEVERITY", "FIXABLE", "TITLE"}}
	for _, m := range entries {
		fixable := "no"
		if m.Fixable {
			fixable = "yes"
		}
		rows = append(rows, []string{string(m.ID), string(m.Area), m.Severity.String(), fixable, m.Title})
	}
	widths := ColumnWidths(rows)
	var b strings.Builder
	for _, row := range rows {
		for j, cell := range row {
			if j == len(row)-1 {
				b.WriteString(cell)
				continue
			}
			b.WriteString(Pad(cell, widths[j]) + "   ")
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// explainWidth is the column explain wraps its paragraphs at.
const explainWidth = 80

// Explain writes one catalog entry in full: what `kubectl meshfed explain`
// shows and what the report's hint points at.
func Explain(w io.Writer, m checks.Meta, st Styles) error {
	var b strings.Builder
	b.WriteString(st.ID.Render(string(m.ID)) + "  " + st.Bold.Render(m.Title) + "\n\n")
	fixable := "no"
	if m.Fixable {
		fixable = "yes"
	}
	fields := [][2]string{
		{"Area:", string(m.Area)},
		{"Severity:", m.Severity.String()},
		{"Fixable:", fixable},
	}
	if len(m.Needs) > 0 {
		kinds := make([]string, len(m.Needs))
		for i, k := range m.Needs {
			kinds[i] = string(k)
		}
		fields = append(fields, [2]string{"Reads:", strings.Join(kinds, ", ")})
	}
	if m.Input != "" {
		fields = append(fields, [2]string{"Input:", m.Input.String()})
	}
	for _, f := range fields {
		b.WriteString("  " + Pad(f[0], 10) + f[1] + "\n")
	}
	b.WriteString("\n" + st.Heading.Render("Why it matters") + "\n")
	b.WriteString(indentWrapped(m.Explanation))
	b.WriteString("\n" + st.Heading.Render("How to fix") + "\n")
	b.WriteString(indentWrapped(m.Remediation))
	b.WriteString("\n" + st.Faint.Render("Documentation: "+DocLink(m)) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// indentWrapped wraps each line of s at explainWidth and indents it by two
// spaces. Line breaks in the catalog (lists, commands) are kept, and a wrapped
// line keeps its own indentation.
func indentWrapped(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString("\n")
			continue
		}
		indent := "  " + line[:len(line)-len(strings.TrimLeft(line, " "))]
		for _, l := range WrapWords(strings.Fields(line), explainWidth-len(indent)) {
			b.WriteString(indent + l + "\n")
		}
	}
	return b.String()
}

// WrapWords fills lines of at most width characters, breaking only between
// words: names like istio-system or a command line must survive a copy and
// paste, so unlike ansi.Wordwrap it never breaks at a hyphen. A word longer
// than width gets a line of its own.
func WrapWords(words []string, width int) []string {
	var lines []string
	var cur string
	for _, w := range words {
		switch {
		case cur == "":
			cur = w
		case lipgloss.Width(cur)+1+lipgloss.Width(w) <= width:
			cur += " " + w
		default:
			lines = append(lines, cur)
			cur = w
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// Recheck is one check's findings before and after fix applied its changes.
type Recheck struct {
	ID            checks.ID
	Before, After []checks.Finding
}

// Rechecks writes, per check, the findings by severity before → after and
// the findings that remain.
func Rechecks(w io.Writer, rs []Recheck, cat *checks.Catalog, st Styles) error {
	var b bytes.Buffer
	b.WriteString(st.Heading.Render("The checks again, read anew after applying:") + "\n")
	for _, r := range rs {
		title := string(r.ID)
		if m, ok := cat.Lookup(r.ID); ok {
			title += " " + m.Title
		}
		fmt.Fprintf(&b, "  %s: %s → %s\n", st.ID.Render(title), severityCounts(r.Before), severityCounts(r.After))
		for _, f := range r.After {
			ctx := strings.Join(f.Contexts, ",")
			if ctx != "" {
				ctx += ": "
			}
			fmt.Fprintf(&b, "    remains (%s) %s%s\n", f.Severity, ctx, f.Message)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// severityCounts says "1 error, 2 warnings", or "none".
func severityCounts(fs []checks.Finding) string {
	n := map[checks.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	var parts []string
	for _, s := range []checks.Severity{checks.SeverityError, checks.SeverityWarning, checks.SeverityUnknown, checks.SeverityInfo} {
		if n[s] > 0 {
			parts = append(parts, Plural(n[s], s.String(), s.String()+"s"))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

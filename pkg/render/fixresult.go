package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
)

// ApplyResult writes what applying a plan did, one line per change grouped
// by context, then a count per action. dryRun says the result is a server
// dry run's, which changed nothing.
func ApplyResult(w io.Writer, r fix.Result, dryRun bool, st Styles) error {
	var b bytes.Buffer
	if dryRun {
		b.WriteString(st.Heading.Render("Server-side dry run (nothing was changed):") + "\n")
	} else {
		b.WriteString(st.Heading.Render("Applied with server-side apply (field manager "+fix.FieldManager+"):") + "\n")
	}
	rows := make([][]string, 0, len(r.Outcomes))
	for _, o := range r.Outcomes {
		rows = append(rows, []string{o.Key.Context, o.Key.Object(), string(o.Action)})
	}
	widths := columnWidths(rows)
	counts := map[fix.Action]int{}
	for i, o := range r.Outcomes {
		counts[o.Action]++
		action := pad(rows[i][2], widths[2])
		switch o.Action {
		case fix.Failed:
			action = st.Error.Render(action)
		case fix.Skipped:
			action = st.Warning.Render(action)
		case fix.Created, fix.Configured:
			action = st.Pass.Render(action)
		}
		line := "  " + pad(rows[i][0], widths[0]) + "  " + pad(rows[i][1], widths[1]) + "  " + action
		if o.Detail != "" {
			line += "  " + st.Faint.Render(o.Detail)
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	var parts []string
	for _, a := range []fix.Action{fix.Created, fix.Configured, fix.Unchanged, fix.Failed, fix.Skipped} {
		if counts[a] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[a], a))
		}
	}
	verb := "changes"
	if dryRun {
		verb = "changes would be"
	}
	fmt.Fprintf(&b, "%d %s: %s\n", len(r.Outcomes), verb, strings.Join(parts, ", "))
	_, err := w.Write(b.Bytes())
	return err
}

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
			parts = append(parts, plural(n[s], s.String(), s.String()+"s"))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

package fixplan

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// ApplyResult writes what applying a plan did, one line per change grouped
// by context, then a count per action. dryRun says the result is a server
// dry run's, which changed nothing.
func ApplyResult(w io.Writer, r fix.Result, dryRun bool, st render.Styles) error {
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
	widths := render.ColumnWidths(rows)
	counts := map[fix.Action]int{}
	for i, o := range r.Outcomes {
		counts[o.Action]++
		action := render.Pad(rows[i][2], widths[2])
		switch o.Action {
		case fix.Failed:
			action = st.Error.Render(action)
		case fix.Skipped:
			action = st.Warning.Render(action)
		case fix.Created, fix.Configured:
			action = st.Pass.Render(action)
		}
		line := "  " + render.Pad(rows[i][0], widths[0]) + "  " + render.Pad(rows[i][1], widths[1]) + "  " + action
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

// NextSteps writes the plan's notes again after its result, as the steps
// left to do (restarting istiod, then the workloads, after a root change):
// printed only before the result, they scrolled away behind it. Notes whose
// text is the same for several contexts are written once, naming them all.
func NextSteps(w io.Writer, notes []fix.Note, cat *checks.Catalog, dryRun bool, st render.Styles) error {
	if len(notes) == 0 {
		return nil
	}
	var b bytes.Buffer
	heading := "Next steps:"
	if dryRun {
		heading = "Next steps, once applied:"
	}
	b.WriteString("\n" + st.Heading.Render(heading) + "\n")
	type group struct {
		contexts []string
		note     fix.Note
	}
	var groups []*group
	byText := map[string]*group{}
	for _, n := range notes {
		key := strings.TrimSpace(n.Text) + "\x00" + fmt.Sprint(n.Answers)
		if g, ok := byText[key]; ok {
			g.contexts = append(g.contexts, n.Context)
			continue
		}
		g := &group{contexts: []string{n.Context}, note: n}
		byText[key] = g
		groups = append(groups, g)
	}
	for _, g := range groups {
		var c bytes.Buffer
		comment(&c, "", g.note.Text)
		fmt.Fprintf(&b, "- %s\n", where(strings.Join(g.contexts, ", "), g.note.Answers, cat))
		for _, line := range strings.Split(strings.TrimRight(c.String(), "\n"), "\n") {
			b.WriteString("  " + strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

package render

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/trace"
)

// TraceText draws a trace for an incident: a header, one line per hop
// (✓ ‼ ✗ ?), and the first broken hop expanded with its evidence, the
// doctor's findings, the checks to explain and what to change. Every other
// hop that is not OK shows its findings' check IDs on its line.
func TraceText(w io.Writer, t trace.Trace, st Styles) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:%d from %s (namespace %s, as %s)\n", st.Heading.Render("trace"), t.Host, t.Port, t.From, t.FromNamespace, t.Identity)
	if len(t.To) > 0 {
		fmt.Fprintf(&b, "  %s %s\n", st.Faint.Render("destinations:"), strings.Join(t.To, ", "))
	}
	if o := t.Offline; o != nil {
		// Never to be mistaken for a live reading: which bundles, how old.
		for _, bu := range o.Bundles {
			fmt.Fprintf(&b, "  %s %s, read %s (%s ago)\n", st.Faint.Render("from bundle:"), bu.File, bu.ReadAt.UTC().Format(time.RFC3339), bu.Age)
		}
		fmt.Fprintf(&b, "  %s\n", st.Faint.Render("live results: "+o.LiveResults))
	}
	width := 0
	for _, h := range t.Hops {
		width = max(width, len(h.Name))
	}
	for _, h := range t.Hops {
		fmt.Fprintf(&b, "%s %d %-*s  %s", hopSymbol(h.Status, st), h.Step, width, h.Name, h.Summary)
		if len(h.Checks) > 0 && h.Status != trace.OK {
			ids := make([]string, len(h.Checks))
			for i, id := range h.Checks {
				ids[i] = string(id)
			}
			fmt.Fprintf(&b, " %s", st.ID.Render("["+strings.Join(ids, " ")+"]"))
		}
		b.WriteString("\n")
		if h.Name != t.FirstBroken || h.Status == trace.OK {
			continue
		}
		for _, e := range h.Evidence {
			fmt.Fprintf(&b, "      %s\n", st.Faint.Render(e))
		}
		for _, f := range h.Findings {
			fmt.Fprintf(&b, "      %s %s %s: %s\n", st.ID.Render(string(f.Check)), f.Severity, strings.Join(f.Contexts, ","), f.Message)
		}
		if h.Remediation != "" {
			fmt.Fprintf(&b, "      %s %s\n", st.Bold.Render("fix:"), h.Remediation)
		}
		for _, id := range h.Checks {
			fmt.Fprintf(&b, "      %s kubectl meshfed explain %s\n", st.Faint.Render("more:"), id)
		}
	}
	switch t.Verdict {
	case trace.Fail:
		fmt.Fprintf(&b, "%s the call breaks at hop %s\n", st.Error.Render("broken:"), t.FirstBroken)
	case trace.Unknown:
		fmt.Fprintf(&b, "%s hop %s could not be observed; no hop before it fails\n", st.Unknown.Render("cannot tell:"), t.FirstBroken)
	default:
		fmt.Fprintf(&b, "%s every hop of the call works\n", st.Pass.Render("ok:"))
	}
	if t.ProbedFrom != "" {
		fmt.Fprintf(&b, "%s\n", st.Faint.Render("probes ran from "+t.ProbedFrom+": a path that answers here may still be closed to the source's pods"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func hopSymbol(s trace.Status, st Styles) string {
	switch s {
	case trace.OK:
		return st.Pass.Render("✓")
	case trace.Warn:
		return st.Warning.Render("‼")
	case trace.Fail:
		return st.Error.Render("✗")
	}
	return st.Unknown.Render("?")
}

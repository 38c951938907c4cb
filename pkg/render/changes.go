package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// findingKey names a finding across runs: its check, contexts and object.
// Messages may change between runs (a count, an age), the subject does not.
func findingKey(f checks.Finding) string {
	k := string(f.Check) + " [" + strings.Join(f.Contexts, ",") + "]"
	if f.Object != nil {
		k += " " + objectString(f.Object)
	}
	return k
}

// Changes writes what changed from one run's report to the next, in one
// line per kind: the findings gone, the new ones, and the counts now. It is
// what doctor --wait (and fix --apply --wait) show between runs.
func Changes(w io.Writer, prev, next *checks.Report, st Styles) error {
	before, after := map[string]bool{}, map[string]bool{}
	for _, f := range prev.Findings {
		before[findingKey(f)] = true
	}
	for _, f := range next.Findings {
		after[findingKey(f)] = true
	}
	var gone, added []string
	for _, f := range prev.Findings {
		if k := findingKey(f); !after[k] {
			gone = append(gone, k)
			after[k] = true // once
		}
	}
	for _, f := range next.Findings {
		if k := findingKey(f); !before[k] {
			added = append(added, k)
			before[k] = true
		}
	}
	var b strings.Builder
	if len(gone) == 0 && len(added) == 0 {
		b.WriteString(st.Faint.Render("no change") + "\n")
	}
	if len(gone) > 0 {
		b.WriteString(st.Pass.Render("✓ gone:") + " " + strings.Join(gone, "; ") + "\n")
	}
	if len(added) > 0 {
		b.WriteString(st.Error.Render("✗ new:") + " " + strings.Join(added, "; ") + "\n")
	}
	t := textReport{r: next, st: st}
	fmt.Fprintf(&b, "now: %s\n", t.summaryText())
	_, err := io.WriteString(w, b.String())
	return err
}

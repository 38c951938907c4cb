package render

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Text writes the report for people: the clusters, then every selected check
// grouped by area in catalog order (findings in full, passes on one line),
// then a summary line. cat supplies each check's one-line why; it may be nil.
func Text(w io.Writer, r *checks.Report, cat *checks.Catalog, st Styles) error {
	t := textReport{r: r, cat: cat, st: st}
	t.offline()
	t.clusters()
	t.unreadMembers()
	t.mesh()
	t.areas()
	t.summary()
	_, err := io.WriteString(w, t.b.String())
	return err
}

type textReport struct {
	b   strings.Builder
	r   *checks.Report
	cat *checks.Catalog
	st  Styles
}

func (t *textReport) line(indent int, parts ...string) {
	t.b.WriteString(strings.Repeat("  ", indent))
	t.b.WriteString(strings.Join(parts, " "))
	t.b.WriteByte('\n')
}

// clusters writes the header: one row per cluster, so every finding below can
// be read against the cluster IDs, networks and roles the tool saw.
func (t *textReport) clusters() {
	t.line(0, t.st.Heading.Render("Clusters"))
	// The data plane gets a column only when some cluster runs ambient:
	// a sidecar mesh's header stays as it was.
	ambient := slices.ContainsFunc(t.r.Clusters, func(c checks.ClusterSummary) bool {
		return c.DataPlane == "ambient" || c.DataPlane == "mixed"
	})
	head := []string{"CONTEXT", "CLUSTER ID", "NETWORK", "ROLE", "STATUS"}
	if ambient {
		head = []string{"CONTEXT", "CLUSTER ID", "NETWORK", "ROLE", "DATA PLANE", "STATUS"}
	}
	rows := [][]string{head}
	for _, c := range t.r.Clusters {
		status := "reachable"
		if !c.Reachable {
			status = "unreachable"
			if c.Error != "" {
				status += ": " + c.Error
			}
		}
		if ambient {
			rows = append(rows, []string{c.Context, dash(c.ClusterID), dash(c.Network), dash(c.Role), dash(c.DataPlane), status})
			continue
		}
		rows = append(rows, []string{c.Context, dash(c.ClusterID), dash(c.Network), dash(c.Role), status})
	}
	widths := ColumnWidths(rows)
	for i, row := range rows {
		cells := make([]string, len(row))
		for j, cell := range row {
			if j < len(row)-1 {
				cell = Pad(cell, widths[j])
			}
			cells[j] = cell
		}
		last := len(cells) - 1
		switch {
		case i == 0:
			for j := range cells {
				cells[j] = t.st.Faint.Render(cells[j])
			}
		case t.r.Clusters[i-1].Reachable:
			cells[last] = t.st.Pass.Render(cells[last])
		default:
			cells[last] = t.st.Error.Render(cells[last])
		}
		t.line(1, strings.Join(cells, "  "))
	}
}

// unreadMembers lists the clusters of the mesh the read ones point at that
// were not read, with the context that would read each: a report over part
// of a mesh says so, and what to add, before any finding is read.
// offline opens a report made from bundles (doctor --bundle) with where each
// cluster came from and how old each bundle is, so that nobody mistakes it
// for a live reading, and says that the live-only results are as observed
// then.
func (t *textReport) offline() {
	o := t.r.Offline
	if o == nil {
		return
	}
	t.line(0, t.st.Heading.Render("From bundles"), t.st.Faint.Render("(nothing was read or probed live; certificates judged at "+o.JudgedAt.UTC().Format(time.RFC3339)+")"))
	for _, b := range o.Bundles {
		what := strings.Join(b.Contexts, ", ")
		if what == "" {
			what = "no cluster used"
		}
		if len(b.Superseded) > 0 {
			what += "; a newer bundle's reading used for " + strings.Join(b.Superseded, ", ")
		}
		t.line(1, fmt.Sprintf("%s: read %s (%s ago) by kubectl-meshfed %s, format %d: %s",
			b.File, b.ReadAt.UTC().Format(time.RFC3339), b.Age, dash(b.Tool), b.FormatVersion, what))
	}
	t.line(1, t.st.Faint.Render("Live results: "+o.LiveResults))
	t.b.WriteByte('\n')
}

func (t *textReport) unreadMembers() {
	if len(t.r.UnreadMembers) == 0 && len(t.r.UnreadNetworks) == 0 {
		return
	}
	t.b.WriteByte('\n')
	t.line(0, t.st.Heading.Render("In the mesh, not read"), t.st.Faint.Render("(the clusters read point at them; add their contexts to check them)"))
	rows := [][]string{{"CLUSTER ID", "NETWORK", "READ WITH", "SEEN BY"}}
	for _, m := range t.r.UnreadMembers {
		with := "-"
		switch m.MatchedBy {
		case model.MatchedByServer:
			with = m.Context + " (same API server)"
		case model.MatchedByName:
			with = m.Context + " (same name)"
		}
		seen := m.SeenBy
		if len(seen) > 2 {
			seen = append(seen[:2:2], fmt.Sprintf("and %d more (-o json)", len(m.SeenBy)-2))
		}
		rows = append(rows, []string{m.ClusterID, dash(m.Network), with, strings.Join(seen, "; ")})
	}
	if len(t.r.UnreadMembers) > 0 {
		widths := ColumnWidths(rows)
		for i, row := range rows {
			cells := make([]string, len(row))
			for j, cell := range row {
				if j < len(row)-1 {
					cell = Pad(cell, widths[j])
				}
				if i == 0 {
					cell = t.st.Faint.Render(cell)
				}
				cells[j] = cell
			}
			t.line(1, strings.Join(cells, "  "))
		}
	}
	if len(t.r.UnreadNetworks) > 0 {
		t.line(1, "networks in meshNetworks with no cluster read or known on them: "+strings.Join(t.r.UnreadNetworks, ", "))
	}
}

// mesh writes the mesh's shape in brief under the clusters, and what that
// shape trades off, so the findings below are read against it.
func (t *textReport) mesh() {
	m := t.r.Mesh
	if m == nil || len(m.Lines) == 0 {
		return
	}
	t.b.WriteByte('\n')
	t.line(0, t.st.Heading.Render("Mesh"), m.Lines[0])
	for _, l := range m.Lines[1:] {
		t.line(1, l)
	}
	for _, l := range WrapWords(strings.Fields(m.TradeOffs), 100) {
		t.line(1, t.st.Faint.Render(l))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ColumnWidths(rows [][]string) []int {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for j, cell := range row {
			widths[j] = max(widths[j], lipgloss.Width(cell))
		}
	}
	return widths
}

func Pad(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-lipgloss.Width(s)))
}

// areas writes each area that has a selected check, in the catalog's order.
func (t *textReport) areas() {
	byCheck := map[checks.ID][]checks.Finding{}
	for _, f := range t.r.Findings {
		byCheck[f.Check] = append(byCheck[f.Check], f)
	}
	for _, area := range checks.Areas {
		var inArea []checks.CheckResult
		for _, c := range t.r.Checks {
			if c.Area == area {
				inArea = append(inArea, c)
			}
		}
		if len(inArea) == 0 {
			continue
		}
		t.b.WriteByte('\n')
		t.line(0, t.st.Heading.Render(areaTitle(area)))
		var passed, readOnly, notCompared []string
		notRun := map[string][]string{}    // by reason
		elsewhere := map[string][]string{} // by the checks that report it
		for _, c := range inArea {
			switch {
			case c.Status == checks.StatusNotRun:
				notRun[c.NotRun] = append(notRun[c.NotRun], string(c.ID))
				continue
			case c.Status == checks.StatusReportedElsewhere && len(byCheck[c.ID]) == 0 && len(c.Unknown) == 0:
				under := make([]string, len(c.ReportedUnder))
				for i, id := range c.ReportedUnder {
					under[i] = string(id)
				}
				key := strings.Join(under, ", ")
				elsewhere[key] = append(elsewhere[key], string(c.ID))
				continue
			case c.Status == checks.StatusPass && len(byCheck[c.ID]) == 0 && len(c.Unknown) == 0 && len(c.NotCompared) > 0:
				readOnly = append(readOnly, string(c.ID))
				notCompared = c.NotCompared
				continue
			case c.Status == checks.StatusPass && len(byCheck[c.ID]) == 0 && len(c.Unknown) == 0:
				passed = append(passed, string(c.ID))
				continue
			}
			t.check(c, byCheck[c.ID])
		}
		t.passed(passed)
		t.passedReadOnly(readOnly, notCompared)
		t.reportedElsewhere(elsewhere)
		t.notRun(notRun)
		if area == checks.AreaConnectivity && t.r.Reachability != nil {
			var b strings.Builder
			reachability(&b, t.r.Reachability)
			for _, l := range strings.Split(strings.Trim(b.String(), "\n"), "\n") {
				t.line(1, l)
			}
		}
		if area == checks.AreaTrust {
			t.trustMatrix()
		}
	}
}

func areaTitle(a checks.Area) string {
	if a == checks.AreaAWS {
		return "AWS"
	}
	s := string(a)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// notRun writes the checks of an area that did not run, a line per reason:
// they judged nothing, so they are neither passed nor unknown.
func (t *textReport) notRun(byReason map[string][]string) {
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		t.line(1, t.st.Faint.Render("– not run:"), t.st.ID.Render(strings.Join(byReason[r], " "))+t.st.Faint.Render(": "+r))
	}
}

// reportedElsewhere writes the checks that saw a problem another check
// reports, a line per reporting check: not ✓, since they did not find their
// input fine, and not a finding twice.
func (t *textReport) reportedElsewhere(byOther map[string][]string) {
	others := make([]string, 0, len(byOther))
	for o := range byOther {
		others = append(others, o)
	}
	sort.Strings(others)
	for _, o := range others {
		t.line(1, t.st.Faint.Render("→"), t.st.ID.Render(strings.Join(byOther[o], " ")), t.st.Faint.Render("reported under "+o))
	}
}

// passedPerLine keeps the line of passed checks within a terminal's width.
const passedPerLine = 10

// passed writes the checks of an area that passed with nothing to say on one
// line, by ID: in an incident the findings are what matters, and a title
// names the problem a check looks for, which reads wrongly next to a ✓.
// `kubectl meshfed checks` lists the titles.
func (t *textReport) passed(ids []string) {
	for len(ids) > 0 {
		n := min(len(ids), passedPerLine)
		t.line(1, t.st.Pass.Render("✓"), t.st.Faint.Render("passed:"), t.st.ID.Render(strings.Join(ids[:n], " ")))
		ids = ids[n:]
	}
}

// passedReadOnly writes the checks that compare clusters and passed over
// the clusters read: a ✓ for those, and the members they were not compared
// with, so that a partial read is not taken for the whole mesh's pass.
func (t *textReport) passedReadOnly(ids, notCompared []string) {
	if len(ids) == 0 {
		return
	}
	if len(t.r.Clusters) == 1 {
		// One cluster read: what the check judges of a cluster alone
		// passed, and there was no pair to compare at all.
		t.line(1, t.st.Pass.Render("✓"), t.st.Faint.Render("passed on the one cluster read, with no other to compare it with ("+strings.Join(notCompared, ", ")+" not read):"), t.st.ID.Render(strings.Join(ids, " ")))
		return
	}
	t.line(1, t.st.Pass.Render("✓"), t.st.Faint.Render("passed between the clusters read:"), t.st.ID.Render(strings.Join(ids, " ")))
	t.line(2, t.st.Faint.Render(notComparedLine(notCompared)))
}

func notComparedLine(ids []string) string {
	return "pairs with " + strings.Join(ids, ", ") + " not compared: not read"
}

// check writes one check with its findings, the contexts it could not look
// at, why it matters and where to read more.
func (t *textReport) check(c checks.CheckResult, found []checks.Finding) {
	t.line(1, t.checkSymbol(c), t.st.ID.Render(string(c.ID)), c.Title)
	if len(found) == 0 && len(c.Unknown) == 0 {
		return
	}
	for _, f := range found {
		t.finding(f)
	}
	for _, u := range t.unknownLines(c.Unknown) {
		t.line(3, t.st.Unknown.Render("?"), u)
	}
	if len(c.NotCompared) > 0 {
		t.line(3, t.st.Faint.Render(notComparedLine(c.NotCompared)))
	}
	if why := t.why(c.ID); why != "" {
		t.line(3, t.st.Faint.Render("why: "+why))
	}
	t.line(3, t.st.Faint.Render("more: kubectl meshfed explain "+string(c.ID)))
}

func (t *textReport) finding(f checks.Finding) {
	t.line(3, t.severitySymbol(f.Severity), f.Message)
	var where []string
	if len(f.Contexts) > 0 {
		where = append(where, "contexts: "+strings.Join(f.Contexts, ", "))
	}
	if f.Object != nil {
		where = append(where, "object: "+objectString(f.Object))
	}
	if len(where) > 0 {
		t.line(4, t.st.Faint.Render(strings.Join(where, " · ")))
	}
	for _, e := range f.Evidence {
		t.line(4, "- "+e)
	}
}

func objectString(o *checks.ObjectRef) string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// unknownLines says which contexts a check could not look at and why, one
// line per reason. An unreachable cluster's error is in the header already,
// so here it is only named, and all such clusters share one line.
func (t *textReport) unknownLines(unknown []checks.UnknownContext) []string {
	var reasons []string
	contexts := map[string][]string{}
	for _, u := range unknown {
		reason := u.Reason
		if t.unreachable(u.Context) {
			reason = "cluster unreachable (see Clusters)"
		}
		if _, seen := contexts[reason]; !seen {
			reasons = append(reasons, reason)
		}
		contexts[reason] = append(contexts[reason], u.Context)
	}
	lines := make([]string, len(reasons))
	for i, r := range reasons {
		lines[i] = "not checked on " + strings.Join(contexts[r], ", ") + ": " + r
	}
	return lines
}

func (t *textReport) unreachable(context string) bool {
	for _, c := range t.r.Clusters {
		if c.Context == context {
			return !c.Reachable
		}
	}
	return false
}

func (t *textReport) why(id checks.ID) string {
	if t.cat == nil {
		return ""
	}
	m, ok := t.cat.Lookup(id)
	if !ok {
		return ""
	}
	return FirstSentence(m.Explanation)
}

func (t *textReport) checkSymbol(c checks.CheckResult) string {
	switch c.Status {
	case checks.StatusPass:
		return t.st.Pass.Render("✓")
	case checks.StatusUnknown:
		return t.st.Unknown.Render("?")
	}
	return t.severitySymbol(c.Worst)
}

func (t *textReport) severitySymbol(s checks.Severity) string {
	switch s {
	case checks.SeverityError:
		return t.st.Error.Render("✗")
	case checks.SeverityWarning:
		return t.st.Warning.Render("!")
	case checks.SeverityUnknown:
		return t.st.Unknown.Render("?")
	case checks.SeverityInfo:
		return t.st.Info.Render("i")
	}
	return t.st.Pass.Render("✓")
}

// summary writes e.g. "2 errors, 1 warning, 0 unknown · 6 checks, 3 passed · 3 clusters".
func (t *textReport) summary() {
	t.b.WriteByte('\n')
	t.line(0, t.summaryText())
}

// summaryText counts what the report shows. Severity counts come from the
// report's Summary; "unknown" counts the unknown findings and the checks
// that could not look at every cluster (Incomplete), since each shows a ?:
// a run with a dead cluster never reads "0 unknown" over rows of ?.
func (t *textReport) summaryText() string {
	s := t.r.Summary
	counts := []string{
		t.count(s.Errors, "error", "errors", t.st.Error),
		t.count(s.Warnings, "warning", "warnings", t.st.Warning),
	}
	if s.Infos > 0 {
		counts = append(counts, t.count(s.Infos, "info", "infos", t.st.Info))
	}
	counts = append(counts, t.count(s.Unknowns+s.Incomplete, "unknown", "unknown", t.st.Unknown))

	clusters := Plural(len(t.r.Clusters), "cluster", "clusters")
	unreachable := 0
	for _, c := range t.r.Clusters {
		if !c.Reachable {
			unreachable++
		}
	}
	if unreachable > 0 {
		clusters += fmt.Sprintf(" (%d unreachable)", unreachable)
	}
	if n := len(t.r.UnreadMembers); n > 0 {
		clusters += fmt.Sprintf(", %d more in the mesh not read", n)
	}
	checked := []string{Plural(s.Checks, "check", "checks"), fmt.Sprintf("%d passed", s.Passed)}
	if s.Incomplete > 0 {
		checked = append(checked, t.st.Unknown.Render(fmt.Sprintf("%d incomplete", s.Incomplete)))
	}
	if s.ReportedElsewhere > 0 {
		checked = append(checked, fmt.Sprintf("%d reported under another", s.ReportedElsewhere))
	}
	if s.NotRun > 0 {
		checked = append(checked, fmt.Sprintf("%d not run", s.NotRun))
	}
	return strings.Join(counts, ", ") + " · " + strings.Join(checked, ", ") + " · " + clusters
}

func (t *textReport) count(n int, one, many string, style lipgloss.Style) string {
	s := Plural(n, one, many)
	if n == 0 {
		return s
	}
	return style.Render(s)
}

func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// FirstSentence returns the first sentence of a catalog text, on one line: the
// "why" a report shows next to a finding. A sentence ends at '.', '!' or '?'
// followed by a space, unless the period closes an abbreviation ("e.g. the").
// Catalog sentences may start in lower case ("istiod keys…"), so the next
// word's case proves nothing.
func FirstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for i := 0; i+1 < len(s); i++ {
		if !strings.ContainsRune(".!?", rune(s[i])) || s[i+1] != ' ' {
			continue
		}
		if s[i] == '.' && isAbbreviation(s[:i+1]) {
			continue
		}
		return s[:i+1]
	}
	return s
}

var abbreviations = []string{"e.g.", "i.e.", "etc.", "vs.", "cf."}

// isAbbreviation reports whether s ends with an abbreviation standing as a
// word of its own.
func isAbbreviation(s string) bool {
	word := s[strings.LastIndexAny(s, " (")+1:]
	for _, a := range abbreviations {
		if strings.EqualFold(word, a) {
			return true
		}
	}
	return false
}

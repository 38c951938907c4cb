package render

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/lipgloss"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// TextLayout is how much of the report the text output shows (-o).
type TextLayout int

const (
	// LayoutIncident (-o text, the default) is read in an incident: the
	// verdict and counts, then errors worst first, warnings, unknowns, and
	// the passed checks folded to a line per area.
	LayoutIncident TextLayout = iota
	// LayoutShort (-o short) is one line per finding, for a glance or grep.
	LayoutShort
	// LayoutWide (-o wide) is every detail: evidence, the mesh overview,
	// each check in catalog order (what -o text was before v0.1.0).
	LayoutWide
)

// TextOptions say how the text report is laid out.
type TextOptions struct {
	Layout TextLayout
	// Width is the terminal's width in columns: the incident layout wraps
	// its lines to it (a wrapped line goes on 2 columns further in), the
	// short layout cuts each to it with "…" (the whole text is in -o wide
	// and -o json). 0 means no terminal: nothing is wrapped or cut, so
	// output piped to a file or grep keeps a clause per line.
	Width int
}

// TextReport writes the report in the chosen layout.
func TextReport(w io.Writer, r *checks.Report, cat *checks.Catalog, st Styles, o TextOptions) error {
	if o.Layout == LayoutWide {
		return Text(w, r, cat, st)
	}
	t := &textReport{r: r, cat: cat, st: st}
	t.b.Grow(4096 + 256*len(r.Findings))
	in := newIncident(t, o.Width)
	if o.Layout == LayoutShort {
		in.short()
	} else {
		in.full()
	}
	_, err := io.WriteString(w, t.b.String())
	return err
}

// incident lays the report out worst first. It sorts the checks once into
// what it shows, so the counts it prints are the counts of what it shows.
type incident struct {
	t     *textReport
	width int
	// down are the unreachable clusters: every check's "not checked on X"
	// for them collapses into one line per cluster.
	down map[string]bool
	// byCheck are the findings of each check.
	byCheck map[checks.ID][]checks.Finding
	// shown are the checks with findings or unknowns of their own, worst
	// first.
	shown []checks.CheckResult
	// underCount is how many checks are reported under each check: a check
	// that explains others is the one to fix first.
	underCount map[checks.ID]int
}

func newIncident(t *textReport, width int) *incident {
	in := &incident{t: t, width: width, down: map[string]bool{}, byCheck: map[checks.ID][]checks.Finding{}, underCount: map[checks.ID]int{}}
	for _, c := range t.r.Clusters {
		if !c.Reachable {
			in.down[c.Context] = true
		}
	}
	for _, f := range t.r.Findings {
		in.byCheck[f.Check] = append(in.byCheck[f.Check], f)
	}
	downFinding := map[string]checks.ID{} // a down cluster -> the check reporting it
	for _, f := range t.r.Findings {
		for _, ctx := range f.Contexts {
			if in.down[ctx] {
				downFinding[ctx] = f.Check
			}
		}
	}
	for _, c := range t.r.Checks {
		for _, u := range c.ReportedUnder {
			in.underCount[u]++
		}
		// A check that could not look at a down cluster is explained by
		// the finding that it is down (MF0001): that one comes first.
		for _, u := range c.Unknown {
			if id, ok := downFinding[u.Context]; ok && id != c.ID {
				in.underCount[id]++
			}
		}
	}
	order := map[checks.ID]int{}
	for i, c := range t.r.Checks {
		order[c.ID] = i
		if len(in.byCheck[c.ID]) > 0 || len(in.ownUnknown(c)) > 0 {
			in.shown = append(in.shown, c)
		}
	}
	sort.SliceStable(in.shown, func(i, j int) bool {
		a, b := in.shown[i], in.shown[j]
		if ra, rb := in.rank(a), in.rank(b); ra != rb {
			return ra < rb
		}
		if in.underCount[a.ID] != in.underCount[b.ID] {
			return in.underCount[a.ID] > in.underCount[b.ID]
		}
		if na, nb := len(in.byCheck[a.ID]), len(in.byCheck[b.ID]); na != nb {
			return na > nb
		}
		return order[a.ID] < order[b.ID]
	})
	return in
}

// rank orders the sections: errors, warnings, unknown, infos.
func (in *incident) rank(c checks.CheckResult) int {
	switch {
	case len(in.byCheck[c.ID]) == 0:
		return 2 // unknown only
	case c.Worst == checks.SeverityError:
		return 0
	case c.Worst == checks.SeverityWarning:
		return 1
	case c.Worst == checks.SeverityUnknown:
		return 2
	}
	return 3
}

// ownUnknown are the contexts a check could not look at for a reason of its
// own: an unreachable cluster's are said once, under Clusters.
func (in *incident) ownUnknown(c checks.CheckResult) []checks.UnknownContext {
	var own []checks.UnknownContext
	for _, u := range c.Unknown {
		if !in.down[u.Context] {
			own = append(own, u)
		}
	}
	return own
}

// wrap breaks s (plain text) into lines that fit the width and calls
// emit with each: the first is to start at first columns, the rest at
// first+2, so that a wrapped line reads as one. Width 0 (no terminal)
// leaves s on one line, for grep. It scans s in place: a 15,000-finding
// report wraps without a slice of words per line.
func (in *incident) wrap(first int, s string, emit func(i int, line string)) {
	if in.width <= 0 || first+utf8.RuneCountInString(s) <= in.width {
		emit(0, s)
		return
	}
	room := max(in.width-first, 20)
	lineStart, lineEnd, n, i, line := -1, 0, 0, 0, 0
	for {
		// the next word: s[ws:we]
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			break
		}
		ws := i
		for i < len(s) && s[i] != ' ' {
			i++
		}
		we := i
		wn := utf8.RuneCountInString(s[ws:we])
		gap := 1
		if lineStart >= 0 {
			gap = utf8.RuneCountInString(s[lineEnd:ws]) // the spaces kept between words
		}
		if lineStart >= 0 && n+gap+wn > room {
			emit(line, s[lineStart:lineEnd])
			line++
			lineStart, n = -1, 0
			room = max(in.width-first-2, 20)
		}
		if lineStart < 0 {
			lineStart, n = ws, wn
		} else {
			n += gap + wn
		}
		lineEnd = we
	}
	if lineStart >= 0 {
		emit(line, s[lineStart:lineEnd])
	}
}

// fit cuts s (plain text) to the width left after indent columns, with
// "…": for -o short, whose promise is one line per finding.
func (in *incident) fit(indent int, s string) string {
	room := in.width - indent
	if in.width <= 0 || utf8.RuneCountInString(s) <= room {
		return s
	}
	room = max(room, 2)
	n := 0
	for i := range s {
		if n == room-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// put writes plain text at indent (in columns), wrapped to the width, each
// line styled.
func (in *incident) put(indent int, s string, style func(...string) string) {
	if in.width <= 0 || indent+len(s) <= in.width { // fits: no wrapping, no allocation
		in.t.b.WriteString(spaces[:indent])
		if style != nil && !in.t.st.plain {
			s = style(s)
		}
		in.t.b.WriteString(s)
		in.t.b.WriteByte('\n')
		return
	}
	in.wrap(indent, s, func(i int, l string) {
		if style != nil && !in.t.st.plain {
			l = style(l)
		}
		pad := indent
		if i != 0 {
			pad += 2
		}
		in.t.b.WriteString(spaces[:pad])
		in.t.b.WriteString(l)
		in.t.b.WriteByte('\n')
	})
}

// spaces indents without allocating (indents are a few columns).
const spaces = "                                                                "

// putAfter writes label at indent, then s wrapped in the column after it:
// a row of a table whose last cell may take several lines.
func (in *incident) putAfter(indent int, label, s string) {
	col := indent + utf8.RuneCountInString(label)
	in.wrap(col, s, func(i int, l string) {
		if i == 0 {
			in.t.b.WriteString(spaces[:indent])
			in.t.b.WriteString(label)
		} else {
			in.t.b.WriteString(spaces[:col+2])
		}
		in.t.b.WriteString(l)
		in.t.b.WriteByte('\n')
	})
}

func (in *incident) full() {
	t := in.t
	in.verdict()
	t.b.WriteByte('\n')
	t.offline()
	t.clusters()
	in.downLines()
	t.unreadMembers()
	sections := []struct {
		title string
		rank  int
	}{{"Errors", 0}, {"Warnings", 1}, {"Unknown", 2}, {"Infos", 3}}
	for _, s := range sections {
		var cs []checks.CheckResult
		for _, c := range in.shown {
			if in.rank(c) == s.rank {
				cs = append(cs, c)
			}
		}
		if len(cs) == 0 {
			continue
		}
		t.b.WriteByte('\n')
		n := 0
		for _, c := range cs {
			n += len(in.byCheck[c.ID])
		}
		what := fmt.Sprintf("%s: %d in %s", s.title, n, Plural(len(cs), "check", "checks"))
		if s.rank == 2 {
			what = fmt.Sprintf("%s: %s could not decide everywhere", s.title, Plural(len(cs), "check", "checks"))
		}
		t.line(0, t.st.Heading.Render(what))
		for _, c := range cs {
			in.check(c)
		}
	}
	in.passedByArea()
	if t.r.Trust != nil && len(t.r.Trust.Contexts) > 0 {
		t.trustMatrix()
	}
	t.b.WriteByte('\n')
	in.put(0, "Details (evidence, the mesh's shape, the gateway probes): -o wide; one line per finding: -o short", t.st.Faint.Render)
	t.b.WriteByte('\n')
	in.joined(t.summaryText())
}

// verdict is the first line: what state the mesh is in, and the counts.
func (in *incident) verdict() {
	t := in.t
	s := t.r.Summary
	var word string
	switch {
	case s.Errors > 0:
		word = t.st.Error.Render("✗ FAILING")
	case s.Warnings > 0:
		word = t.st.Warning.Render("! DEGRADED")
	case s.Unknowns > 0 || s.Incomplete > 0:
		word = t.st.Unknown.Render("? INCOMPLETE")
	default:
		word = t.st.Pass.Render("✓ HEALTHY")
	}
	in.joined(word + " · " + t.summaryText())
}

// joined writes a line of " · "-separated parts (the verdict, the
// summary), breaking it between parts when it is wider than the screen.
func (in *incident) joined(line string) {
	t := in.t
	if in.width <= 0 || lipglossWidth(line) <= in.width {
		t.line(0, line)
		return
	}
	parts := strings.Split(line, " · ")
	cur := parts[0]
	for _, p := range parts[1:] {
		if lipglossWidth(cur+" · "+p) > in.width {
			t.line(0, cur+" ·")
			cur = "  " + p
			continue
		}
		cur += " · " + p
	}
	t.line(0, cur)
}

// downLines says, once per unreachable cluster, what it made unknowable.
func (in *incident) downLines() {
	t := in.t
	for _, c := range t.r.Clusters {
		if c.Reachable {
			continue
		}
		n := 0
		for _, ch := range t.r.Checks {
			for _, u := range ch.Unknown {
				if u.Context == c.Context {
					n++
					break
				}
			}
		}
		in.put(2, fmt.Sprintf("? %s is unreachable (STATUS above): %s could not look at it; those with nothing to report elsewhere are the ? under Passed",
			c.Context, Plural(n, "check", "checks")), t.st.Unknown.Render)
	}
}

// check writes one check: a headline, a line per clause of each finding
// (a clause per cluster pair, for instance), where, and why.
func (in *incident) check(c checks.CheckResult) {
	t := in.t
	sym := t.checkSymbol(c)
	if len(in.byCheck[c.ID]) == 0 {
		sym = t.st.Unknown.Render("?")
	}
	// The headline keeps to one screen line: the explain hint goes last
	// when it would not fit, and a title longer than the screen is cut.
	explain := "kubectl meshfed explain " + string(c.ID)
	title := c.Title
	fits := in.width <= 0 || 2+2+len(c.ID)+1+utf8.RuneCountInString(title)+2+len(explain)+2 <= in.width
	if fits {
		t.line(1, sym, t.st.ID.Render(string(c.ID)), title+t.st.Faint.Render("  ("+explain+")"))
	} else {
		t.line(1, sym, t.st.ID.Render(string(c.ID)), in.fit(2+2+len(c.ID)+1, title))
	}
	defer func() {
		if !fits {
			in.put(4, "more: "+explain, t.st.Faint.Render)
		}
	}()
	for _, f := range in.byCheck[c.ID] {
		for i, clause := range Clauses(f.Message) {
			if i == 0 {
				in.put(4, string(severityRune(f.Severity))+" "+clause, nil)
			} else {
				in.put(6, clause, nil)
			}
		}
		var where []string
		if len(f.Contexts) > 0 {
			where = append(where, "contexts: "+strings.Join(f.Contexts, ", "))
		}
		if f.Object != nil {
			where = append(where, "object: "+objectString(f.Object))
		}
		if len(f.Evidence) > 0 {
			where = append(where, Plural(len(f.Evidence), "line", "lines")+" of evidence: -o wide")
		}
		if len(where) > 0 {
			in.put(6, strings.Join(where, " · "), t.st.Faint.Render)
		}
	}
	for _, u := range t.unknownLines(in.ownUnknown(c)) {
		in.put(4, "? "+u, t.st.Unknown.Render)
	}
}

func severityRune(s checks.Severity) rune {
	switch s {
	case checks.SeverityError:
		return '✗'
	case checks.SeverityWarning:
		return '!'
	case checks.SeverityUnknown:
		return '?'
	case checks.SeverityInfo:
		return 'i'
	}
	return '✓'
}

// passedByArea folds every check without a finding of its own into one line
// per area: passed (✓), not checked on an unreachable cluster (?), left to
// another check (→); then the checks not run, a line per reason.
func (in *incident) passedByArea() {
	t := in.t
	shown := map[checks.ID]bool{}
	for _, c := range in.shown {
		shown[c.ID] = true
	}
	type fold struct{ passed, partial, elsewhere []string }
	byArea := map[checks.Area]*fold{}
	notRun := map[string][]string{}
	var reasons []string
	for _, c := range t.r.Checks {
		if shown[c.ID] {
			continue
		}
		f := byArea[c.Area]
		if f == nil {
			f = &fold{}
			byArea[c.Area] = f
		}
		switch {
		case c.Status == checks.StatusNotRun:
			if _, ok := notRun[c.NotRun]; !ok {
				reasons = append(reasons, c.NotRun)
			}
			notRun[c.NotRun] = append(notRun[c.NotRun], string(c.ID))
		case c.Status == checks.StatusReportedElsewhere:
			under := make([]string, len(c.ReportedUnder))
			for i, id := range c.ReportedUnder {
				under[i] = string(id)
			}
			f.elsewhere = append(f.elsewhere, string(c.ID)+" (under "+strings.Join(under, ", ")+")")
		case len(c.Unknown) > 0:
			f.partial = append(f.partial, string(c.ID))
		default:
			f.passed = append(f.passed, string(c.ID))
		}
	}
	var rows [][]string
	for _, a := range checks.Areas {
		f := byArea[a]
		if f == nil || len(f.passed)+len(f.partial)+len(f.elsewhere) == 0 {
			continue
		}
		var parts []string
		if len(f.passed) > 0 {
			parts = append(parts, "✓ "+strings.Join(f.passed, " "))
		}
		if len(f.partial) > 0 {
			parts = append(parts, "? "+strings.Join(f.partial, " ")+" (not on "+in.downNames()+")")
		}
		if len(f.elsewhere) > 0 {
			parts = append(parts, "→ "+strings.Join(f.elsewhere, " "))
		}
		rows = append(rows, []string{areaTitle(a), strings.Join(parts, "  ")})
	}
	if len(rows) == 0 && len(reasons) == 0 {
		return
	}
	t.b.WriteByte('\n')
	t.line(0, t.st.Heading.Render("Passed"), t.st.Faint.Render("(✓ passed · ? not checked on an unreachable cluster · → reported under another)"))
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		in.putAfter(2, Pad(r[0], width)+"  ", r[1])
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		in.put(2, "– not run: "+strings.Join(notRun[r], " ")+": "+r, t.st.Faint.Render)
	}
}

func (in *incident) downNames() string {
	var names []string
	for _, c := range in.t.r.Clusters {
		if !c.Reachable {
			names = append(names, c.Context)
		}
	}
	return strings.Join(names, ", ")
}

// short writes one line per finding, worst first, then a line per
// unreachable cluster and per check that could not look somewhere, and the
// summary: for a glance, or for grep.
func (in *incident) short() {
	t := in.t
	for _, c := range in.shown {
		for _, f := range in.byCheck[c.ID] {
			where := ""
			if len(f.Contexts) > 0 {
				where = " [" + strings.Join(f.Contexts, ",") + "]"
			}
			line := in.fit(0, string(severityRune(f.Severity))+" "+string(c.ID)+where+" "+strings.Join(strings.Fields(f.Message), " "))
			t.line(0, line)
		}
		for _, u := range t.unknownLines(in.ownUnknown(c)) {
			t.line(0, in.fit(0, "? "+string(c.ID)+" "+u))
		}
	}
	for _, c := range t.r.Clusters {
		if !c.Reachable {
			t.line(0, in.fit(0, "? "+c.Context+" unreachable: "+c.Error))
		}
	}
	t.line(0, t.summaryText())
}

// Clauses splits a message into its clauses at "; " outside parentheses and
// quotes: a finding about several cluster pairs says one pair per clause,
// and each reads best on a line of its own.
func Clauses(msg string) []string {
	if !strings.Contains(msg, "; ") {
		return []string{msg}
	}
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(msg); i++ {
		switch msg[i] {
		case '"':
			quoted = !quoted
		case '(':
			depth++
		case ')':
			depth--
		case ';':
			if depth == 0 && !quoted && i+1 < len(msg) && msg[i+1] == ' ' {
				out = append(out, msg[start:i])
				start = i + 2
			}
		}
	}
	return append(out, msg[start:])
}

// lipglossWidth is a styled line's width on screen (escapes not counted).
func lipglossWidth(s string) int { return lipgloss.Width(s) }

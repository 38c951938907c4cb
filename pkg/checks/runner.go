package checks

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/meshfed/kubectl-meshfed/pkg/members"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Selection narrows which checks run: Only and Skip take IDs or area names.
type Selection struct {
	Only []string
	Skip []string
}

// Validate rejects names that are neither a catalog ID nor an area.
func (s Selection) Validate(cat *Catalog) error {
	for _, name := range append(append([]string{}, s.Only...), s.Skip...) {
		if _, ok := cat.Lookup(ID(strings.ToUpper(name))); ok {
			continue
		}
		if isArea(name) {
			continue
		}
		return fmt.Errorf("%q is neither a check ID nor an area (areas: %s)", name, areaList())
	}
	return nil
}

func isArea(name string) bool {
	for _, a := range Areas {
		if string(a) == strings.ToLower(name) {
			return true
		}
	}
	return false
}

func areaList() string {
	names := make([]string, len(Areas))
	for i, a := range Areas {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

func matches(m Meta, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(n, string(m.ID)) || strings.EqualFold(n, string(m.Area)) {
			return true
		}
	}
	return false
}

// Includes reports whether the check described by m is selected.
func (s Selection) Includes(m Meta) bool {
	if len(s.Only) > 0 && !matches(m, s.Only) {
		return false
	}
	return !matches(m, s.Skip)
}

// Status is a check's overall result.
type Status string

const (
	StatusPass    Status = "pass"
	StatusFail    Status = "fail"
	StatusUnknown Status = "unknown"
	// StatusNotRun: the check's input was not read (CheckResult.NotRun says
	// which and how to read it).
	StatusNotRun Status = "not-run"
	// StatusReportedElsewhere: the check found nothing of its own, but saw
	// a problem in its input that another check reports
	// (CheckResult.ReportedUnder names them). Not a pass.
	StatusReportedElsewhere Status = "reported-elsewhere"
)

// CheckResult is one check's outcome over the whole fleet.
type CheckResult struct {
	ID     ID       `json:"id"`
	Area   Area     `json:"area"`
	Title  string   `json:"title"`
	Status Status   `json:"status"`
	Worst  Severity `json:"worst"`
	// Unknown says, per context, why the check could not look at it.
	Unknown []UnknownContext `json:"unknown,omitempty"`
	// NotRun says why the check did not run at all.
	NotRun string `json:"notRun,omitempty"`
	// ReportedUnder names the checks that report a problem this one saw in
	// its input (sorted).
	ReportedUnder []ID `json:"reportedUnder,omitempty"`
	// NotCompared, for a check that compares clusters, names the members
	// of the mesh that were not read: every pair with one of them was not
	// compared. Its status speaks for the clusters read only.
	NotCompared []string `json:"notCompared,omitempty"`
}

// UnknownContext is a cluster a check could not decide for, and why.
type UnknownContext struct {
	Context string `json:"context"`
	Reason  string `json:"reason"`
}

// Result is what running the selected checks over a fleet produced.
type Result struct {
	Findings []Finding
	Checks   []CheckResult
	// Members is who is in the mesh besides the clusters read.
	Members *model.Membership
}

// Run runs every selected check concurrently. Each check sees only the
// clusters where every kind it needs was read; the others are reported as
// unknown for that check, so a missing read is never mistaken for a pass.
func Run(f *model.Fleet, reg *Registry, sel Selection) Result {
	f = withMembers(f)
	var metas []Meta
	for _, m := range reg.Catalog.Entries() {
		if sel.Includes(m) {
			metas = append(metas, m)
		}
	}
	results := make([]CheckResult, len(metas))
	findings := make([][]Finding, len(metas))
	var wg sync.WaitGroup
	for i, m := range metas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if why := m.Input.Missing(f); why != "" {
				results[i] = CheckResult{ID: m.ID, Area: m.Area, Title: m.Title, Status: StatusNotRun, NotRun: why}
				return
			}
			check, _ := reg.Check(m.ID)
			view, unknown := usableView(f, m.Needs)
			found, elsewhere := splitReportedUnder(safeRun(check, m, view))
			for j := range found {
				found[j].Check, found[j].Area = m.ID, m.Area
				if found[j].Severity == SeverityOK {
					found[j].Severity = m.Severity
				}
				sort.Strings(found[j].Contexts)
			}
			findings[i] = found
			results[i] = summarize(m, found, unknown)
			if m.Compares {
				results[i].NotCompared = f.Members.IDs()
			}
			if len(elsewhere) > 0 {
				results[i].ReportedUnder = elsewhere
				if results[i].Status == StatusPass && len(found) == 0 {
					results[i].Status = StatusReportedElsewhere
				}
			}
		}()
	}
	wg.Wait()
	var all []Finding
	for _, fs := range findings {
		all = append(all, fs...)
	}
	SortFindings(all)
	return Result{Findings: all, Checks: results, Members: f.Members}
}

// withMembers returns the fleet with who else is in the mesh worked out once
// from every cluster read, before the checks see their views of it (a view
// leaves out the clusters a check cannot use, which are read, not unread).
// The caller's fleet is not changed.
func withMembers(f *model.Fleet) *model.Fleet {
	if f.Members != nil {
		return f
	}
	// On copies of the clusters that share no derived reading: what the
	// membership reads (every cluster's identity and remote secrets) is the
	// runner's, and must not be memoized on the clusters as if a check had
	// read it (the memos tell TestNeedsHoldTheKindsChecksRead what a check
	// reads).
	bare := *f
	bare.Clusters = make([]*model.Cluster, len(f.Clusters))
	for i, c := range f.Clusters {
		bare.Clusters[i] = c.Unmemoized()
	}
	m := members.Derive(&bare)
	g := *f
	g.Members = &m
	return &g
}

// safeRun turns a panicking check into an unknown finding: one broken check
// must never take the rest of the report down.
func safeRun(c Check, m Meta, f *model.Fleet) (found []Finding) {
	defer func() {
		if r := recover(); r != nil {
			found = []Finding{{Severity: SeverityUnknown, Message: fmt.Sprintf("check %s failed internally: %v", m.ID, r)}}
		}
	}()
	return c.Run(f)
}

// splitReportedUnder separates a check's own findings from the problems it
// leaves to other checks (their IDs, sorted, each once).
func splitReportedUnder(all []Finding) (own []Finding, elsewhere []ID) {
	for _, f := range all {
		if f.ReportedUnder == "" {
			own = append(own, f)
			continue
		}
		if !slices.Contains(elsewhere, f.ReportedUnder) {
			elsewhere = append(elsewhere, f.ReportedUnder)
		}
	}
	slices.Sort(elsewhere)
	return own, elsewhere
}

func usableView(f *model.Fleet, needs []model.Kind) (*model.Fleet, []UnknownContext) {
	if len(needs) == 0 {
		return f, nil // the general checks report on the clusters themselves
	}
	// Everything but the clusters is the fleet's (the probes' results among it).
	view := *f
	view.Clusters = nil
	var unknown []UnknownContext
	for _, c := range f.Clusters {
		if ok, why := c.Readable(needs...); ok {
			view.Clusters = append(view.Clusters, c)
		} else {
			unknown = append(unknown, UnknownContext{Context: c.Context, Reason: why})
		}
	}
	return &view, unknown
}

func summarize(m Meta, found []Finding, unknown []UnknownContext) CheckResult {
	r := CheckResult{ID: m.ID, Area: m.Area, Title: m.Title, Status: StatusPass, Unknown: unknown}
	for _, fd := range found {
		if fd.Severity > r.Worst {
			r.Worst = fd.Severity
		}
	}
	switch {
	case r.Worst >= SeverityWarning:
		r.Status = StatusFail
	case r.Worst == SeverityUnknown || len(unknown) > 0:
		r.Status = StatusUnknown
	}
	return r
}

// SortFindings orders findings by severity (worst first), then check, contexts and object.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Check != b.Check {
			return a.Check < b.Check
		}
		if ac, bc := strings.Join(a.Contexts, ","), strings.Join(b.Contexts, ","); ac != bc {
			return ac < bc
		}
		return a.Object.String() < b.Object.String()
	})
}

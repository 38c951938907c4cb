package checks

import (
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// APIVersion and KindReport identify the report document (-o json|yaml).
const (
	APIVersion = "meshfed.dev/v1alpha1"
	KindReport = "Report"
)

// Report is the one model every renderer draws from. Its JSON form is the
// documented, stable output of `doctor -o json|yaml`.
type Report struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Selection  []ContextChoice  `json:"selection,omitempty"`
	Clusters   []ClusterSummary `json:"clusters"`
	// UnreadMembers are the clusters of the mesh the read ones point at
	// (remote secrets, istiod's clusterz, meshNetworks) that were not read,
	// each with the context that would read it; absent when the whole mesh
	// was read. UnreadNetworks are networks meshNetworks names that no
	// read cluster or unread member is known to be on.
	UnreadMembers  []model.Member `json:"unreadMembers,omitempty"`
	UnreadNetworks []string       `json:"unreadNetworks,omitempty"`
	// Mesh is the mesh's shape in brief (pkg/topology): the control plane
	// and networks found, and what that shape trades off.
	Mesh *MeshOverview `json:"mesh,omitempty"`
	// Reachability is the network × network view of the gateway probes,
	// with where they ran from; absent with --no-probes or one network.
	Reachability *model.ReachabilityMatrix `json:"reachability,omitempty"`
	Findings     []Finding                 `json:"findings"`
	Checks       []CheckResult             `json:"checks"`
	Summary      Summary                   `json:"summary"`
	// Trust is the trust matrix: for every ordered pair of primaries, whether
	// a workload certificate issued by one verifies under the other's trust
	// bundles. Set when the trust area is selected and at least two
	// primaries were read; otherwise absent.
	Trust *model.TrustMatrix `json:"trust,omitempty"`
	// Offline is set when the report was made from bundles (doctor
	// --bundle): the live-only results in it were observed when each bundle
	// was written, not now.
	Offline *Offline `json:"offline,omitempty"`
}

// MeshOverview is the mesh's shape in a few lines, and its trade-offs.
type MeshOverview struct {
	Lines     []string `json:"lines"`
	TradeOffs string   `json:"tradeOffs,omitempty"`
}

// ContextChoice says why a context is part of the run.
type ContextChoice struct {
	Context string `json:"context"`
	Reason  string `json:"reason"`
}

// ClusterSummary is one cluster as the report header shows it.
type ClusterSummary struct {
	Context   string `json:"context"`
	ClusterID string `json:"clusterID"`
	Network   string `json:"network"`
	Role      string `json:"role"`
	// DataPlane is how the cluster's workloads join the mesh: sidecar,
	// ambient, mixed (both), none or unknown (pkg/mesh.DataPlane).
	DataPlane string `json:"dataPlane,omitempty"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// Summary counts findings by severity and checks by status.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
	Unknowns int `json:"unknowns"`
	Checks   int `json:"checks"`
	Passed   int `json:"passed"`
	// Incomplete counts the checks that could not look at every cluster
	// (status unknown). Unknowns counts findings; without this, a run where
	// half the clusters were unreadable would read "0 unknowns".
	Incomplete int `json:"incomplete"`
	// NotRun counts the checks whose input was not read (--pca-arn, --aws).
	NotRun int `json:"notRun"`
	// ReportedElsewhere counts the checks that found nothing of their own
	// but saw a problem another check reports: neither passed nor failed.
	ReportedElsewhere int `json:"reportedElsewhere"`
}

// NewReport assembles a report from a run's result.
func NewReport(selection []ContextChoice, clusters []ClusterSummary, res Result) *Report {
	r := &Report{
		APIVersion: APIVersion, Kind: KindReport,
		Selection: selection, Clusters: clusters,
		Findings: res.Findings, Checks: res.Checks,
	}
	if res.Members != nil {
		r.UnreadMembers, r.UnreadNetworks = res.Members.Unread, res.Members.UnreadNetworks
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	for _, f := range r.Findings {
		switch f.Severity {
		case SeverityError:
			r.Summary.Errors++
		case SeverityWarning:
			r.Summary.Warnings++
		case SeverityInfo:
			r.Summary.Infos++
		case SeverityUnknown:
			r.Summary.Unknowns++
		}
	}
	r.Summary.Checks = len(r.Checks)
	for _, c := range r.Checks {
		switch c.Status {
		case StatusPass:
			r.Summary.Passed++
		case StatusUnknown:
			r.Summary.Incomplete++
		case StatusNotRun:
			r.Summary.NotRun++
		case StatusReportedElsewhere:
			r.Summary.ReportedElsewhere++
		}
	}
	return r
}

// Worst is the highest severity among the findings.
func (r *Report) Worst() Severity {
	var w Severity
	for _, f := range r.Findings {
		if f.Severity > w {
			w = f.Severity
		}
	}
	return w
}

// Offline says that a report was made from support bundles (doctor
// --bundle), not from the clusters: which bundle each cluster came from, how
// old each is, and that the live-only results (the probes, istiod's views)
// are what was observed when the bundle was written.
type Offline struct {
	Bundles []BundleSource `json:"bundles"`
	// JudgedAt is the instant certificates were judged at: when the newest
	// bundle's run began, as that run judged them.
	JudgedAt time.Time `json:"judgedAt"`
	// LiveResults says, in one line, that the probes' results and istiod's
	// views come from the bundles and when they were observed.
	LiveResults string `json:"liveResults"`
}

// BundleSource is one bundle of an offline report.
type BundleSource struct {
	File          string `json:"file"`
	FormatVersion int    `json:"formatVersion"`
	Tool          string `json:"tool"`
	// ReadAt is when its run began; Age how long before this report.
	ReadAt time.Time `json:"readAt"`
	Age    string    `json:"age"`
	// Contexts are the clusters taken from it; Superseded those it holds
	// too but a newer bundle's reading of which is used.
	Contexts   []string `json:"contexts"`
	Superseded []string `json:"superseded,omitempty"`
	// ProbesFrom is where its probes ran; ProbesObservedAt when they
	// were observed (nil: the bundle holds no probe results).
	ProbesFrom       string     `json:"probesFrom,omitempty"`
	ProbesObservedAt *time.Time `json:"probesObservedAt,omitempty"`
}

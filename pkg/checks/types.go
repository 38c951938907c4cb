// Package checks holds the catalog of checks, the registry that maps catalog
// IDs to implementations, and the runner that turns a fleet Snapshot into a
// Report. Checks are pure: they read the Fleet and return findings, with no
// I/O and no shared state, so they run concurrently and from fixtures.
package checks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// ID names a check forever: "MF" and four digits, the first digit its area.
type ID string

var idPattern = regexp.MustCompile(`^MF[0-7][0-9]{3}$`)

// Valid reports whether id is well formed.
func (id ID) Valid() bool { return idPattern.MatchString(string(id)) }

// Anchor is the id's anchor in docs/checks.md.
func (id ID) Anchor() string { return strings.ToLower(string(id)) }

// Area is the part of a multi-cluster mesh a check looks at.
type Area string

const (
	AreaGeneral      Area = "general"
	AreaTopology     Area = "topology"
	AreaTrust        Area = "trust"
	AreaConnectivity Area = "connectivity"
	AreaDiscovery    Area = "discovery"
	AreaLocality     Area = "locality"
	AreaAWS          Area = "aws"
	AreaAmbient      Area = "ambient"
)

// Areas in the order the report shows them; the index is the ID's first digit.
var Areas = []Area{AreaGeneral, AreaTopology, AreaTrust, AreaConnectivity, AreaDiscovery, AreaLocality, AreaAWS, AreaAmbient}

// AreaOf returns the area an ID belongs to by its first digit.
func AreaOf(id ID) Area {
	if !id.Valid() {
		return ""
	}
	return Areas[id[2]-'0']
}

// Severity orders findings. Unknown means a check could not decide.
type Severity int

const (
	SeverityOK Severity = iota
	SeverityInfo
	SeverityUnknown
	SeverityWarning
	SeverityError
)

var severityNames = map[Severity]string{
	SeverityOK: "ok", SeverityInfo: "info", SeverityUnknown: "unknown",
	SeverityWarning: "warning", SeverityError: "error",
}

func (s Severity) String() string { return severityNames[s] }

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (Severity, error) {
	for sev, name := range severityNames {
		if name == s {
			return sev, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, warning or error)", s)
}

// MarshalJSON writes the severity's name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a severity's name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	v, err := ParseSeverity(name)
	*s = v
	return err
}

// Meta is a check's catalog entry.
type Meta struct {
	ID          ID       `json:"id"`
	Area        Area     `json:"area"`
	Title       string   `json:"title"`
	Severity    Severity `json:"severity"` // the severity of its findings unless a finding says otherwise
	Explanation string   `json:"explanation"`
	Remediation string   `json:"remediation"`
	Fixable     bool     `json:"fixable,omitempty"`
	// Needs lists the kinds the check reads; a cluster where one of them
	// could not be read makes the check "unknown" for that cluster.
	Needs []model.Kind `json:"needs,omitempty"`
	// Input is what the check judges besides the clusters (an AWS Private
	// CA, the AWS network); without it the check does not run.
	Input Input `json:"input,omitempty"`
	// Roles are what the contexts of the check's findings are to them
	// ("primary", "remote..."); findings_gen.go is generated from them.
	Roles []RoleSpec `json:"roles,omitempty"`
	// Compares: the check compares clusters with each other (IDs, roots,
	// services). Over part of a mesh it compares the clusters read, and
	// its result names the members it could not compare them with.
	Compares bool `json:"compares,omitempty"`
}

// DocURL is where the check is documented.
func (m Meta) DocURL() string { return "docs/checks.md#" + m.ID.Anchor() }

// Check is one rule. Run must be pure: read f, return findings.
type Check interface {
	ID() ID
	Run(f *model.Fleet) []Finding
}

// ObjectRef names the object a finding is about.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (o *ObjectRef) String() string {
	if o == nil {
		return ""
	}
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// Finding is one thing a check found. Message names the concrete values seen;
// Evidence lists the facts behind it. Neither ever holds secret material.
type Finding struct {
	Check    ID       `json:"check"`
	Area     Area     `json:"area"`
	Severity Severity `json:"severity"`
	Contexts []string `json:"contexts"`
	// Subjects say by role what each context is to the finding; consumers
	// read them, never the order of Contexts (which is sorted for display).
	Subjects []Subject  `json:"subjects,omitempty"`
	Object   *ObjectRef `json:"object,omitempty"`
	Message  string     `json:"message"`
	Evidence []string   `json:"evidence,omitempty"`
	// ReportedUnder, when set, makes this not a finding of its own: the
	// check saw a problem in its input that the named check reports. The
	// runner drops it from the findings and records the check as
	// "reported-elsewhere", never as passed: a check that left an input to
	// another check did not find it fine.
	ReportedUnder ID `json:"-"`
}

// ReportedUnder is the finding a check returns for a problem it saw but
// leaves to another check, which reports it (once, in its own words).
func ReportedUnder(other ID, contexts ...string) Finding {
	return Finding{ReportedUnder: other, Contexts: contexts}
}

// Quote quotes a name or value for a message, or gives unset when it is
// empty: a %q of an empty value prints "", which names nothing.
func Quote(v, unset string) string {
	if v == "" {
		return unset
	}
	return strconv.Quote(v)
}

package checks

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Role is what a context is to a finding. The set is closed (see the
// catalog's header); each catalog entry declares the roles its findings
// fill, and the generated constructors (findings_gen.go) let a check fill
// only those, so a consumer reads a finding's subject by role instead of
// guessing it from the order of its contexts.
type Role string

const (
	// RoleCluster is the one cluster a single-cluster finding is about; the
	// finding's object, if any, is in it.
	RoleCluster Role = "cluster"
	// RolePrimary is a primary cluster whose istiod, secrets or gateway the
	// finding is about: the cluster a fix changes.
	RolePrimary Role = "primary"
	// RolePeer is the cluster a primary reads, or should read, through a
	// remote secret, or that a secret points at.
	RolePeer Role = "peer"
	// RoleRemote is a remote cluster whose istiod is the primary's.
	RoleRemote Role = "remote"
	// RoleMember is one of several clusters that stand alike in the finding
	// (the clusters of one network, clusters that share an ID).
	RoleMember Role = "member"
)

// Roles is the closed set, in the order a finding's contexts list them.
var Roles = []Role{RoleCluster, RolePrimary, RolePeer, RoleRemote, RoleMember}

// Known reports whether r is one of Roles.
func (r Role) Known() bool {
	for _, k := range Roles {
		if k == r {
			return true
		}
	}
	return false
}

// RoleSpec is one role a catalog entry declares: "primary" for exactly one
// context, "remote..." for any number.
type RoleSpec struct {
	Role Role
	Many bool
}

func (s RoleSpec) String() string {
	if s.Many {
		return string(s.Role) + "..."
	}
	return string(s.Role)
}

// MarshalJSON writes the spec as the catalog spells it.
func (s RoleSpec) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads "role" or "role...".
func (s *RoleSpec) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	name, many := strings.CutSuffix(v, "...")
	*s = RoleSpec{Role: Role(name), Many: many}
	if !s.Role.Known() {
		return fmt.Errorf("role %q is not one of %v", name, Roles)
	}
	return nil
}

// Subject is one context a finding is about, and what it is to the finding.
type Subject struct {
	Role    Role   `json:"role"`
	Context string `json:"context"`
}

// Subject returns the context that fills role, or "" when none does.
func (f Finding) Subject(role Role) string {
	for _, s := range f.Subjects {
		if s.Role == role {
			return s.Context
		}
	}
	return ""
}

// SubjectsOf returns every context that fills role, in the check's order.
func (f Finding) SubjectsOf(role Role) []string {
	var out []string
	for _, s := range f.Subjects {
		if s.Role == role {
			out = append(out, s.Context)
		}
	}
	return out
}

// Declares reports whether the entry declares role.
func (m Meta) Declares(role Role) bool {
	for _, s := range m.Roles {
		if s.Role == role {
			return true
		}
	}
	return false
}

// Details are what a generated constructor takes besides the subjects:
// everything of a Finding but what the catalog and the roles decide.
type Details struct {
	Severity Severity // SeverityOK: the catalog's
	Object   *ObjectRef
	Message  string
	Evidence []string
}

// subjectsBuilder collects a finding's subjects in role order; the
// generated constructors use it.
type subjectsBuilder struct{ subjects []Subject }

func (b *subjectsBuilder) add(role Role, contexts ...string) {
	for _, c := range contexts {
		if c != "" {
			b.subjects = append(b.subjects, Subject{Role: role, Context: c})
		}
	}
}

// finding is a finding of check id about the collected subjects; its
// Contexts are theirs, each once, in role order (the runner sorts them for
// display).
func (b *subjectsBuilder) finding(id ID, area Area, d Details) Finding {
	fd := Finding{Check: id, Area: area, Severity: d.Severity, Object: d.Object, Message: d.Message, Evidence: d.Evidence, Subjects: b.subjects}
	seen := map[string]bool{}
	for _, s := range b.subjects {
		if !seen[s.Context] {
			seen[s.Context] = true
			fd.Contexts = append(fd.Contexts, s.Context)
		}
	}
	return fd
}

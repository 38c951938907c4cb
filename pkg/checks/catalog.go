package checks

import (
	_ "embed"
	"fmt"
	"slices"
	"sort"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"

	"sigs.k8s.io/yaml"
)

//go:embed catalog.yaml
var catalogYAML []byte

// Catalog is every check's entry, read from catalog.yaml: the one place where
// titles, severities, explanations and remediations live. docs/checks.md and
// `kubectl meshfed explain` are generated from it.
type Catalog struct {
	entries []Meta
	byID    map[ID]Meta
}

type catalogFile struct {
	Checks []struct {
		Meta     `json:",inline"`
		Severity string `json:"severity"`
	} `json:"checks"`
}

// LoadCatalog parses a catalog document and validates every entry.
func LoadCatalog(doc []byte) (*Catalog, error) {
	var file catalogFile
	if err := yaml.UnmarshalStrict(doc, &file); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c := &Catalog{byID: map[ID]Meta{}}
	for _, e := range file.Checks {
		m := e.Meta
		sev, err := ParseSeverity(e.Severity)
		if err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", m.ID, err)
		}
		m.Severity = sev
		m.Needs = expandNeeds(m.Needs)
		if err := validateMeta(m); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		if _, dup := c.byID[m.ID]; dup {
			return nil, fmt.Errorf("catalog: %s is listed twice", m.ID)
		}
		c.byID[m.ID] = m
		c.entries = append(c.entries, m)
	}
	sort.Slice(c.entries, func(i, j int) bool { return c.entries[i].ID < c.entries[j].ID })
	return c, nil
}

// expandNeeds replaces "identity" with the kinds mesh.Identify reads.
func expandNeeds(needs []model.Kind) []model.Kind {
	var out []model.Kind
	for _, k := range needs {
		if k == "identity" {
			out = append(out, mesh.IdentityKinds...)
		} else {
			out = append(out, k)
		}
	}
	return out
}

func validateMeta(m Meta) error {
	seen := map[Role]bool{}
	for _, r := range m.Roles {
		if seen[r.Role] {
			return fmt.Errorf("%s: role %q is declared twice", m.ID, r.Role)
		}
		seen[r.Role] = true
	}
	for _, k := range m.Needs {
		if !slices.Contains(model.AllKinds, k) {
			return fmt.Errorf("%s: needs %q, which the collector does not read", m.ID, k)
		}
	}
	switch {
	case m.Input != "" && !m.Input.Known():
		return fmt.Errorf("%s: input %q, which the doctor does not read", m.ID, m.Input)
	case !m.ID.Valid():
		return fmt.Errorf("%q is not a check ID (want MF and four digits, the first 0-7)", m.ID)
	case m.Area != AreaOf(m.ID):
		return fmt.Errorf("%s: area %q, but its first digit says %q", m.ID, m.Area, AreaOf(m.ID))
	case m.Title == "" || m.Explanation == "" || m.Remediation == "":
		return fmt.Errorf("%s: title, explanation and remediation are all required", m.ID)
	case m.Severity < SeverityInfo:
		return fmt.Errorf("%s: severity must be info, warning or error", m.ID)
	}
	return nil
}

// DefaultCatalog is the catalog built into the binary.
func DefaultCatalog() *Catalog {
	c, err := LoadCatalog(catalogYAML)
	if err != nil {
		panic(err) // the embedded catalog is tested; this cannot happen in a release
	}
	return c
}

// Entries returns every entry, ordered by ID.
func (c *Catalog) Entries() []Meta { return c.entries }

// Lookup returns the entry for id.
func (c *Catalog) Lookup(id ID) (Meta, bool) {
	m, ok := c.byID[id]
	return m, ok
}

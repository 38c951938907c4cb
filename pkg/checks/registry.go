package checks

import (
	"fmt"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Func adapts a function to a Check.
type Func struct {
	CheckID ID
	Fn      func(f *model.Fleet) []Finding
}

func (c Func) ID() ID                       { return c.CheckID }
func (c Func) Run(f *model.Fleet) []Finding { return c.Fn(f) }

// Registry pairs each catalog entry with its implementation.
type Registry struct {
	Catalog *Catalog
	checks  map[ID]Check
}

// NewRegistry registers checks against the catalog. Every check must have a
// catalog entry and every entry a check: a mismatch is a programming error.
func NewRegistry(cat *Catalog, impls ...Check) (*Registry, error) {
	r := &Registry{Catalog: cat, checks: map[ID]Check{}}
	for _, c := range impls {
		if _, ok := cat.Lookup(c.ID()); !ok {
			return nil, fmt.Errorf("check %s has no catalog entry", c.ID())
		}
		if _, dup := r.checks[c.ID()]; dup {
			return nil, fmt.Errorf("check %s registered twice", c.ID())
		}
		r.checks[c.ID()] = c
	}
	for _, m := range cat.Entries() {
		if _, ok := r.checks[m.ID]; !ok {
			return nil, fmt.Errorf("catalog entry %s has no check", m.ID)
		}
	}
	return r, nil
}

// Check returns the implementation of id.
func (r *Registry) Check(id ID) (Check, bool) {
	c, ok := r.checks[id]
	return c, ok
}

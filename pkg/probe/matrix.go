package probe

import (
	"sort"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// Matrix is the network × network reachability view of a probe pass: row
// = source network (whose istiod hands out the address and whose roots
// judge the certificate), column = destination network. Every dial ran
// from Probes.From, not from the source network's pods.
type Matrix struct {
	From     string                     `json:"from"`
	Skipped  string                     `json:"skipped,omitempty"`
	Networks []string                   `json:"networks"`
	Cells    map[string]map[string]Cell `json:"cells"` // [source][destination]
}

// Cell is the worst outcome over the destination's gateway addresses.
type Cell struct {
	Outcome   fleet.ProbeOutcome `json:"outcome"`
	Addresses []string           `json:"addresses"`
	Detail    string             `json:"detail,omitempty"`
}

// rank orders outcomes from best to worst for a cell.
var rank = map[fleet.ProbeOutcome]int{
	fleet.ProbeOK: 0, fleet.ProbeNotRun: 1, fleet.ProbeTimeout: 2, fleet.ProbeUnresolved: 3,
	fleet.ProbeError: 4, fleet.ProbeHandshake: 5, fleet.ProbeRefused: 6, fleet.ProbeUntrusted: 7,
}

// NewMatrix arranges probe results by source and destination network.
func NewMatrix(p *fleet.Probes) Matrix {
	m := Matrix{Cells: map[string]map[string]Cell{}}
	if p == nil {
		return m
	}
	m.From, m.Skipped = p.From, p.Skipped
	nets := map[string]bool{}
	for _, g := range p.Gateways {
		nets[g.SourceNetwork], nets[g.Network] = true, true
		row := m.Cells[g.SourceNetwork]
		if row == nil {
			row = map[string]Cell{}
			m.Cells[g.SourceNetwork] = row
		}
		c, ok := row[g.Network]
		if !ok || rank[g.Outcome] > rank[c.Outcome] {
			c.Outcome, c.Detail = g.Outcome, g.Detail
		}
		c.Addresses = append(c.Addresses, g.Address)
		row[g.Network] = c
	}
	for n := range nets {
		m.Networks = append(m.Networks, n)
	}
	sort.Strings(m.Networks)
	return m
}

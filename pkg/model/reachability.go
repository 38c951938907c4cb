package model

import (
	"sort"
)

// ReachabilityMatrix is the network × network reachability view of a probe pass: row
// = source network (whose istiod hands out the address and whose roots
// judge the certificate), column = destination network. Every dial ran
// from Probes.From, not from the source network's pods.
type ReachabilityMatrix struct {
	From     string                                 `json:"from"`
	Skipped  string                                 `json:"skipped,omitempty"`
	Networks []string                               `json:"networks"`
	Cells    map[string]map[string]ReachabilityCell `json:"cells"` // [source][destination]
}

// ReachabilityCell is the worst outcome over the destination's gateway addresses.
type ReachabilityCell struct {
	Outcome   ProbeOutcome `json:"outcome"`
	Addresses []string     `json:"addresses"`
	Detail    string       `json:"detail,omitempty"`
}

// rank orders outcomes from best to worst for a cell.
var rank = map[ProbeOutcome]int{
	ProbeOK: 0, ProbeNotRun: 1, ProbeTimeout: 2, ProbeUnresolved: 3,
	ProbeError: 4, ProbeHandshake: 5, ProbeRefused: 6, ProbeUntrusted: 7,
}

// NewReachabilityMatrix arranges probe results by source and destination network.
func NewReachabilityMatrix(p *Probes) ReachabilityMatrix {
	m := ReachabilityMatrix{Cells: map[string]map[string]ReachabilityCell{}}
	if p == nil {
		return m
	}
	m.From, m.Skipped = p.From, p.Skipped
	nets := map[string]bool{}
	for _, g := range p.Gateways {
		nets[g.SourceNetwork], nets[g.Network] = true, true
		row := m.Cells[g.SourceNetwork]
		if row == nil {
			row = map[string]ReachabilityCell{}
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

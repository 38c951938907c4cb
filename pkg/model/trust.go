package model

import "time"

// TrustMatrix is every ordered pair of primaries and whether a workload
// certificate issued by one verifies under the other's trust bundles (built
// by pkg/checks/trust BuildMatrix, carried as is by the report), row-major by
// From: the cell of (Contexts[i], Contexts[j]) is Cells[i*len(Contexts)+j].
// The diagonal says whether a cluster's own workloads trust each other.
type TrustMatrix struct {
	// Contexts are the primaries, in the order of the rows and columns.
	Contexts []string    `json:"contexts"`
	Cells    []TrustCell `json:"cells"`
	// At is the instant certificates were judged at.
	At time.Time `json:"at"`
}

// Cell returns the cell of an ordered pair.
func (m TrustMatrix) Cell(from, to string) (TrustCell, bool) {
	for _, c := range m.Cells {
		if c.From == from && c.To == to {
			return c, true
		}
	}
	return TrustCell{}, false
}

// TrustVerdict is a trust matrix cell's outcome.
type TrustVerdict string

const (
	TrustOK      TrustVerdict = "ok"
	TrustFail    TrustVerdict = "fail"
	TrustUnknown TrustVerdict = "unknown"
)

// TrustCell says whether workloads of To accept a workload certificate
// issued by From's istiod.
type TrustCell struct {
	From    string       `json:"from"`
	To      string       `json:"to"`
	Verdict TrustVerdict `json:"verdict"`
	// Reason explains a fail or unknown verdict, naming certificates by
	// subject and fingerprint.
	Reason string `json:"reason,omitempty"`
	// Method is how it was decided: "issued leaf" (a throwaway workload
	// certificate from From's CA key, verified like a peer would) or
	// "signing chain" (From's key is not readable: its CA chain verified),
	// or "trust bundles compared" (From's chain is not readable, but no root
	// its own workloads trust is trusted by To: a failure for certain).
	Method string `json:"method,omitempty"`
}

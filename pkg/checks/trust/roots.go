// Package trust holds the checks of the mesh's common root of trust: which
// CA each primary's istiod signs with, whether that material is sound, what
// the workloads trust, and — the heart of it — whether every cluster's
// workload certificates verify in every other cluster (BuildMatrix).
package trust

import (
	"fmt"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// Checks returns the trust checks with the default options.
func Checks() []checks.Check { return ChecksWith(DefaultOptions()) }

// ChecksWith returns the trust checks tuned by opts. When opts.Now is unset
// each check judges at the moment it runs; set it to judge the whole run at
// one instant (the CLI can set it to the run's start).
func ChecksWith(opts Options) []checks.Check {
	with := func(id checks.ID, fn func(*model.Fleet, Options) []checks.Finding) checks.Check {
		return checks.Func{CheckID: id, Fn: func(f *model.Fleet) []checks.Finding { return fn(f, opts.withDefaults()) }}
	}
	return []checks.Check{
		with("MF2001", commonRoot),
		with("MF2002", selfSigned),
		with("MF2003", externalCA),
		with("MF2004", keyMatches),
		with("MF2005", usableCA),
		with("MF2006", chainToRoot),
		with("MF2007", validity),
		with("MF2008", weakCrypto),
		with("MF2009", malformed),
		with("MF2010", rootConfigMaps),
		with("MF2011", multiRoot),
		with("MF2012", trustDomains),
		with("MF2013", provenance),
		with("MF2014", istioCSRRoot),
		with("MF2015", caConstraints),
	}
}

// commonRoot reports the failing pairs of the trust matrix: one finding per
// pair of primaries where either direction fails, and one "unknown" per
// primary whose certificates cannot be judged. It is the matrix's finding;
// the other checks report the causes on each cluster.
func commonRoot(f *model.Fleet, opts Options) []checks.Finding {
	peers := Peers(f)
	if len(peers) < 2 {
		return nil
	}
	m := BuildMatrix(f, opts)
	byCtx := map[string]Peer{}
	for _, p := range peers {
		byCtx[p.Context] = p
	}
	var out []checks.Finding
	for _, a := range m.Contexts {
		row := 0
		var reason string
		for _, b := range m.Contexts {
			if c, _ := m.Cell(a, b); c.Verdict == model.TrustUnknown {
				row++
				reason = c.Reason
			}
		}
		if row == len(m.Contexts) {
			out = append(out, checks.NewMF2001(checks.MF2001Subjects{Primaries: []string{a}}, checks.Details{Severity: checks.SeverityUnknown,
				Message:  "cannot tell whether other clusters trust " + a + "'s workloads: " + reason,
				Evidence: []string{describeCA(byCtx[a])}}))
		}
	}
	for i, a := range m.Contexts {
		for _, b := range m.Contexts[i+1:] {
			ab, _ := m.Cell(a, b)
			ba, _ := m.Cell(b, a)
			if ab.Verdict != model.TrustFail && ba.Verdict != model.TrustFail {
				continue
			}
			if causedByCA(byCtx, ab) && causedByCA(byCtx, ba) {
				// The roots are the same; a constraint of the issuing CA
				// is what fails, and MF2015 names it.
				out = append(out, checks.ReportedUnder("MF2015", a, b))
				continue
			}
			var parts []string
			for _, c := range []model.TrustCell{ab, ba} {
				parts = append(parts, describeCell(c))
			}
			msg := strings.Join(parts, "; ")
			for _, p := range []Peer{byCtx[a], byCtx[b]} {
				if p.CA.Source == mesh.CASelfSigned {
					msg += fmt.Sprintf("; %s signs with istiod's self-signed root, which no other cluster can share", p.Context)
				}
			}
			ev := []string{describeCA(byCtx[a]), describeCA(byCtx[b])}
			for _, p := range []Peer{byCtx[a], byCtx[b]} {
				for _, bundle := range p.Bundles {
					ev = append(ev, fmt.Sprintf("%s trusts %s: %s", p.Context, bundle.Source, describeAll(bundle.Roots)))
				}
			}
			out = append(out, checks.NewMF2001(checks.MF2001Subjects{Primaries: []string{a, b}}, checks.Details{Message: msg, Evidence: ev}))
		}
	}
	return out
}

// causedByCA reports whether a cell passes, or fails because of its
// issuer's CA constraints though the verifier trusts its root (MF2015).
func causedByCA(byCtx map[string]Peer, c model.TrustCell) bool {
	return c.Verdict != model.TrustFail || refusedDespiteRoot(byCtx[c.From], byCtx[c.To])
}

func describeCell(c model.TrustCell) string {
	switch c.Verdict {
	case model.TrustOK:
		return fmt.Sprintf("%s → %s: ok (%s)", c.From, c.To, c.Method)
	case model.TrustFail:
		return fmt.Sprintf("%s → %s: fails (%s): %s", c.From, c.To, c.Method, c.Reason)
	}
	return fmt.Sprintf("%s → %s: unknown: %s", c.From, c.To, c.Reason)
}

// describeCA is one line of evidence about a primary's CA.
func describeCA(p Peer) string {
	ca := p.CA
	switch ca.Source {
	case mesh.CAExternal:
		return fmt.Sprintf("%s: external CA (%s)", p.Context, strings.Join(ca.External, "; "))
	case mesh.CANone:
		return fmt.Sprintf("%s: no CA secret found", p.Context)
	}
	s := fmt.Sprintf("%s: %s in %s (%s layout)", p.Context, sourceName(ca), ca.Secret, ca.Layout)
	if ca.Signing != nil {
		s += ", signing " + pki.Describe(ca.Signing)
	}
	if len(ca.Roots) > 0 {
		s += ", roots " + describeAll(ca.Roots)
	}
	if ca.Err != nil {
		s += ", unreadable: " + ca.Err.Error()
	}
	return s
}

func sourceName(ca mesh.CA) string {
	if ca.Source == mesh.CASelfSigned {
		return "istiod's self-signed root"
	}
	return "plugged-in CA"
}

// secretRef names the CA secret as a finding's object.
func secretRef(ca mesh.CA) *checks.ObjectRef {
	ns, name, ok := strings.Cut(ca.Secret, "/")
	if !ok {
		return nil
	}
	return &checks.ObjectRef{Kind: "Secret", Namespace: ns, Name: name}
}

// Package trust holds the checks of the mesh's common root of trust.
package trust

import (
	"fmt"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// Checks returns the trust checks.
func Checks() []checks.Check {
	return []checks.Check{checks.Func{CheckID: "MF2001", Fn: commonRoot}}
}

// commonRoot compares the roots the primaries' CAs distribute. Every
// primary's signing root must be in every other primary's bundle; the pairwise
// certificate verification belongs to the trust matrix.
func commonRoot(f *fleet.Fleet) []checks.Finding {
	type primary struct {
		ctx string
		ca  mesh.CA
	}
	var ps []primary
	var unknown []checks.Finding
	for _, c := range f.Clusters {
		if mesh.Identify(c).Role != mesh.RolePrimary {
			continue
		}
		ca := mesh.ReadCA(c)
		switch {
		case ca.Source == mesh.CANone:
			unknown = append(unknown, checks.Finding{Severity: checks.SeverityUnknown, Contexts: []string{c.Context},
				Message: fmt.Sprintf("context %s: no cacerts or istio-ca-secret in %s; the CA is external or not created yet, so its root cannot be compared", c.Context, c.IstioNamespace)})
			continue
		case ca.Err != nil || len(ca.Roots) == 0:
			unknown = append(unknown, checks.Finding{Severity: checks.SeverityUnknown, Contexts: []string{c.Context},
				Message: fmt.Sprintf("context %s: the CA secret cannot be read: %v", c.Context, ca.Err)})
			continue
		}
		ps = append(ps, primary{c.Context, ca})
	}
	if len(ps) < 2 {
		return unknown
	}
	trusts := func(bundle, of mesh.CA) bool {
		for _, r := range bundle.Roots {
			for _, o := range of.Roots {
				if r.Equal(o) {
					return true
				}
			}
		}
		return false
	}
	var apart []string
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			if !trusts(a.ca, b.ca) {
				apart = append(apart, a.ctx+"↔"+b.ctx)
			}
		}
	}
	if len(apart) == 0 {
		return unknown
	}
	var ctxs, ev []string
	for _, p := range ps {
		ctxs = append(ctxs, p.ctx)
		roots := make([]string, len(p.ca.Roots))
		for i, r := range p.ca.Roots {
			roots[i] = pki.Describe(r)
		}
		ev = append(ev, fmt.Sprintf("%s: %s in %s, root %s", p.ctx, p.ca.Source, p.ca.Secret, strings.Join(roots, " + ")))
	}
	msg := fmt.Sprintf("no common root between %s", strings.Join(apart, ", "))
	for _, p := range ps {
		if p.ca.Source == mesh.CASelfSigned {
			msg += fmt.Sprintf("; %s signs with istiod's self-signed root, which no other cluster can share", p.ctx)
		}
	}
	return append(unknown, checks.Finding{Contexts: ctxs, Message: msg, Evidence: ev})
}

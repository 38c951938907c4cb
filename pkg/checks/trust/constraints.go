package trust

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// workloadID is the SPIFFE ID of the throwaway leaf the matrix issues
// from p's CA (issue), which the constraints are judged against.
func workloadID(p Peer) string { return pki.SPIFFEID(p.TrustDomain, "default", "default") }

// constraintProblems are the constraints of p's signing chain that make
// verifiers refuse the workload certificates it signs (name constraints,
// extended key usage); nil when its CA is not readable.
func constraintProblems(p Peer) []string {
	if p.CA.Signing == nil {
		return nil
	}
	return pki.ConstraintProblems(path(p.CA), workloadID(p))
}

// refusedDespiteRoot reports whether a failing cell from→to is from's CA's
// doing: its chain ends at a root to's workloads trust, and a constraint
// of the chain makes the certificates it signs fail. MF2015 names that CA;
// "the clusters do not share a root" would be wrong.
func refusedDespiteRoot(from, to Peer) bool {
	if len(constraintProblems(from)) == 0 {
		return false
	}
	chain := path(from.CA)
	root := chain[len(chain)-1]
	return pki.SelfSigned(root) && pki.ContainsCert(unionRoots(to.Bundles), root)
}

// caConstraints (MF2015): a primary's signing chain leads to a trusted
// root, but a CA certificate in it constrains names or key usage so that
// the workload certificates it signs are refused: named by cluster,
// certificate and constraint, with the clusters whose workloads the trust
// matrix shows rejecting them.
func caConstraints(f *model.Fleet, opts Options) []checks.Finding {
	var out []checks.Finding
	var m *model.TrustMatrix
	for _, p := range signers(f) {
		if fd, ok := brokenCA(p); ok {
			out = append(out, fd)
			continue
		}
		problems := constraintProblems(p)
		if len(problems) == 0 {
			continue
		}
		if m == nil {
			built := BuildMatrix(f, opts)
			m = &built
		}
		var rejecting []string
		for _, to := range m.Contexts {
			if c, _ := m.Cell(p.Context, to); c.Verdict == model.TrustFail {
				rejecting = append(rejecting, to)
			}
		}
		chain := path(p.CA)
		msg := fmt.Sprintf("%s's CA in %s signs workload certificates that are refused although they chain to a trusted root: %s", p.Context, p.CA.Secret, strings.Join(problems, "; "))
		if len(rejecting) > 0 {
			msg += fmt.Sprintf("; the workloads of %s reject them (trust matrix)", strings.Join(rejecting, ", "))
		}
		ev := []string{"signing certificate " + pki.Describe(p.CA.Signing) + constraintsOf(p.CA.Signing)}
		for _, c := range chain[1:] {
			ev = append(ev, "issuer "+pki.Describe(c)+constraintsOf(c))
		}
		ev = append(ev, fmt.Sprintf("workload certificates carry SPIFFE IDs of trust domain %s (%s)", p.TrustDomain, workloadID(p)))
		out = append(out, checks.NewMF2015(checks.MF2015Subjects{Primary: p.Context}, checks.Details{
			Object: secretRef(p.CA), Message: msg, Evidence: ev,
		}))
	}
	return out
}

// constraintsOf lists a CA certificate's name constraints and extended key
// usages, for evidence.
func constraintsOf(c *x509.Certificate) string {
	var parts []string
	if len(c.ExcludedURIDomains) > 0 {
		parts = append(parts, "excluded URI domains "+strings.Join(c.ExcludedURIDomains, ", "))
	}
	if len(c.PermittedURIDomains) > 0 {
		parts = append(parts, "permitted URI domains "+strings.Join(c.PermittedURIDomains, ", "))
	}
	if len(c.ExtKeyUsage) > 0 {
		parts = append(parts, fmt.Sprintf("%d extended key usage(s)", len(c.ExtKeyUsage)))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

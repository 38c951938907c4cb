package pki

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file is the one check of an intermediate that came back from an
// Issuer, and the one way the plugin gets such an intermediate
// (NewIntermediate): ca issue and fix both go through it, whichever issuer
// signs (a local root, AWS Private CA), so a certificate that cannot sign
// workload certificates is refused the same way on every path, before any
// file or Secret holds it.

// Template is what an issuer asks its CA to put into an intermediate; a
// refusal names it, so that the user knows what produced the certificate.
type Template struct {
	// Name is the template as the user would recognise it: an AWS Private
	// CA template ARN, or the local issuer's profile.
	Name string
	// PathLen is the pathLenConstraint the intermediate is asked to carry:
	// 0 for an intermediate that signs workload certificates only (what
	// istiod does), N when N further CA levels are wanted below it.
	PathLen int
	// Remedy says how to get a usable intermediate from this issuer; it
	// ends a refusal.
	Remedy string
}

// IntermediateSpec is what NewIntermediate asks for.
type IntermediateSpec struct {
	// Subject and DNSNames go into the CSR (IntermediateSubject,
	// IntermediateDNSName).
	Subject  pkix.Name
	DNSNames []string
	// NotBefore is the instant of issue; Validity the wished lifetime
	// (DefaultIntermediateValidity when zero).
	NotBefore time.Time
	Validity  time.Duration
	// Root is the root the plan named: the intermediate must chain to it
	// (the issuer's Root when nil).
	Root *x509.Certificate
}

// NewIntermediate makes a key on this machine, has issuer sign a CSR for
// it, and returns the intermediate with its key only when CheckIssued finds
// nothing wrong with it. The key never leaves this process; a refused
// certificate is dropped with its key.
func NewIntermediate(ctx context.Context, issuer Issuer, spec IntermediateSpec) (Issued, *Key, error) {
	key, err := GenerateKey(DefaultIntermediateAlgorithm)
	if err != nil {
		return Issued{}, nil, err
	}
	csr, err := NewCSR(key, spec.Subject, spec.DNSNames)
	if err != nil {
		return Issued{}, nil, err
	}
	if spec.NotBefore.IsZero() {
		spec.NotBefore = time.Now()
	}
	if spec.Root == nil {
		spec.Root = issuer.Root()
	}
	req := IntermediateRequest{CSR: csr, NotBefore: spec.NotBefore, Validity: spec.Validity}
	out, err := issuer.IssueIntermediate(ctx, req)
	if err != nil {
		return Issued{}, nil, err
	}
	if err := CheckIssued(out, Expected{Key: key, Root: spec.Root, Request: req, Template: issuer.Template(), Now: spec.NotBefore}); err != nil {
		return Issued{}, nil, err
	}
	return out, key, nil
}

// Expected is what an issued intermediate was asked to be.
type Expected struct {
	// Key is the key made here for it.
	Key *Key
	// Root is the root the plan named.
	Root *x509.Certificate
	// Request is what was sent: NotBefore and Validity as asked.
	Request IntermediateRequest
	// Template is what the issuer asked its CA for: the path length, and
	// the name a refusal gives.
	Template Template
	// Now is when the certificate must be usable.
	Now time.Time
}

// RefusedError is an issued intermediate the plugin will not install.
type RefusedError struct {
	// Cert is the refused certificate (public facts only are shown).
	Cert *x509.Certificate
	// Template is what produced it.
	Template Template
	// Problems say why, one reason each.
	Problems []string
}

func (e *RefusedError) Error() string {
	what := "the issued certificate"
	if e.Cert != nil {
		what += " " + Describe(e.Cert)
	}
	msg := fmt.Sprintf("refused %s from template %s: it cannot serve as istiod's signing CA: %s", what, e.Template.Name, strings.Join(e.Problems, "; "))
	if e.Template.Remedy != "" {
		msg += ". " + e.Template.Remedy
	}
	return msg
}

// validitySlack is how far an intermediate's NotAfter may be from the end
// asked for: AWS Private CA takes the end in whole seconds, x509 encodes it
// in whole seconds, and a CA may round to the minute.
const validitySlack = time.Minute

// notYetValidGrace is how far in the future an intermediate's NotBefore
// may lie: istiod's clock-skew grace, plus the minutes a fix run may spend
// between taking its "now" (before reading the clusters) and the CA's
// issuing. Beyond it, workload certificates it signs would fail to verify
// until then.
const notYetValidGrace = 5 * time.Minute

// CheckIssued refuses an issued intermediate that istiod could not sign
// workload certificates with, or that is not what was asked. It checks, in
// this order, and names every failure:
//
//   - it is for the key made here (else the key written next to it would
//     not be its key, and istiod would not start);
//   - it is a CA: basicConstraints CA:TRUE, and keyUsage keyCertSign when
//     keyUsage is present (crypto/x509 ignores keyUsage, Envoy's BoringSSL
//     and OpenSSL do not);
//   - its pathLenConstraint is the one the template asked for
//     (Template.PathLen): 0 for an intermediate that signs workloads only.
//     Any CA:TRUE with a path length of 0 or more can sign end entities, so
//     a different value is refused not because it cannot sign but because
//     it is not what was asked: a larger one (or none) lets a cluster's key,
//     which lives in a Secret, mint further CAs; a smaller one cannot sign
//     the further level that was asked for;
//   - the chain above allows it: each CA at distance d above it (d = 1 for
//     the CA that signed it) with a pathLenConstraint allows d + PathLen CAs
//     below it, counting the new intermediate and the levels it may sign
//     (AWS Private CA refuses the same for its own CA: a template's path
//     length must be below the CA's); every certificate of the chain is a
//     CA with keyCertSign;
//   - its validity is what was asked (Request.NotBefore + Validity), or
//     clipped to the end of the CA that signed it, within validitySlack,
//     never past that CA's end; and it is valid at Now (not expired, and not
//     starting later than notYetValidGrace from Now);
//   - the chain ends at the root the plan named and verifies to it (as
//     crypto/x509 does: signatures, validity, constraints);
//   - a workload certificate signed with it the way istiod signs one (SPIFFE
//     URI, serverAuth and clientAuth) verifies through the chain to the root:
//     the proof that it does the job, which also catches what the checks
//     above do not name (an extended key usage that excludes mTLS, name
//     constraints).
//
// The error is a *RefusedError naming the certificate, the template that
// produced it and every reason.
func CheckIssued(out Issued, want Expected) error {
	if out.Cert == nil {
		return errors.New("the issuer returned no certificate")
	}
	refuse := func(problems []string) error {
		return &RefusedError{Cert: out.Cert, Template: want.Template, Problems: problems}
	}
	var problems []string
	if want.Key == nil || !want.Key.Matches(out.Cert) {
		problems = append(problems, fmt.Sprintf("it is not for the key made here (it holds %s)", DescribePublicKey(out.Cert.PublicKey)))
	}
	problems = append(problems, CAProblems(out.Cert)...)
	isCA := out.Cert.BasicConstraintsValid && out.Cert.IsCA
	if isCA {
		if got, wanted := pathLenText(out.Cert), want.Template.PathLen; !hasPathLen(out.Cert, wanted) {
			problems = append(problems, fmt.Sprintf("its path length is %s, but the template asks for pathlen %d (%s)", got, wanted, pathLenMeaning(wanted)))
		}
	}
	if len(out.Chain) == 0 {
		problems = append(problems, "it comes without the chain of the CA that signed it")
		return refuse(problems)
	}
	for d, c := range out.Chain {
		for _, p := range CAProblems(c) {
			problems = append(problems, fmt.Sprintf("%s above it in the chain: %s", Describe(c), p))
		}
		// d+1 CAs below c counting the new one, plus the levels the new one
		// was asked to allow below itself.
		if below := d + 1 + want.Template.PathLen; c.BasicConstraintsValid && c.IsCA && constrained(c) && c.MaxPathLen < below {
			problems = append(problems, fmt.Sprintf("%s above it allows %d CA level(s) below it (pathlen %d), but this intermediate needs %d: the chain forbids it",
				Describe(c), c.MaxPathLen, c.MaxPathLen, below))
		}
	}
	problems = append(problems, validityProblems(out, want)...)
	if want.Root == nil || out.Root == nil || !out.Root.Equal(want.Root) {
		problems = append(problems, fmt.Sprintf("its chain ends at %s, not at the root the plan named %s", describeOrNone(out.Root), describeOrNone(want.Root)))
	}
	if len(problems) > 0 {
		return refuse(problems)
	}
	at := usableAt(out.Cert, want.Now)
	if _, err := Verify(out.Cert, out.Chain, []*x509.Certificate{want.Root}, at); err != nil {
		return refuse([]string{fmt.Sprintf("it does not verify to the root %s: %v", Describe(want.Root), err)})
	}
	if err := signsWorkloads(out, want.Key, want.Root, at); err != nil {
		return refuse([]string{err.Error()})
	}
	return nil
}

// validityProblems checks the intermediate's window against what was asked.
func validityProblems(out Issued, want Expected) []string {
	var problems []string
	c, signer := out.Cert, out.Chain[0]
	validity := want.Request.Validity
	if validity <= 0 {
		validity = DefaultIntermediateValidity
	}
	end := want.Request.NotBefore.Add(validity)
	clipped := ""
	if end.After(signer.NotAfter) {
		end, clipped = signer.NotAfter, ", the end of the CA that signed it"
	}
	switch {
	case c.NotAfter.After(signer.NotAfter):
		problems = append(problems, fmt.Sprintf("it ends %s, after the CA that signed it (%s)", stamp(c.NotAfter), stamp(signer.NotAfter)))
	case want.Request.NotBefore.IsZero():
		// No instant of issue given: nothing to compare the end with.
	case c.NotAfter.Sub(end).Abs() > validitySlack:
		problems = append(problems, fmt.Sprintf("it ends %s, not %s as asked%s", stamp(c.NotAfter), stamp(end), clipped))
	}
	now := want.Now
	if now.IsZero() {
		now = time.Now()
	}
	switch {
	case !now.Before(c.NotAfter):
		problems = append(problems, fmt.Sprintf("it has already expired (%s)", stamp(c.NotAfter)))
	case c.NotBefore.After(now.Add(notYetValidGrace)):
		problems = append(problems, fmt.Sprintf("it is valid only from %s", stamp(c.NotBefore)))
	}
	return problems
}

// usableAt is the instant to verify at: now, or the certificate's start
// when that lies within notYetValidGrace after now.
func usableAt(c *x509.Certificate, now time.Time) time.Time {
	if now.IsZero() {
		now = time.Now()
	}
	if c.NotBefore.After(now) {
		return c.NotBefore
	}
	return now
}

// signsWorkloads signs a throwaway workload certificate with the new
// intermediate, as istiod would, and verifies it for both mTLS directions.
func signsWorkloads(out Issued, key *Key, root *x509.Certificate, at time.Time) error {
	leaf, _, err := IssueLeaf(out.Cert, key, SPIFFEID("cluster.local", "default", "default"), nil, at)
	if err != nil {
		return fmt.Errorf("it cannot sign a workload certificate: %v", err)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := Verify(leaf, out.CertChain(), []*x509.Certificate{root}, at, usage); err != nil {
			return fmt.Errorf("a workload certificate it signs does not verify to the root %s: %v", Describe(root), err)
		}
	}
	return nil
}

// constrained reports whether c carries a pathLenConstraint (crypto/x509
// reads a constraint of 0 as MaxPathLen 0 with MaxPathLenZero, and none as
// -1, or 0 without MaxPathLenZero for a certificate it made).
func constrained(c *x509.Certificate) bool {
	return c.MaxPathLen > 0 || (c.MaxPathLen == 0 && c.MaxPathLenZero)
}

func hasPathLen(c *x509.Certificate, n int) bool {
	return constrained(c) && c.MaxPathLen == n
}

func pathLenText(c *x509.Certificate) string {
	if !constrained(c) {
		return "unlimited (no pathLenConstraint)"
	}
	return fmt.Sprintf("%d", c.MaxPathLen)
}

func pathLenMeaning(n int) string {
	if n == 0 {
		return "it signs workload certificates only"
	}
	return fmt.Sprintf("%d further CA level(s) below it", n)
}

func describeOrNone(c *x509.Certificate) string {
	if c == nil {
		return "(none)"
	}
	return Describe(c)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

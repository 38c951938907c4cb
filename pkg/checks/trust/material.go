package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// signers are the primaries whose istiod signs with material in a secret.
func signers(f *model.Fleet) []Peer {
	var out []Peer
	for _, p := range Peers(f) {
		if p.CA.Source == mesh.CAPluggedIn || p.CA.Source == mesh.CASelfSigned {
			out = append(out, p)
		}
	}
	return out
}

// brokenCA is what a check returns for a signer whose CA material it could
// not look at because it does not parse: MF2009 reports that, and the check
// must not read as passed for it.
func brokenCA(p Peer) (checks.Finding, bool) {
	if p.CA.Signing != nil || p.CA.Withheld {
		return checks.Finding{}, false
	}
	for _, pr := range p.CA.Problems {
		if pr.Fatal {
			return checks.ReportedUnder("MF2009", p.Context), true
		}
	}
	return checks.Finding{}, false
}

func keyName(ca mesh.CA, tlsName, istioName string) string {
	if ca.Layout == "tls" {
		return tlsName
	}
	return istioName
}

// keyMatches: istiod refuses a CA whose key is not the certificate's
// (security/pkg/pki/util Verify: tls.X509KeyPair).
func keyMatches(f *model.Fleet, _ Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range signers(f) {
		ca := p.CA
		if fd, ok := brokenCA(p); ok {
			out = append(out, fd)
			continue
		}
		if ca.Signing == nil || ca.Key() == nil || ca.Key().Matches(ca.Signing) {
			continue
		}
		out = append(out, checks.NewMF2004(checks.MF2004Subjects{Primary: p.Context}, checks.Details{Object: secretRef(ca),
			Message: fmt.Sprintf("%s: the private key in %s %s is not the key of the signing certificate in %s; istiod refuses to load this CA and signs nothing",
				p.Context, ca.Secret, keyName(ca, mesh.KeyTLSKey, mesh.KeyCAKey), keyName(ca, mesh.KeyTLSCert, mesh.KeyCACert)),
			Evidence: []string{
				"certificate " + pki.Describe(ca.Signing) + ", public key " + pki.DescribePublicKey(ca.Signing.PublicKey) + " " + publicKeyID(ca.Signing.PublicKey),
				"private key " + pki.DescribePublicKey(ca.Key().Public()) + ", its public half " + publicKeyID(ca.Key().Public()),
			}}))
	}
	return out
}

// publicKeyID is a short SHA-256 of a public key's SubjectPublicKeyInfo
// (public data: it tells keys apart without showing anything private).
func publicKeyID(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	return "spki " + pki.Fingerprint(der)
}

// path is the signing certificate and its issuers found in the secret.
func path(ca mesh.CA) []*x509.Certificate {
	return pki.BuildPath(ca.Signing, append(append([]*x509.Certificate{}, ca.Chain...), ca.Roots...))
}

// usableCA: the signing certificate must be a CA allowed to sign, and the
// path length constraints above it must leave room for it.
func usableCA(f *model.Fleet, _ Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range signers(f) {
		ca := p.CA
		if fd, ok := brokenCA(p); ok {
			out = append(out, fd)
			continue
		}
		if ca.Signing == nil {
			continue
		}
		problems := pki.CAProblems(ca.Signing)
		chain := path(ca)
		for _, issuer := range chain[1:] {
			for _, pr := range pki.CAProblems(issuer) {
				problems = append(problems, fmt.Sprintf("its issuer %s: %s", pki.Name(issuer), pr))
			}
		}
		problems = append(problems, pki.PathLenProblems(chain)...)
		if len(problems) == 0 {
			continue
		}
		ev := []string{"signing certificate " + pki.Describe(ca.Signing) + fmt.Sprintf(" (CA:%v, keyUsage %s%s)", ca.Signing.IsCA, keyUsages(ca.Signing.KeyUsage), pathLen(ca.Signing))}
		for _, c := range chain[1:] {
			ev = append(ev, "issuer "+pki.Describe(c)+fmt.Sprintf(" (CA:%v%s)", c.IsCA, pathLen(c)))
		}
		out = append(out, checks.NewMF2005(checks.MF2005Subjects{Primary: p.Context}, checks.Details{Object: secretRef(ca),
			Message: fmt.Sprintf("%s: the signing certificate in %s cannot sign workload certificates that peers accept: %s",
				p.Context, ca.Secret, strings.Join(problems, "; ")),
			Evidence: ev}))
	}
	return out
}

func keyUsages(u x509.KeyUsage) string {
	if u == 0 {
		return "not set"
	}
	var out []string
	for _, n := range []struct {
		bit  x509.KeyUsage
		name string
	}{{x509.KeyUsageDigitalSignature, "digitalSignature"}, {x509.KeyUsageKeyEncipherment, "keyEncipherment"},
		{x509.KeyUsageCertSign, "keyCertSign"}, {x509.KeyUsageCRLSign, "cRLSign"}} {
		if u&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ",")
}

func pathLen(c *x509.Certificate) string {
	if c.MaxPathLen > 0 || c.MaxPathLenZero {
		return fmt.Sprintf(", pathLen %d", c.MaxPathLen)
	}
	return ""
}

// chainToRoot: istiod verifies ca-cert.pem through cert-chain.pem up to
// root-cert.pem when it loads the CA (security/pkg/pki/util Verify) and
// sends cert-chain.pem after every workload certificate, so the chain must
// lead to the distributed root and hold the signing certificate.
func chainToRoot(f *model.Fleet, opts Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range signers(f) {
		ca := p.CA
		if fd, ok := brokenCA(p); ok {
			out = append(out, fd)
			continue
		}
		if ca.Signing == nil || len(ca.Roots) == 0 {
			continue
		}
		chainKey := keyName(ca, mesh.KeyTLSCert+" + "+mesh.KeyTLSRoot, mesh.KeyCertChain)
		rootKey := keyName(ca, mesh.KeyTLSRoot, mesh.KeyRootCert)
		var problems, ev []string
		// Judge at a time inside the signing certificate's validity: expiry is the validity check's.
		at := clamp(opts.Now, ca.Signing.NotBefore, ca.Signing.NotAfter)
		if _, err := pki.Verify(ca.Signing, ca.Chain, ca.Roots, at); err != nil && !otherCheck(err) {
			top := path(ca)
			last := top[len(top)-1]
			problems = append(problems, fmt.Sprintf("the signing certificate does not verify up to %s: %s", rootKey, explain(err)))
			ev = append(ev, fmt.Sprintf("the chain found in the secret ends at %s, issued by %s", pki.Describe(last), pki.IssuerName(last)))
		}
		if !pki.SelfSigned(ca.Signing) && !containsCert(ca.Chain, ca.Signing) {
			problems = append(problems, fmt.Sprintf("%s does not hold the signing certificate, so peers receive workload certificates without the intermediate that signed them", chainKey))
		}
		if len(problems) == 0 {
			continue
		}
		ev = append(ev, "signing certificate "+pki.Describe(ca.Signing)+", issued by "+pki.IssuerName(ca.Signing))
		ev = append(ev, chainKey+": "+describeAll(ca.Chain))
		ev = append(ev, rootKey+": "+describeAll(ca.Roots))
		out = append(out, checks.NewMF2006(checks.MF2006Subjects{Primary: p.Context}, checks.Details{Object: secretRef(ca),
			Message:  fmt.Sprintf("%s: %s in %s", p.Context, strings.Join(problems, "; "), ca.Secret),
			Evidence: ev}))
	}
	return out
}

// otherCheck tells the verification errors that other checks report:
// validity (MF2007), CA constraints and path length (MF2005), weak
// signatures (MF2008).
func otherCheck(err error) bool {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired, x509.NotAuthorizedToSign, x509.TooManyIntermediates, x509.CANotAuthorizedForThisName:
			return true
		}
	}
	var insecure x509.InsecureAlgorithmError
	return errors.As(err, &insecure) || strings.Contains(err.Error(), "insecure algorithm")
}

func clamp(t, lo, hi time.Time) time.Time {
	switch {
	case t.Before(lo):
		return lo.Add(time.Second)
	case t.After(hi):
		return hi.Add(-time.Second)
	}
	return t
}

// caCerts is every distinct certificate of a CA: signing, chain, roots.
func caCerts(ca mesh.CA) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range append(ca.SigningChain(), ca.Roots...) {
		if !containsCert(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// validity: expired, not yet valid, and soon-to-expire CA certificates, at
// opts.Now with the warning and error windows of opts.
func validity(f *model.Fleet, opts Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range signers(f) {
		for _, c := range caCerts(p.CA) {
			role := roleOf(p.CA, c)
			left := c.NotAfter.Sub(opts.Now)
			fd := checks.NewMF2007(checks.MF2007Subjects{Primary: p.Context}, checks.Details{Object: secretRef(p.CA),
				Evidence: []string{fmt.Sprintf("%s %s valid from %s to %s; judged at %s", role, pki.Describe(c),
					c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), opts.Now.UTC().Format(time.RFC3339))}})
			switch pki.CheckValidity(c, opts.Now, opts.CertWarn, opts.CertError) {
			case pki.Expired:
				fd.Message = fmt.Sprintf("%s: the %s %s in %s expired on %s; certificates it signs or anchors are rejected", p.Context, role, pki.Name(c), p.CA.Secret, day(c.NotAfter))
			case pki.NotYetValid:
				fd.Message = fmt.Sprintf("%s: the %s %s in %s is not valid until %s; certificates it signs or anchors are rejected until then", p.Context, role, pki.Name(c), p.CA.Secret, day(c.NotBefore))
			case pki.ExpiresVerySoon:
				fd.Message = fmt.Sprintf("%s: the %s %s in %s expires on %s, in %s (error threshold %s)", p.Context, role, pki.Name(c), p.CA.Secret, day(c.NotAfter), days(left), days(opts.CertError))
			case pki.ExpiresSoon:
				fd.Severity = checks.SeverityWarning
				fd.Message = fmt.Sprintf("%s: the %s %s in %s expires on %s, in %s (warning threshold %s)", p.Context, role, pki.Name(c), p.CA.Secret, day(c.NotAfter), days(left), days(opts.CertWarn))
			default:
				continue
			}
			out = append(out, fd)
		}
	}
	return out
}

func days(d time.Duration) string {
	n := int(d.Hours() / 24)
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

func roleOf(ca mesh.CA, c *x509.Certificate) string {
	switch {
	case ca.Signing != nil && c.Equal(ca.Signing) && pki.SelfSigned(c):
		return "self-signed signing root"
	case ca.Signing != nil && c.Equal(ca.Signing):
		return "signing certificate"
	case containsCert(ca.Roots, c):
		return "root"
	}
	return "chain certificate"
}

// weakCrypto: small RSA keys and SHA-1/MD5 signatures anywhere in the CA's
// certificates (a root's self-signature is never checked, so it is not judged).
func weakCrypto(f *model.Fleet, opts Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range signers(f) {
		for _, c := range caCerts(p.CA) {
			var problems []string
			if w := pki.WeakKey(c.PublicKey, opts.MinRSABits); w != "" {
				problems = append(problems, w)
			}
			broken := false
			if !pki.SelfSigned(c) {
				if w := pki.WeakSignature(c); w != "" {
					problems = append(problems, w)
					broken = strings.Contains(w, "broken")
				}
			}
			if len(problems) == 0 {
				continue
			}
			fd := checks.NewMF2008(checks.MF2008Subjects{Primary: p.Context}, checks.Details{Object: secretRef(p.CA),
				Message:  fmt.Sprintf("%s: the %s %s in %s: %s", p.Context, roleOf(p.CA, c), pki.Name(c), p.CA.Secret, strings.Join(problems, "; ")),
				Evidence: []string{pki.Describe(c) + ", key " + pki.DescribePublicKey(c.PublicKey) + ", signature " + c.SignatureAlgorithm.String()}})
			if broken {
				fd.Severity = checks.SeverityError
			}
			out = append(out, fd)
		}
	}
	return out
}

// malformed: every CA secret key and istio-ca-root-cert ConfigMap that is
// missing or does not parse, naming the key and the PEM block.
func malformed(f *model.Fleet, _ Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range signers(f) {
		for _, pr := range p.CA.Problems {
			if p.CA.Withheld {
				continue
			}
			msg := p.Context + ": " + pr.Error()
			if pr.Fatal {
				msg += "; the CA cannot work from this secret (istiod refuses an incomplete bundle, and peers cannot parse a broken chain)"
			}
			out = append(out, checks.NewMF2009(checks.MF2009Subjects{Primary: p.Context}, checks.Details{Object: secretRef(p.CA), Message: msg}))
		}
	}
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, cm := range mesh.RootConfigMaps(c) {
			if cm.Err == nil {
				continue
			}
			out = append(out, checks.NewMF2009(checks.MF2009Subjects{Cluster: c.Context}, checks.Details{
				Object:  &checks.ObjectRef{Kind: "ConfigMap", Namespace: cm.Namespace, Name: model.RootCertConfigMap},
				Message: fmt.Sprintf("%s: %v; workloads in %s cannot verify any peer", c.Context, cm.Err, cm.Namespace)}))
		}
	}
	return out
}

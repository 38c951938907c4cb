package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"time"
)

// WeakKey says why a public key is too weak to sign with, or "" when it is
// not: RSA below minRSABits, or an elliptic curve below P-256.
func WeakKey(pub crypto.PublicKey, minRSABits int) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Sprintf("RSA key of %d bits (want at least %d)", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P224() {
			return "ECDSA key on P-224 (want P-256 or larger)"
		}
	}
	return ""
}

// WeakSignature says why a certificate's signature algorithm is weak, or "".
// Go's verifier rejects these outright on anything but a root; other TLS
// stacks (Envoy's BoringSSL) may still accept SHA-1, which is why it is
// reported on its own.
func WeakSignature(c *x509.Certificate) string {
	switch c.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA:
		return fmt.Sprintf("signed with %s, which is broken", c.SignatureAlgorithm)
	case x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return fmt.Sprintf("signed with %s; SHA-1 signatures can be forged", c.SignatureAlgorithm)
	}
	return ""
}

// SelfSigned reports whether c is self-issued and signed by its own key.
func SelfSigned(c *x509.Certificate) bool {
	return SignedBy(c, c)
}

// SignedBy reports whether parent's key made child's signature, whatever
// parent's constraints say (those are checked on their own). A signature in
// an algorithm crypto/x509 no longer checks (SHA-1) counts when the names and
// key identifiers line up.
func SignedBy(child, parent *x509.Certificate) bool {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return false
	}
	err := parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature)
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) {
		return len(child.AuthorityKeyId) == 0 || bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId)
	}
	return err == nil
}

// CAProblems lists why c cannot sign certificates: it is not marked as a CA
// (basicConstraints), or its keyUsage lacks keyCertSign. crypto/x509,
// BoringSSL (Envoy) and OpenSSL all reject a chain through such a
// certificate; this names the reason instead of "unknown authority".
func CAProblems(c *x509.Certificate) []string {
	var out []string
	if !c.BasicConstraintsValid || !c.IsCA {
		out = append(out, "basicConstraints does not mark it as a CA (CA:TRUE)")
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		out = append(out, "keyUsage lacks keyCertSign")
	}
	return out
}

// PathLenProblems checks the path length constraints of a chain ordered
// from the signing CA upwards (signing, its issuer, …, root): a CA at
// position i has i CA certificates below it (workload leaves do not count),
// and its pathLenConstraint must allow them.
func PathLenProblems(chain []*x509.Certificate) []string {
	var out []string
	for i, c := range chain {
		if i == 0 || !c.BasicConstraintsValid || !c.IsCA {
			continue
		}
		if limit := c.MaxPathLen; (limit > 0 || c.MaxPathLenZero) && i > limit {
			out = append(out, fmt.Sprintf("%s allows %d CA certificate(s) below it (pathLenConstraint %d) but has %d", Name(c), limit, limit, i))
		}
	}
	return out
}

// Validity is where now falls in a certificate's validity window.
type Validity int

const (
	Valid Validity = iota
	ExpiresSoon
	ExpiresVerySoon
	Expired
	NotYetValid
)

// CheckValidity places now in c's validity window; warn and critical are
// how long before NotAfter a certificate counts as expiring soon.
func CheckValidity(c *x509.Certificate, now time.Time, warn, critical time.Duration) Validity {
	switch {
	case now.Before(c.NotBefore):
		return NotYetValid
	case now.After(c.NotAfter):
		return Expired
	case c.NotAfter.Sub(now) <= critical:
		return ExpiresVerySoon
	case c.NotAfter.Sub(now) <= warn:
		return ExpiresSoon
	}
	return Valid
}

// Pool makes a certificate pool of certs.
func Pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// Verify verifies cert up to one of roots through intermediates at now, for
// the given extended key usages (none: any). It is crypto/x509's verification
// with nothing taken away.
func Verify(cert *x509.Certificate, intermediates, roots []*x509.Certificate, now time.Time, usages ...x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	if len(usages) == 0 {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	return cert.Verify(x509.VerifyOptions{
		Roots: Pool(roots), Intermediates: Pool(intermediates), CurrentTime: now, KeyUsages: usages,
	})
}

// SPIFFEID is the identity istiod gives a workload: spiffe://<trust domain>/ns/<ns>/sa/<sa>.
func SPIFFEID(trustDomain, namespace, serviceAccount string) string {
	return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount
}

// LeafTTL is how long a throwaway leaf lives.
const LeafTTL = time.Hour

// clockSkew is istiod's grace before a leaf's issue time
// (security/pkg/pki/util ClockSkewGracePeriod).
const clockSkew = 2 * time.Minute

// IssueLeaf issues a workload certificate from a signing CA the way istiod
// does (istio.io/istio security/pkg/pki/util genCertTemplateFromCSR): a fresh
// ECDSA P-256 key, the SPIFFE ID as URI SAN, digitalSignature and
// keyEncipherment, serverAuth and clientAuth, valid from now minus istiod's
// clock-skew grace, clamped to the signer's NotAfter. Unlike istiod it does
// not refuse an expired or not yet valid signer: the leaf then fails
// verification the way a workload would see it. dnsNames are added only for
// TLS endpoints that verify host names. The key stays in memory.
func IssueLeaf(signer *x509.Certificate, signerKey crypto.Signer, spiffeID string, dnsNames []string, now time.Time) (*x509.Certificate, *Key, error) {
	notAfter := now.Add(LeafTTL)
	if signer.NotAfter.Before(notAfter) && signer.NotAfter.After(now) {
		notAfter = signer.NotAfter
	}
	return issueLeaf(signer, signerKey, spiffeID, dnsNames, now, notAfter)
}

// IssueStandInLeaf is IssueLeaf for a certificate judged later than now, in
// place of one IssueLeaf would issue then (a bundle's CA keys, see
// pkg/bundle): valid until the signer's NotAfter rather than for LeafTTL,
// so that whatever instant between now and then judges it, it is valid as
// the leaf issued at that instant would be. Only the certificate is
// returned: its key is dropped at once.
func IssueStandInLeaf(signer *x509.Certificate, signerKey crypto.Signer, spiffeID string, now time.Time) (*x509.Certificate, error) {
	notAfter := now.Add(LeafTTL)
	if signer.NotAfter.After(notAfter) {
		notAfter = signer.NotAfter
	}
	leaf, _, err := issueLeaf(signer, signerKey, spiffeID, nil, now, notAfter)
	return leaf, err
}

func issueLeaf(signer *x509.Certificate, signerKey crypto.Signer, spiffeID string, dnsNames []string, now, notAfter time.Time) (*x509.Certificate, *Key, error) {
	u, err := url.Parse(spiffeID)
	if err != nil {
		return nil, nil, fmt.Errorf("SPIFFE ID %q: %v", spiffeID, err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{u},
		DNSNames:     dnsNames,
		// BasicConstraintsValid with IsCA false, as istiod writes it.
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &leafKey.PublicKey, signerKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issuing a leaf from %s: %v", Name(signer), err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return leaf, WrapKey(leafKey), nil
}

// BuildPath orders the issuers of cert found in pool upwards, by signature:
// cert, its issuer, that one's issuer, … up to a self-signed certificate or
// the first certificate whose issuer is not in pool. Unlike x509.Verify it
// ignores validity and constraints, so that each can be reported on its own.
func BuildPath(cert *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	path := []*x509.Certificate{cert}
	for cur := cert; len(path) <= len(pool)+1; {
		if SelfSigned(cur) {
			break
		}
		var next *x509.Certificate
		for _, p := range pool {
			if !p.Equal(cur) && !ContainsCert(path, p) && SignedBy(cur, p) {
				next = p
				break
			}
		}
		if next == nil {
			break
		}
		path = append(path, next)
		cur = next
	}
	return path
}

// ContainsCert reports whether list holds c (byte for byte).
func ContainsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, l := range list {
		if l.Equal(c) {
			return true
		}
	}
	return false
}

// ConstraintProblems says which CA certificates of path (a signing
// certificate and its issuers, as BuildPath orders them) keep peers from
// accepting the workload certificates it signs for spiffeID, beyond path
// length and validity: a URI name constraint that excludes the SPIFFE ID's
// trust domain, or permits only other domains (RFC 5280 4.2.1.10, which
// crypto/x509 and Envoy's BoringSSL enforce on every certificate below the
// constraint), and an extended key usage that does not allow the
// serverAuth and clientAuth workload certificates are verified for
// (crypto/x509 holds a chain to the usages of every CA in it). Each
// problem names the certificate and the reason.
func ConstraintProblems(path []*x509.Certificate, spiffeID string) []string {
	u, err := url.Parse(spiffeID)
	if err != nil || u.Host == "" {
		return nil
	}
	td := u.Host
	var out []string
	for _, c := range path {
		if !c.IsCA {
			continue
		}
		for _, ex := range c.ExcludedURIDomains {
			if matchDomain(td, ex) {
				out = append(out, fmt.Sprintf("%s has a name constraint that excludes URIs in %q, so every SPIFFE ID of trust domain %s (%s, …) in a certificate below it is refused", Name(c), ex, td, spiffeID))
			}
		}
		if len(c.PermittedURIDomains) > 0 && !slices.ContainsFunc(c.PermittedURIDomains, func(d string) bool { return matchDomain(td, d) }) {
			out = append(out, fmt.Sprintf("%s has a name constraint that permits only URIs in %s, not trust domain %s, so every SPIFFE ID of it (%s, …) in a certificate below it is refused", Name(c), strings.Join(quoteAll(c.PermittedURIDomains), ", "), td, spiffeID))
		}
		if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			var missing []string
			for _, want := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if !slices.Contains(c.ExtKeyUsage, want) {
					missing = append(missing, extKeyUsageName(want))
				}
			}
			if len(missing) > 0 {
				out = append(out, fmt.Sprintf("%s restricts its extended key usage to %s, without %s, so the workload certificates below it fail verification for %s", Name(c), extKeyUsageNames(c.ExtKeyUsage), strings.Join(missing, " and "), strings.Join(missing, " and ")))
			}
		}
	}
	return out
}

// matchDomain is RFC 5280's domain match of a URI's host against a name
// constraint, as crypto/x509 applies it: a constraint with a leading dot
// matches subdomains only, one without matches the host and its
// subdomains, and an empty one matches everything.
func matchDomain(host, constraint string) bool {
	host, constraint = strings.ToLower(host), strings.ToLower(constraint)
	switch {
	case constraint == "":
		return true
	case strings.HasPrefix(constraint, "."):
		return strings.HasSuffix(host, constraint)
	}
	return host == constraint || strings.HasSuffix(host, "."+constraint)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

var extKeyUsageNamesByUsage = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny: "any", x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageClientAuth: "clientAuth",
	x509.ExtKeyUsageCodeSigning: "codeSigning", x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageTimeStamping: "timeStamping", x509.ExtKeyUsageOCSPSigning: "OCSPSigning",
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	if n, ok := extKeyUsageNamesByUsage[u]; ok {
		return n
	}
	return fmt.Sprintf("usage %d", u)
}

func extKeyUsageNames(us []x509.ExtKeyUsage) string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = extKeyUsageName(u)
	}
	return strings.Join(out, ", ")
}

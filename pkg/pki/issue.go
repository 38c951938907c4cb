package pki

import (
	"context"
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
	"time"
)

// KeyAlgorithm names the kind of key to generate.
type KeyAlgorithm string

// The algorithms a CA key can have. istiod signs with either kind (security/
// pkg/pki/util, and ca.GenKeyCert matches its own key type and curve), Envoy's
// BoringSSL verifies both, and AWS Private CA offers EC_prime256v1,
// EC_secp384r1, RSA_2048 and RSA_4096.
const (
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
	ECDSAP384 KeyAlgorithm = "ecdsa-p384"
	RSA3072   KeyAlgorithm = "rsa-3072"
	RSA4096   KeyAlgorithm = "rsa-4096"
)

// KeyAlgorithms lists the accepted values, strongest default first.
var KeyAlgorithms = []KeyAlgorithm{ECDSAP384, ECDSAP256, RSA4096, RSA3072}

// Defaults for the mesh's CA hierarchy.
//
// The root is ECDSA P-384: it is kept offline for years, so it gets the
// larger curve (about 192-bit security, more than RSA 4096's ~150) at a
// fraction of RSA's key and signature size; P-384 with SHA-384 is what
// NSA Suite B / CNSA name for long-lived roots, and every verifier in the
// path (Go, BoringSSL, OpenSSL, AWS Private CA) supports it. Intermediates
// are ECDSA P-256 (128-bit security, like RSA 3072): they sign every
// workload certificate, so signing speed matters, and they are replaced far
// more often. Lifetimes follow Istio's tools/certs: a 10-year root; the
// intermediate gets 2 years, shorter than Istio's example (10 years) so that
// a leaked cluster key stops being trusted in a bounded time, and never more
// than its issuer's remaining life.
const (
	DefaultRootAlgorithm         = ECDSAP384
	DefaultIntermediateAlgorithm = ECDSAP256
	DefaultRootValidity          = 10 * 365 * 24 * time.Hour
	DefaultIntermediateValidity  = 2 * 365 * 24 * time.Hour
	// DefaultOrganization is the subject O of what ca init and fix make.
	DefaultOrganization = "meshfed"
	// DefaultRootCommonName is the subject CN of ca init's root.
	DefaultRootCommonName = "meshfed root CA"
)

// GenerateKey makes a fresh private key on this machine.
func GenerateKey(alg KeyAlgorithm) (*Key, error) {
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case ECDSAP256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA3072:
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	case RSA4096:
		k, err = rsa.GenerateKey(rand.Reader, 4096)
	default:
		return nil, fmt.Errorf("unknown key algorithm %q (want one of %v)", alg, KeyAlgorithms)
	}
	if err != nil {
		return nil, err
	}
	return WrapKey(k), nil
}

// RootOptions shape a self-signed root.
type RootOptions struct {
	Subject   pkix.Name
	NotBefore time.Time
	Validity  time.Duration
}

// NewRoot makes a self-signed root for key, with the extensions of Istio's
// tools/certs root: basicConstraints critical CA:TRUE without a path length
// (so a root can later sign sub-CAs such as an AWS Private CA hierarchy),
// keyUsage keyCertSign, cRLSign and digitalSignature, and a subject key
// identifier (crypto/x509 derives it from the key).
func NewRoot(key *Key, o RootOptions) (*x509.Certificate, error) {
	if o.Validity <= 0 {
		o.Validity = DefaultRootValidity
	}
	if len(o.Subject.CommonName) == 0 && len(o.Subject.Organization) == 0 {
		o.Subject = pkix.Name{Organization: []string{DefaultOrganization}, CommonName: DefaultRootCommonName}
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               o.Subject,
		NotBefore:             o.NotBefore.Add(-clockSkew),
		NotAfter:              o.NotBefore.Add(o.Validity),
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              caKeyUsage(key.Public()),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("making the root: %v", err)
	}
	return x509.ParseCertificate(der)
}

// caKeyUsage is keyCertSign, cRLSign and digitalSignature, plus
// keyEncipherment for an RSA key (as Istio's tools/certs set it; it means
// nothing for ECDSA, where Go would refuse nothing but verifiers may).
func caKeyUsage(pub crypto.PublicKey) x509.KeyUsage {
	u := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		u |= x509.KeyUsageKeyEncipherment
	}
	return u
}

func randomSerial() (*big.Int, error) {
	// 127 random bits: positive, unique, and within RFC 5280's 20 octets.
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// IntermediateSubject is the subject Istio's tools/certs give a cluster's
// intermediate (O, CN "Intermediate CA", L the cluster), with the cluster
// in the CN too so that certificates of different clusters read apart.
func IntermediateSubject(organization, cluster string) pkix.Name {
	if organization == "" {
		organization = DefaultOrganization
	}
	return pkix.Name{Organization: []string{organization}, CommonName: "Intermediate CA " + cluster, Locality: []string{cluster}}
}

// IntermediateDNSName is the SAN Istio's tools/certs put in an
// intermediate: istiod's service name in its namespace.
func IntermediateDNSName(istioNamespace string) string {
	return "istiod." + istioNamespace + ".svc"
}

// NewCSR makes a certificate request for key, signed by key: what an Issuer
// receives. The key itself never leaves this machine.
func NewCSR(key *Key, subject pkix.Name, dnsNames []string) (*x509.CertificateRequest, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject, DNSNames: dnsNames}, key)
	if err != nil {
		return nil, fmt.Errorf("making a certificate request: %v", err)
	}
	return x509.ParseCertificateRequest(der)
}

// IntermediateRequest asks an Issuer for an intermediate CA certificate.
type IntermediateRequest struct {
	// CSR carries the intermediate's public key, subject and DNS names,
	// signed by its private key (NewCSR).
	CSR *x509.CertificateRequest
	// NotBefore is the instant of issue; the certificate is valid from a
	// little earlier, for clock skew, as istiod does for its own.
	NotBefore time.Time
	// Validity is the wished lifetime; an issuer may shorten it to its own
	// remaining life (Issued.Cert.NotAfter says what was given).
	Validity time.Duration
}

// Issued is an issued intermediate with what proves it, as the issuer
// returned it: nothing in it is trusted before CheckIssued passed.
type Issued struct {
	// Cert is the new intermediate. Asked for: basicConstraints CA:TRUE
	// with the template's path length (0: it signs workloads only),
	// keyUsage keyCertSign, cRLSign and digitalSignature (plus
	// keyEncipherment for RSA).
	Cert *x509.Certificate
	// Chain is Cert's issuers, nearest first, ending with Root.
	Chain []*x509.Certificate
	// Root is the self-signed root at the end of Chain.
	Root *x509.Certificate
}

// CertChain is Cert followed by Chain: Istio's cert-chain.pem.
func (i Issued) CertChain() []*x509.Certificate {
	return append([]*x509.Certificate{i.Cert}, i.Chain...)
}

// Issuer signs intermediates for keys made on this machine. The local one
// holds a root (or an intermediate) key in memory; another signs through a
// cloud CA (AWS Private CA), which is why issuing takes a context. The
// intermediate's key and CSR are always made here (GenerateKey, NewCSR);
// an Issuer only ever sees the CSR. Callers get intermediates through
// NewIntermediate, which checks what came back (CheckIssued) before anyone
// may write it anywhere.
//
// fix calls IssueIntermediate only when applying (from Change.Complete),
// never to print a plan: issuing is a side effect for a cloud CA (a
// recorded, billed certificate), and a printed plan holds no key that
// nothing will use. The server-side dry run before an apply asks only a
// *LocalIssuer; any other issuer is asked once, at the apply. Root and
// Describe are called while planning.
type Issuer interface {
	// Root is the root every certificate issued chains to. It is known
	// before issuing, without side effects.
	Root() *x509.Certificate
	// Describe names the issuer in a plan: what signs, with fingerprints,
	// never key material.
	Describe() string
	// Template is what the issuer asks its CA to put into an intermediate
	// (the path length CheckIssued expects) and the name a refusal gives.
	Template() Template
	// IssueIntermediate signs an intermediate CA certificate for req.CSR.
	IssueIntermediate(ctx context.Context, req IntermediateRequest) (Issued, error)
}

// LocalIssuer signs with a CA key held in memory (from --root-key).
type LocalIssuer struct {
	cert *x509.Certificate
	// chain is cert and its issuers up to the root: the Chain of
	// everything it issues.
	chain []*x509.Certificate
	root  *x509.Certificate
	key   *Key
}

// NewLocalIssuer checks that cert, chain and key can issue intermediates at
// now: the key is cert's, cert is a CA whose path length allows one more CA
// below it, chain (cert's issuers, nearest first; empty when cert is the
// root) leads by signature to a self-signed root, and cert is valid.
func NewLocalIssuer(cert *x509.Certificate, chain []*x509.Certificate, key *Key, now time.Time) (*LocalIssuer, error) {
	if cert == nil || key == nil {
		return nil, errors.New("a CA certificate and its key are needed")
	}
	if !key.Matches(cert) {
		return nil, fmt.Errorf("the key (%s) is not the key of %s", DescribePublicKey(key.Public()), Describe(cert))
	}
	if p := CAProblems(cert); len(p) > 0 {
		return nil, fmt.Errorf("%s cannot sign certificates: %v", Describe(cert), p)
	}
	path := BuildPath(cert, append([]*x509.Certificate{cert}, chain...))
	root := path[len(path)-1]
	if !SelfSigned(root) {
		return nil, fmt.Errorf("%s does not lead to a self-signed root through the given chain (it ends at %s)", Describe(cert), Describe(root))
	}
	// The new intermediate is one more CA below every certificate of the
	// path (index 0 stands for it; PathLenProblems never reads it).
	if p := PathLenProblems(append([]*x509.Certificate{nil}, path...)); len(p) > 0 {
		return nil, fmt.Errorf("the path length constraints forbid an intermediate below %s: %v", Describe(cert), p)
	}
	for _, c := range path {
		if v := CheckValidity(c, now, 0, 0); v == Expired || v == NotYetValid {
			return nil, fmt.Errorf("%s is not valid now (%s to %s)", Describe(c), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return &LocalIssuer{cert: cert, chain: path, root: root, key: key}, nil
}

// Root is the root at the end of the issuer's chain.
func (l *LocalIssuer) Root() *x509.Certificate { return l.root }

// Describe names the signing certificate and, if different, the root.
func (l *LocalIssuer) Describe() string {
	if l.cert.Equal(l.root) {
		return "root " + Describe(l.root)
	}
	return "CA " + Describe(l.cert) + " under root " + Describe(l.root)
}

// LocalTemplate is what a LocalIssuer puts into every intermediate
// (IntermediateTemplate).
var LocalTemplate = Template{
	Name:    "meshfed local intermediate (CA:TRUE pathlen 0, keyCertSign)",
	PathLen: 0,
}

// Template is LocalTemplate.
func (l *LocalIssuer) Template() Template { return LocalTemplate }

// IssueIntermediate signs req.CSR with the local key.
func (l *LocalIssuer) IssueIntermediate(_ context.Context, req IntermediateRequest) (Issued, error) {
	tmpl, err := IntermediateTemplate(req, l.cert.NotAfter)
	if err != nil {
		return Issued{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, l.cert, req.CSR.PublicKey, l.key)
	if err != nil {
		return Issued{}, fmt.Errorf("signing the intermediate %q: %v", req.CSR.Subject.String(), err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Issued{}, err
	}
	return Issued{Cert: cert, Chain: append([]*x509.Certificate{}, l.chain...), Root: l.root}, nil
}

// IntermediateTemplate is the certificate an issuer makes for req: the
// CSR's subject, key and DNS names; CA:TRUE with path length 0 (istiod
// signs workloads, never further CAs); keyUsage as Istio's tools/certs set
// it; valid from NotBefore minus istiod's clock-skew grace for Validity,
// but not beyond notAfterLimit (the issuer's own end). The CSR's signature
// must be good: it proves the requester holds the key.
func IntermediateTemplate(req IntermediateRequest, notAfterLimit time.Time) (*x509.Certificate, error) {
	if req.CSR == nil {
		return nil, errors.New("no certificate request")
	}
	if err := req.CSR.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the certificate request for %q is not signed by its key: %v", req.CSR.Subject.String(), err)
	}
	validity := req.Validity
	if validity <= 0 {
		validity = DefaultIntermediateValidity
	}
	notAfter := req.NotBefore.Add(validity)
	if !notAfterLimit.IsZero() && notAfter.After(notAfterLimit) {
		notAfter = notAfterLimit
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               req.CSR.Subject,
		DNSNames:              req.CSR.DNSNames,
		NotBefore:             req.NotBefore.Add(-clockSkew),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              caKeyUsage(req.CSR.PublicKey),
	}, nil
}

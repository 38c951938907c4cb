package awstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CA statuses as ACM-PCA spells them.
const (
	StatusActive             = "ACTIVE"
	StatusDisabled           = "DISABLED"
	StatusPendingCertificate = "PENDING_CERTIFICATE"
	StatusExpired            = "EXPIRED"
	StatusFailed             = "FAILED"
	StatusCreating           = "CREATING"
	StatusDeleted            = "DELETED"
)

// PCA is a fake AWS Private CA: certificate authorities backed by real x509
// keys and certificates, issuing real certificates from CSRs.
type PCA struct {
	srv *Server

	mu      sync.Mutex
	cas     map[string]*FakeCA
	issued  map[string]*issuedCert
	pending int
	nextID  int
	fault   IssueFault
}

// IssueFault makes the CA issue something else than it was asked for: the
// certificate a caller gets when something between it and AWS rewrote the
// request, or a CA does not do what the template's name says. AWS itself
// does neither; tests use it to check what callers do with a certificate
// they did not ask for.
type IssueFault struct {
	// Template, when set, is the template ARN every IssueCertificate is
	// signed with, whatever the request names.
	Template string
	// IgnorePathLen issues even when the template's path length is not
	// below the CA's, which AWS refuses with a ValidationException.
	IgnorePathLen bool
}

// SetIssueFault applies f to every later IssueCertificate (the zero
// IssueFault ends it).
func (p *PCA) SetIssueFault(f IssueFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// FakeCA is one certificate authority of the fake.
type FakeCA struct {
	ARN              string
	Type             string // ROOT or SUBORDINATE
	Status           string
	KeyAlgorithm     string // RSA_2048, EC_prime256v1, …
	SigningAlgorithm string // SHA256WITHRSA, SHA256WITHECDSA, …
	Cert             *x509.Certificate
	Chain            []*x509.Certificate // the certificates above Cert, nearest first
	key              crypto.Signer
}

// CertPEM is the CA's own certificate.
func (ca *FakeCA) CertPEM() []byte { return encodeCerts(ca.Cert) }

// RootPEM is the root this CA chains to (itself for a root).
func (ca *FakeCA) RootPEM() []byte {
	if len(ca.Chain) == 0 {
		return ca.CertPEM()
	}
	return encodeCerts(ca.Chain[len(ca.Chain)-1])
}

type issuedCert struct {
	ca      *FakeCA
	cert    *x509.Certificate
	pending int // GetCertificate calls left that answer RequestInProgressException
}

// CAOptions describe a CA to create. Zero values: a root named "awstest
// root", EC_prime256v1, ACTIVE, valid for ten years from now.
type CAOptions struct {
	CommonName   string
	KeyAlgorithm string
	Status       string
	Region       string
	NotBefore    time.Time
	NotAfter     time.Time
	// MaxPathLen limits the CAs below (-1: no limit, the default for a
	// root; 0 and up: the BasicConstraints pathlen).
	MaxPathLen *int
	// Parent makes a SUBORDINATE CA signed by it.
	Parent *FakeCA
}

// NewPCA is an empty Private CA serving through srv.
func NewPCA(srv *Server) *PCA {
	return &PCA{srv: srv, cas: map[string]*FakeCA{}, issued: map[string]*issuedCert{}}
}

// SetPendingPolls makes every certificate issued from now on answer that
// many GetCertificate calls with RequestInProgressException first.
func (p *PCA) SetPendingPolls(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = n
}

// SetStatus changes a CA's status (DISABLED, EXPIRED, …).
func (p *PCA) SetStatus(arn, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ca := p.cas[arn]; ca != nil {
		ca.Status = status
	}
}

// Issued is the number of certificates issued so far.
func (p *PCA) Issued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.issued)
}

// CreateCA makes a CA with a fresh key and certificate.
func (p *PCA) CreateCA(o CAOptions) (*FakeCA, error) {
	if o.CommonName == "" {
		o.CommonName = "awstest root"
	}
	if o.KeyAlgorithm == "" {
		o.KeyAlgorithm = "EC_prime256v1"
	}
	if o.Status == "" {
		o.Status = StatusActive
	}
	if o.Region == "" {
		o.Region = p.srv.Region
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.AddDate(10, 0, 0)
	}
	key, sigAlg, err := newKey(o.KeyAlgorithm)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: o.CommonName, Organization: []string{"awstest"}},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            -1,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	if o.MaxPathLen != nil {
		tmpl.MaxPathLen = *o.MaxPathLen
		tmpl.MaxPathLenZero = *o.MaxPathLen == 0
	}
	parentCert, parentKey := tmpl, key
	var chain []*x509.Certificate
	typ := "ROOT"
	if o.Parent != nil {
		parentCert, parentKey = o.Parent.Cert, o.Parent.key
		chain = append([]*x509.Certificate{o.Parent.Cert}, o.Parent.Chain...)
		typ = "SUBORDINATE"
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), parentKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	ca := &FakeCA{
		ARN:              fmt.Sprintf("arn:aws:acm-pca:%s:%s:certificate-authority/%08d-0000-4000-8000-%012d", o.Region, TestAccountID, p.nextID, p.nextID),
		Type:             typ,
		Status:           o.Status,
		KeyAlgorithm:     o.KeyAlgorithm,
		SigningAlgorithm: sigAlg,
		Cert:             cert,
		Chain:            chain,
		key:              key,
	}
	p.cas[ca.ARN] = ca
	return ca, nil
}

func newKey(alg string) (crypto.Signer, string, error) {
	switch alg {
	case "RSA_2048", "RSA_3072", "RSA_4096":
		bits, _ := strconv.Atoi(strings.TrimPrefix(alg, "RSA_"))
		k, err := rsa.GenerateKey(rand.Reader, bits)
		return k, "SHA256WITHRSA", err
	case "EC_prime256v1":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		return k, "SHA256WITHECDSA", err
	case "EC_secp384r1":
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		return k, "SHA384WITHECDSA", err
	case "EC_secp521r1":
		k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		return k, "SHA512WITHECDSA", err
	}
	return nil, "", fmt.Errorf("awstest: key algorithm %q is not supported", alg)
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

func encodeCerts(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// Service is ACM-PCA's awsJson1_1 surface.
func (p *PCA) Service() *Service {
	return &Service{
		SigningName:    ServicePCA,
		Protocol:       AWSJSON11,
		TargetPrefix:   "ACMPrivateCA",
		ThrottleCode:   "ThrottlingException",
		ThrottleStatus: 400,
		DenyCode:       "AccessDeniedException",
		DenyStatus:     400,
		Actions: map[string]Handler{
			"DescribeCertificateAuthority":       p.describe,
			"GetCertificateAuthorityCertificate": p.caCertificate,
			"IssueCertificate":                   p.issue,
			"GetCertificate":                     p.getCertificate,
		},
	}
}

var caARN = regexp.MustCompile(`^arn:aws[a-z-]*:acm-pca:([a-z0-9-]+):([0-9]{12}):certificate-authority/[0-9a-f-]+$`)

// lookup finds a CA by ARN in the region the call was signed for, as the
// real service does (a CA of another region is not found there).
func (p *PCA) lookup(c *Call, arn string) (*FakeCA, error) {
	m := caARN.FindStringSubmatch(arn)
	if m == nil {
		return nil, NewError(400, "InvalidArnException", fmt.Sprintf("The ARN %q is not valid.", arn))
	}
	ca := p.cas[arn]
	if ca == nil || m[1] != c.Region || ca.Status == StatusDeleted {
		return nil, NewError(400, "ResourceNotFoundException", fmt.Sprintf("Could not find certificate authority %s in region %s.", arn, c.Region))
	}
	return ca, nil
}

type caRequest struct {
	CertificateAuthorityArn string
}

func (r *caRequest) caARN() string { return r.CertificateAuthorityArn }

// decodeCA reads a request naming a CA and finds the CA; the caller holds p.mu.
func (p *PCA) decodeCA(c *Call, in interface{ caARN() string }) (*FakeCA, error) {
	if err := c.Decode(in); err != nil {
		return nil, err
	}
	return p.lookup(c, in.caARN())
}

type asn1Subject struct {
	CommonName   string `json:",omitempty"`
	Organization string `json:",omitempty"`
	Country      string `json:",omitempty"`
}

type caConfiguration struct {
	KeyAlgorithm     string
	SigningAlgorithm string
	Subject          asn1Subject
}

type certificateAuthority struct {
	Arn                               string
	OwnerAccount                      string
	CreatedAt                         EpochSeconds
	LastStateChangeAt                 EpochSeconds
	Type                              string
	Serial                            string `json:",omitempty"`
	Status                            string
	NotBefore                         *EpochSeconds `json:",omitempty"`
	NotAfter                          *EpochSeconds `json:",omitempty"`
	CertificateAuthorityConfiguration caConfiguration
	KeyStorageSecurityStandard        string
	UsageMode                         string
}

func (p *PCA) describe(c *Call) (any, error) {
	var in caRequest
	p.mu.Lock()
	defer p.mu.Unlock()
	ca, err := p.decodeCA(c, &in)
	if err != nil {
		return nil, err
	}
	out := certificateAuthority{
		Arn:               ca.ARN,
		OwnerAccount:      TestAccountID,
		CreatedAt:         EpochSeconds(ca.Cert.NotBefore),
		LastStateChangeAt: EpochSeconds(ca.Cert.NotBefore),
		Type:              ca.Type,
		Status:            ca.Status,
		CertificateAuthorityConfiguration: caConfiguration{
			KeyAlgorithm:     ca.KeyAlgorithm,
			SigningAlgorithm: ca.SigningAlgorithm,
			Subject:          asn1Subject{CommonName: ca.Cert.Subject.CommonName, Organization: strings.Join(ca.Cert.Subject.Organization, ",")},
		},
		KeyStorageSecurityStandard: "FIPS_140_2_LEVEL_3_OR_HIGHER",
		UsageMode:                  "GENERAL_PURPOSE",
	}
	if ca.Status != StatusPendingCertificate && ca.Status != StatusCreating {
		nb, na := EpochSeconds(ca.Cert.NotBefore), EpochSeconds(ca.Cert.NotAfter)
		out.NotBefore, out.NotAfter = &nb, &na
		out.Serial = hex.EncodeToString(ca.Cert.SerialNumber.Bytes())
	}
	return map[string]any{"CertificateAuthority": out}, nil
}

func (p *PCA) caCertificate(c *Call) (any, error) {
	var in caRequest
	p.mu.Lock()
	defer p.mu.Unlock()
	ca, err := p.decodeCA(c, &in)
	if err != nil {
		return nil, err
	}
	if ca.Status == StatusPendingCertificate || ca.Status == StatusCreating || ca.Status == StatusFailed {
		return nil, NewError(400, "InvalidStateException", fmt.Sprintf("The certificate authority %s is in the %s state.", ca.ARN, ca.Status))
	}
	out := map[string]string{"Certificate": string(ca.CertPEM())}
	if len(ca.Chain) > 0 {
		out["CertificateChain"] = string(encodeCerts(ca.Chain...))
	}
	return out, nil
}

type validity struct {
	Type  string
	Value int64
}

type issueRequest struct {
	caRequest
	Csr               []byte // a blob: base64 of the PEM CSR on the wire
	SigningAlgorithm  string
	TemplateArn       string
	Validity          *validity
	ValidityNotBefore *validity
	IdempotencyToken  string
}

// template is what one ACM-PCA certificate template puts into a certificate
// (AWS's template definitions): EndEntityCertificate/V1, the default when
// none is named, makes CA:FALSE with keyUsage digitalSignature and
// keyEncipherment and extended key usage serverAuth and clientAuth (the
// ClientAuth and ServerAuth variants only that one); the
// SubordinateCACertificate_PathLenN templates make CA:TRUE with pathlen N and
// keyUsage digitalSignature, keyCertSign and cRLSign. The passthrough
// variants keep these (the template wins a conflict with the CSR).
type template struct {
	ca      bool
	pathLen int // for CA templates
	ekus    []x509.ExtKeyUsage
}

var templateARN = regexp.MustCompile(`^arn:aws[a-z-]*:acm-pca:::template/([A-Za-z]+)(?:_PathLen([0-9]))?(?:_CSRPassthrough|_APIPassthrough|_APICSRPassthrough)?/V[0-9]+$`)

func parseTemplate(arn string) (template, error) {
	serverAndClient := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if arn == "" {
		return template{ekus: serverAndClient}, nil // EndEntityCertificate/V1
	}
	m := templateARN.FindStringSubmatch(arn)
	if m == nil {
		return template{}, NewError(400, "InvalidArgsException", fmt.Sprintf("The template ARN %q is not valid.", arn))
	}
	switch m[1] {
	case "EndEntityCertificate":
		return template{ekus: serverAndClient}, nil
	case "EndEntityClientAuthCertificate":
		return template{ekus: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil
	case "EndEntityServerAuthCertificate":
		return template{ekus: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil
	case "SubordinateCACertificate":
		if m[2] == "" {
			return template{}, NewError(400, "InvalidArgsException", fmt.Sprintf("The template ARN %q is not valid.", arn))
		}
		n, _ := strconv.Atoi(m[2])
		return template{ca: true, pathLen: n}, nil
	}
	return template{}, NewError(400, "InvalidArgsException", fmt.Sprintf("The template %q is not supported by awstest.", m[1]))
}

func (p *PCA) issue(c *Call) (any, error) {
	var in issueRequest
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.Csr) == 0 || in.SigningAlgorithm == "" || in.Validity == nil {
		return nil, NewError(400, "ValidationException", "Csr, SigningAlgorithm and Validity are required.")
	}
	p.mu.Lock()
	fault := p.fault
	p.mu.Unlock()
	if fault.Template != "" {
		in.TemplateArn = fault.Template
	}
	tmpl, err := parseTemplate(in.TemplateArn)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(in.Csr)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, NewError(400, "MalformedCSRException", "The certificate signing request is not a PEM CERTIFICATE REQUEST.")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, NewError(400, "MalformedCSRException", "The certificate signing request is invalid: "+err.Error())
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, NewError(400, "MalformedCSRException", "The certificate signing request's signature is invalid.")
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	ca, err := p.lookup(c, in.CertificateAuthorityArn)
	if err != nil {
		return nil, err
	}
	if ca.Status != StatusActive {
		return nil, NewError(400, "InvalidStateException", fmt.Sprintf("The certificate authority %s is not in the ACTIVE state: it is %s.", ca.ARN, ca.Status))
	}
	if in.SigningAlgorithm != ca.SigningAlgorithm && !sameFamily(in.SigningAlgorithm, ca.KeyAlgorithm) {
		return nil, NewError(400, "InvalidArgsException", fmt.Sprintf("The signing algorithm %s does not match the key algorithm %s of the certificate authority.", in.SigningAlgorithm, ca.KeyAlgorithm))
	}
	notBefore := c.Now.Add(-time.Minute).Truncate(time.Second)
	if in.ValidityNotBefore != nil {
		if notBefore, err = validityTime(*in.ValidityNotBefore, c.Now); err != nil {
			return nil, err
		}
	}
	notAfter, err := validityTime(*in.Validity, c.Now)
	if err != nil {
		return nil, err
	}
	if notAfter.After(ca.Cert.NotAfter) {
		return nil, NewError(400, "ValidationException", fmt.Sprintf("The certificate's validity ends after the certificate authority's (%s).", ca.Cert.NotAfter.UTC().Format(time.RFC3339)))
	}
	// AWS refuses a CA certificate whose path length is not below its CA's
	// ("Path length verification failed for CA", a ValidationException).
	if tmpl.ca && (ca.Cert.MaxPathLen > 0 || ca.Cert.MaxPathLenZero) && tmpl.pathLen >= ca.Cert.MaxPathLen && !fault.IgnorePathLen {
		return nil, NewError(400, "ValidationException", fmt.Sprintf("Path length verification failed for CA: the template's path length %d is not below the certificate authority's %d.", tmpl.pathLen, ca.Cert.MaxPathLen))
	}

	cert := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               csr.Subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		DNSNames:              csr.DNSNames,
		URIs:                  csr.URIs,
		IPAddresses:           csr.IPAddresses,
		EmailAddresses:        csr.EmailAddresses,
	}
	if tmpl.ca {
		cert.IsCA = true
		cert.MaxPathLen = tmpl.pathLen
		cert.MaxPathLenZero = tmpl.pathLen == 0
		cert.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		cert.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		cert.ExtKeyUsage = tmpl.ekus
	}
	der, err := x509.CreateCertificate(rand.Reader, cert, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, NewError(400, "MalformedCSRException", "cannot issue for this CSR: "+err.Error())
	}
	issued, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	arn := ca.ARN + "/certificate/" + hex.EncodeToString(issued.SerialNumber.Bytes())
	p.issued[arn] = &issuedCert{ca: ca, cert: issued, pending: p.pending}
	return map[string]string{"CertificateArn": arn}, nil
}

// sameFamily accepts any SHA-2 signing algorithm of the CA's key type.
func sameFamily(sigAlg, keyAlg string) bool {
	switch {
	case strings.HasPrefix(keyAlg, "RSA_"):
		return strings.HasSuffix(sigAlg, "WITHRSA")
	case strings.HasPrefix(keyAlg, "EC_"):
		return strings.HasSuffix(sigAlg, "WITHECDSA")
	}
	return false
}

func validityTime(v validity, now time.Time) (time.Time, error) {
	switch v.Type {
	case "DAYS":
		return now.AddDate(0, 0, int(v.Value)), nil
	case "MONTHS":
		return now.AddDate(0, int(v.Value), 0), nil
	case "YEARS":
		return now.AddDate(int(v.Value), 0, 0), nil
	case "ABSOLUTE":
		return time.Unix(v.Value, 0), nil
	case "END_DATE":
		s := strconv.FormatInt(v.Value, 10)
		if t, err := time.Parse("20060102150405", s); err == nil {
			return t, nil
		}
		if t, err := time.Parse("060102150405", s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, NewError(400, "InvalidArgsException", fmt.Sprintf("The validity %s %d is not valid.", v.Type, v.Value))
}

type getCertificateRequest struct {
	caRequest
	CertificateArn string
}

func (p *PCA) getCertificate(c *Call) (any, error) {
	var in getCertificateRequest
	p.mu.Lock()
	defer p.mu.Unlock()
	ca, err := p.decodeCA(c, &in)
	if err != nil {
		return nil, err
	}
	ic := p.issued[in.CertificateArn]
	if ic == nil || ic.ca != ca {
		return nil, NewError(400, "ResourceNotFoundException", fmt.Sprintf("Could not find certificate %s.", in.CertificateArn))
	}
	if ic.pending > 0 {
		ic.pending--
		return nil, NewError(400, "RequestInProgressException", "The request to issue the certificate is still in progress.")
	}
	return map[string]string{
		"Certificate":      string(encodeCerts(ic.cert)),
		"CertificateChain": string(encodeCerts(append([]*x509.Certificate{ca.Cert}, ca.Chain...)...)),
	}, nil
}

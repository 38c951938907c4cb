// Package pkitest makes test certificate authorities and the Kubernetes
// objects of an Istio install that uses them: the fixtures of the trust
// checks are generated with it (see ./gen), and the lab can use it to install
// the same scenarios on live clusters.
//
// Every key made here is a throwaway test key.
package pkitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"time"
)

// Far-future validity keeps generated fixtures from expiring.
var (
	FarPast   = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	FarFuture = time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC)
)

// CA is a test certificate authority: a certificate, its key, and the chain
// of its issuers up to and including the root (empty for a root).
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	Issuers []*CA
}

// Opts shape a certificate. The zero value is a sound, long-lived
// ECDSA P-256 CA.
type Opts struct {
	NotBefore, NotAfter time.Time
	RSABits             int // 0: ECDSA P-256
	// PathLen sets pathLenConstraint; nil leaves it unset.
	PathLen *int
	// NotCA drops basicConstraints CA:TRUE.
	NotCA bool
	// NoCertSign leaves keyCertSign out of keyUsage.
	NoCertSign bool
	// SignatureAlgorithm overrides the issuer's default (e.g. SHA1WithRSA).
	SignatureAlgorithm x509.SignatureAlgorithm
	Organization       string
	OCSPServer         []string
	// ExcludedURIDomains and PermittedURIDomains are URI name
	// constraints (RFC 5280 4.2.1.10), marked critical.
	ExcludedURIDomains, PermittedURIDomains []string
	// ExtKeyUsage restricts the certificate's extended key usage.
	ExtKeyUsage []x509.ExtKeyUsage
}

// IntPtr is a convenience for Opts.PathLen.
func IntPtr(i int) *int { return &i }

var serial int64 = 1000

func newKey(o Opts) crypto.Signer {
	var (
		k   crypto.Signer
		err error
	)
	if o.RSABits > 0 {
		k, err = rsa.GenerateKey(rand.Reader, o.RSABits)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		panic(err)
	}
	return k
}

func template(cn string, o Opts) *x509.Certificate {
	serial++
	nb, na := o.NotBefore, o.NotAfter
	if nb.IsZero() {
		nb = FarPast
	}
	if na.IsZero() {
		na = FarFuture
	}
	org := o.Organization
	if org == "" {
		org = "meshfed test fixtures"
	}
	t := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Organization: []string{org}, CommonName: cn},
		NotBefore:             nb,
		NotAfter:              na,
		BasicConstraintsValid: true,
		IsCA:                  !o.NotCA,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SignatureAlgorithm:    o.SignatureAlgorithm,
		OCSPServer:            o.OCSPServer,
	}
	if o.NoCertSign || o.NotCA {
		t.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if len(o.ExcludedURIDomains) > 0 || len(o.PermittedURIDomains) > 0 {
		t.ExcludedURIDomains, t.PermittedURIDomains = o.ExcludedURIDomains, o.PermittedURIDomains
		t.PermittedDNSDomainsCritical = true
	}
	t.ExtKeyUsage = o.ExtKeyUsage
	if o.PathLen != nil {
		t.MaxPathLen = *o.PathLen
		t.MaxPathLenZero = *o.PathLen == 0
	}
	return t
}

func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return c
}

// NewRoot makes a self-signed root.
func NewRoot(cn string, o Opts) *CA {
	k := newKey(o)
	t := template(cn, o)
	return &CA{Cert: create(t, t, k.Public(), k), Key: k}
}

// Issue makes a CA certificate signed by ca.
func (ca *CA) Issue(cn string, o Opts) *CA {
	k := newKey(o)
	return &CA{Cert: create(template(cn, o), ca.Cert, k.Public(), ca.Key), Key: k, Issuers: append([]*CA{ca}, ca.Issuers...)}
}

// WithKey returns a copy of ca holding another key (for a key that does not
// match its certificate).
func (ca *CA) WithKey(k crypto.Signer) *CA {
	c := *ca
	c.Key = k
	return &c
}

// CertPEM is the certificate alone.
func (ca *CA) CertPEM() []byte { return PEM(ca.Cert) }

// KeyPEM is the key in PKCS #8.
func (ca *CA) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ChainPEM is the certificate followed by its issuers up to the root: what
// Istio's cert-chain.pem holds.
func (ca *CA) ChainPEM() []byte {
	out := ca.CertPEM()
	for _, i := range ca.Issuers {
		out = append(out, i.CertPEM()...)
	}
	return out
}

// Root is the last issuer (or ca itself for a root).
func (ca *CA) Root() *CA {
	if len(ca.Issuers) == 0 {
		return ca
	}
	return ca.Issuers[len(ca.Issuers)-1]
}

// PEM encodes certificates.
func PEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// Bundle concatenates PEM documents.
func Bundle(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

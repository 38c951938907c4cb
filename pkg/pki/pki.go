// Package pki holds the x509 helpers shared by the trust checks and the
// fixers: parsing PEM bundles with precise errors, fingerprints, and short
// descriptions of certificates for evidence.
package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ErrNoCertificates is returned for input that holds no PEM certificate.
var ErrNoCertificates = errors.New("no PEM certificate found")

// ParseCertificates reads every CERTIFICATE block of a PEM bundle. An error
// names the block (1-based) and what is wrong with it; it never quotes the
// input, which may sit next to a private key.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for i := 1; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", i, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %v", i, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		if len(strings.TrimSpace(string(rest))) > 0 {
			return nil, fmt.Errorf("%w (the data is not PEM)", ErrNoCertificates)
		}
		return nil, ErrNoCertificates
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, fmt.Errorf("unparsable data after PEM block %d", len(certs))
	}
	return certs, nil
}

// Fingerprint is the one form in which meshfed shows bytes by their hash:
// a certificate (its DER, c.Raw), a public key (its SubjectPublicKeyInfo) or
// a secret value, in reports, plans, dumps and logs alike. It is
// "sha256 " and the first 8 bytes of the SHA-256, colon-separated as
// openssl prints a fingerprint, so that a certificate's can be matched
// against `openssl x509 -fingerprint -sha256` by its start; 8 bytes are
// enough to tell roots apart and say nothing of a secret.
func Fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:8])
	var s strings.Builder
	s.WriteString("sha256 ")
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(h[i : i+2])
	}
	return s.String()
}

// Describe is a certificate in one line of evidence: its name (Name),
// fingerprint, expiry.
func Describe(c *x509.Certificate) string {
	return fmt.Sprintf("%s (%s, expires %s)", Name(c), Fingerprint(c.Raw), c.NotAfter.UTC().Format("2006-01-02"))
}

// Name names a certificate in a message: its subject, quoted. A
// certificate without a subject (istiod's workload certificates have
// none: their identity is the SPIFFE URI) is named by its first URI or
// DNS name, else by its fingerprint; never as an empty "".
func Name(c *x509.Certificate) string {
	if s := c.Subject.String(); s != "" {
		return fmt.Sprintf("%q", s)
	}
	switch {
	case len(c.URIs) > 0:
		return "the certificate of " + c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return "the certificate of " + c.DNSNames[0]
	}
	return "a certificate without a subject (" + Fingerprint(c.Raw) + ")"
}

// IssuerName is Name's counterpart for a certificate's issuer.
func IssuerName(c *x509.Certificate) string {
	if s := c.Issuer.String(); s != "" {
		return fmt.Sprintf("%q", s)
	}
	return "an issuer without a name"
}

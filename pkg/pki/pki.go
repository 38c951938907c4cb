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

// Fingerprint is the SHA-256 fingerprint of a certificate, colon-separated,
// shortened to 8 bytes: enough to tell roots apart in a report.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := hex.EncodeToString(sum[:8])
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// Describe is a certificate in one line of evidence: subject, fingerprint, expiry.
func Describe(c *x509.Certificate) string {
	return fmt.Sprintf("%q (sha256 %s, expires %s)", c.Subject.String(), Fingerprint(c), c.NotAfter.UTC().Format("2006-01-02"))
}

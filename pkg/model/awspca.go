package model

import "time"

// AWSPrivateCA is what AWS Private CA said about the CA the mesh's roots
// should come from (doctor --pca-arn), read by pkg/aws/pca and recorded next
// to the snapshot like the probes, so that the checks stay pure. A nil
// Fleet.AWSPrivateCA means no CA was named.
type AWSPrivateCA struct {
	ARN string `json:"arn"`
	// Error says why the CA could not be described (the IAM action refused,
	// a timeout, not found); every field below is then empty and the checks
	// that need them say "unknown".
	Error string `json:"error,omitempty"`
	// Status (ACTIVE, DISABLED, …), Type (ROOT, SUBORDINATE), KeyAlgorithm
	// and SigningAlgorithm as DescribeCertificateAuthority gives them.
	Status           string     `json:"status,omitempty"`
	Type             string     `json:"type,omitempty"`
	KeyAlgorithm     string     `json:"keyAlgorithm,omitempty"`
	SigningAlgorithm string     `json:"signingAlgorithm,omitempty"`
	NotBefore        *time.Time `json:"notBefore,omitempty"`
	NotAfter         *time.Time `json:"notAfter,omitempty"`
	// CertificateError says why the CA's certificate could not be read
	// (GetCertificateAuthorityCertificate refused, or a CA without one).
	CertificateError string `json:"certificateError,omitempty"`
	// Certificate is the CA's own certificate and Chain its issuers up to
	// the root (empty for a root CA), PEM: public data.
	Certificate string `json:"certificate,omitempty"`
	Chain       string `json:"chain,omitempty"`
}

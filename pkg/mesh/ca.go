package mesh

import (
	"crypto/x509"
	"fmt"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// CASource is where a primary's istiod takes its signing CA from.
type CASource string

const (
	// CAPluggedIn is the `cacerts` secret (istio or kubernetes.io/tls layout).
	CAPluggedIn CASource = "cacerts"
	// CASelfSigned is istiod's own root in `istio-ca-secret`: it cannot be
	// shared with other clusters.
	CASelfSigned CASource = "istio-ca-secret"
	// CANone means no CA material was found (an external CA, or no istiod).
	CANone CASource = "none"
)

// Names of the CA secrets and their keys, as istiod reads them
// (istio.io/istio security/pkg/pki/ca and pilot/pkg/bootstrap/istio_ca.go,
// detectSigningCABundleAndCRL: the kubernetes.io/tls layout is tried first).
const (
	CACertsSecret    = "cacerts"
	SelfSignedSecret = "istio-ca-secret"

	KeyCACert    = "ca-cert.pem"
	KeyCAKey     = "ca-key.pem"
	KeyRootCert  = "root-cert.pem"
	KeyCertChain = "cert-chain.pem"
	KeyTLSCert   = "tls.crt"
	KeyTLSKey    = "tls.key"
	KeyTLSRoot   = "ca.crt"
)

// CA is the signing CA of one cluster's istiod, read from its secret.
type CA struct {
	Source CASource
	// Secret is namespace/name of the secret read.
	Secret string
	// Layout is "istio" (ca-cert.pem …) or "tls" (tls.crt …).
	Layout string
	// Signing is the certificate istiod signs workload certificates with.
	Signing *x509.Certificate
	// Roots is the trust bundle istiod distributes (root-cert.pem); with a
	// multi-root bundle it holds several roots.
	Roots []*x509.Certificate
	// Err says what could not be parsed, naming the key and PEM block.
	Err error
}

// ReadCA finds the CA istiod in this cluster signs with (once per cluster).
func ReadCA(c *fleet.Cluster) CA {
	return c.Memo("mesh.CA", func() any { return readCA(c) }).(CA)
}

func readCA(c *fleet.Cluster) CA {
	if s, ok := findSecret(c, c.IstioNamespace, CACertsSecret); ok {
		ca := CA{Source: CAPluggedIn, Secret: s.Namespace + "/" + s.Name, Layout: "istio"}
		signingKey, rootKey := KeyCACert, KeyRootCert
		if _, tls := s.Data[KeyTLSCert]; tls {
			ca.Layout, signingKey, rootKey = "tls", KeyTLSCert, KeyTLSRoot
		}
		ca.Signing, ca.Roots, ca.Err = parseSigningAndRoots(s, signingKey, rootKey)
		return ca
	}
	if s, ok := findSecret(c, c.IstioNamespace, SelfSignedSecret); ok {
		// The self-signed CA is its own root.
		ca := CA{Source: CASelfSigned, Secret: s.Namespace + "/" + s.Name, Layout: "istio"}
		ca.Signing, ca.Roots, ca.Err = parseSigningAndRoots(s, KeyCACert, KeyCACert)
		return ca
	}
	return CA{Source: CANone}
}

func parseSigningAndRoots(s fleet.Secret, signingKey, rootKey string) (*x509.Certificate, []*x509.Certificate, error) {
	signing, err := parseKey(s, signingKey)
	if err != nil {
		return nil, nil, err
	}
	roots, err := parseKey(s, rootKey)
	if err != nil {
		return signing[0], nil, err
	}
	return signing[0], roots, nil
}

func parseKey(s fleet.Secret, key string) ([]*x509.Certificate, error) {
	data, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s has no key %s", s.Namespace, s.Name, key)
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s key %s: %w", s.Namespace, s.Name, key, err)
	}
	return certs, nil
}

func findSecret(c *fleet.Cluster, ns, name string) (fleet.Secret, bool) {
	for _, s := range c.Secrets {
		if s.Namespace == ns && s.Name == name {
			return s, true
		}
	}
	return fleet.Secret{}, false
}

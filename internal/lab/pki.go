package lab

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// ca is a certificate authority held in memory. Keys are ECDSA P-256: fast to
// make (a lab makes a few dozen at every start) and accepted by the apiserver,
// the service-account token signer and istiod's CA alike.
type ca struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
	// chainPEM is the chain from this CA up to (not including) the root; for
	// a root it is empty.
	chainPEM []byte
	rootPEM  []byte
	// files, when set, are the cacerts files exactly as given (a
	// pki-scenario fault), broken or not.
	files map[string][]byte
}

// certReq describes a certificate to issue.
type certReq struct {
	cn       string
	org      []string
	ips      []net.IP
	dns      []string
	uris     []string
	isCA     bool
	client   bool
	server   bool
	validFor time.Duration
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// newRootCA makes a self-signed root.
func newRootCA(cn, org string) (*ca, error) {
	k, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{org}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &ca{cert: c, key: k, certPEM: p, keyPEM: keyPEM, rootPEM: p}, nil
}

// issue signs a certificate for r and returns its PEM and key PEM.
func (a *ca) issue(r certReq) (certPEM, keyPEM []byte, c *x509.Certificate, key crypto.Signer, err error) {
	k, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	validFor := r.validFor
	if validFor == 0 {
		validFor = 2 * 365 * 24 * time.Hour
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: r.cn, Organization: r.org},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validFor),
		IPAddresses:  r.ips,
		DNSNames:     r.dns,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	for _, u := range r.uris {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if r.isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	}
	if r.client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if r.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, k.Public(), a.key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	c, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, c, k, nil
}

// intermediate issues a CA signed by a, the way Istio's "plug in CA
// certificates" guide makes one intermediate per cluster from a shared root.
func (a *ca) intermediate(cn, org string) (*ca, error) {
	certPEM, keyPEM, c, k, err := a.issue(certReq{cn: cn, org: []string{org}, isCA: true, validFor: 5 * 365 * 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	chain := append(append([]byte{}, certPEM...), a.chainPEM...)
	return &ca{cert: c, key: k, certPEM: certPEM, keyPEM: keyPEM, chainPEM: chain, rootPEM: a.rootPEM}, nil
}

// cacertsFiles returns the four files of Istio's "cacerts" secret.
func (a *ca) cacertsFiles() map[string][]byte {
	if a.files != nil {
		out := map[string][]byte{}
		for k, v := range a.files {
			out[k] = v
		}
		return out
	}
	chain := append(append([]byte{}, a.chainPEM...), a.rootPEM...)
	return map[string][]byte{
		"ca-cert.pem":    a.certPEM,
		"ca-key.pem":     a.keyPEM,
		"root-cert.pem":  a.rootPEM,
		"cert-chain.pem": chain,
	}
}

// Fingerprint is the SHA-256 of a PEM certificate's DER, colon separated the
// way openssl prints it; used in logs instead of any certificate material.
func Fingerprint(certPEM []byte) string {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return "(no certificate)"
	}
	sum := sha256.Sum256(b.Bytes)
	h := hex.EncodeToString(sum[:8])
	out := ""
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			out += ":"
		}
		out += h[i : i+2]
	}
	return out + "…"
}

func publicKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

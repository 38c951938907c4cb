package fix

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// LoadRoot reads the CA fix issues intermediates from: certPEM is its
// certificate, optionally followed by the certificates up to the root;
// keyPEM is its private key. Errors say what is wrong without quoting
// either input.
func LoadRoot(certPEM, keyPEM []byte) (*Root, error) {
	certs, err := pki.ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("root certificate: %w", err)
	}
	key, err := pki.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	cert := certs[0]
	if !key.Matches(cert) {
		return nil, fmt.Errorf("root key is not the private key of %s", pki.Describe(cert))
	}
	if problems := pki.CAProblems(cert); len(problems) > 0 {
		return nil, fmt.Errorf("%s cannot sign intermediates: %s", pki.Describe(cert), strings.Join(problems, "; "))
	}
	chain := certs[1:]
	for i, c := range certs[:len(certs)-1] {
		if !pki.SignedBy(c, certs[i+1]) {
			return nil, fmt.Errorf("root certificate file: certificate %d (%s) is not signed by the next one, %s", i+1, pki.Describe(c), pki.Describe(certs[i+1]))
		}
	}
	if len(chain) == 0 && !pki.SelfSigned(cert) {
		return nil, fmt.Errorf("%s is not self-signed: append the certificates up to its root to --root-cert", pki.Describe(cert))
	}
	if last := certs[len(certs)-1]; !pki.SelfSigned(last) {
		return nil, fmt.Errorf("root certificate file ends with %s, which is not self-signed: append the certificates up to the root", pki.Describe(last))
	}
	return &Root{Cert: cert, Chain: chain, Key: key}, nil
}

// Bundle returns the root's certificates from Cert up to the root itself.
func (r *Root) Bundle() []*x509.Certificate {
	return append([]*x509.Certificate{r.Cert}, r.Chain...)
}

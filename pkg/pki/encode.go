package pki

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// EncodeCertificates writes certificates as a PEM bundle, in order.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// PrivateKeyPEM is the one way key material leaves a Key: PKCS #8
// ("PRIVATE KEY"), which istiod reads for any key type. Only the writers of
// a key file (mode 0600) and of a cluster's CA secret call it; nothing that
// prints, logs or returns an error may hold its result.
func (k *Key) PrivateKeyPEM() ([]byte, error) {
	if k == nil || k.signer == nil {
		return nil, fmt.Errorf("no private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		// The error names the key's type only.
		return nil, fmt.Errorf("encoding the %s key: %T is not supported", DescribePublicKey(k.Public()), k.signer)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

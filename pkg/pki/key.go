package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Key is a private key held only in memory. It signs (it is a crypto.Signer,
// so x509.CreateCertificate and crypto/tls accept it) but never shows itself:
// every fmt verb, %#v included, and JSON print "<private key …>" with the
// algorithm only. The key material is never copied out of the value.
type Key struct {
	signer crypto.Signer
}

// Public returns the public half.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// Sign signs digest with the key.
func (k *Key) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.signer.Sign(rand, digest, opts)
}

// String names the algorithm, never the key.
func (k *Key) String() string {
	if k == nil || k.signer == nil {
		return "<no private key>"
	}
	return "<private key " + DescribePublicKey(k.Public()) + ">"
}

// GoString keeps %#v from printing the key's fields.
func (k *Key) GoString() string { return k.String() }

// Format makes every fmt verb show the redacted form.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON writes the redacted form.
func (k *Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// Matches reports whether the key is the private half of cert's public key.
func (k *Key) Matches(cert *x509.Certificate) bool {
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && cert != nil && pub.Equal(cert.PublicKey)
}

// WrapKey holds an existing signer as a Key (for keys made in memory).
func WrapKey(s crypto.Signer) *Key { return &Key{signer: s} }

// ErrNoKey is returned for input that holds no PEM private key.
var ErrNoKey = errors.New("no PEM private key found")

// ParsePrivateKey reads the one private key of a PEM document: PKCS #1
// ("RSA PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS #8 ("PRIVATE KEY"), the
// block types istiod accepts (istio.io/istio security/pkg/pki/util
// ParsePemEncodedKey). Like istiod it reads the first PEM block. Errors name
// the block and what is wrong with it; they never quote the input, and the
// parser's own error text is replaced by a fixed description, since it could
// echo bytes of the key.
func ParsePrivateKey(data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		if len(strings.TrimSpace(string(data))) > 0 {
			return nil, fmt.Errorf("%w (the data is not PEM)", ErrNoKey)
		}
		return nil, ErrNoKey
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "CERTIFICATE":
		return nil, errors.New(`PEM block 1 is a "CERTIFICATE", not a private key`)
	default:
		return nil, fmt.Errorf("PEM block 1 is a %q, which istiod does not read as a private key (want EC PRIVATE KEY, RSA PRIVATE KEY or PRIVATE KEY)", printableType(block.Type))
	}
	if err != nil {
		return nil, fmt.Errorf("PEM block 1 (%s) does not parse as a private key of that type", block.Type)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("PEM block 1 (%s) holds a %T, which cannot sign", block.Type, key)
	}
	return &Key{signer: signer}, nil
}

// printableType keeps a hostile block type from carrying much into a message.
func printableType(t string) string {
	if len(t) > 40 {
		t = t[:40] + "…"
	}
	return t
}

// DescribePublicKey is "ECDSA P-256", "RSA 2048", "Ed25519".
func DescribePublicKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// ErrPublicHalfOnly is what a public-only Key's Sign returns.
var ErrPublicHalfOnly = errors.New("only the public half of this key is known (a bundle never holds private keys)")

// publicOnly is a Signer that knows only its public half: what a bundle
// (kubectl meshfed dump) keeps of a private key.
type publicOnly struct{ pub crypto.PublicKey }

func (p publicOnly) Public() crypto.PublicKey { return p.pub }

func (publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, ErrPublicHalfOnly
}

// PublicHalf returns a Key that knows only pub: Public, Matches and
// DescribePublicKey work as with the private key, Sign fails with
// ErrPublicHalfOnly. A diagnosis from a bundle holds its keys so.
func PublicHalf(pub crypto.PublicKey) *Key { return &Key{signer: publicOnly{pub}} }

// CanSign reports whether the private half is held (false for PublicHalf).
func (k *Key) CanSign() bool {
	if k == nil || k.signer == nil {
		return false
	}
	_, only := k.signer.(publicOnly)
	return !only
}

// PublicKeyPEM is the PEM "PUBLIC KEY" block (PKIX) of the key's public half:
// public data, which a bundle keeps in place of the key.
func (k *Key) PublicKeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM reads a PEM "PUBLIC KEY" block written by PublicKeyPEM.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM PUBLIC KEY block")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}

package model

// SecretFacts is what a bundle keeps of one value of a Secret: the value
// itself only when it is public (PEM certificates, nothing else), a
// kubeconfig only with every credential in it replaced by its Redacted
// form, and of anything else (a private key, a token, an opaque value) the
// facts the checks need, never the value. pkg/bundle writes them; pkg/mesh
// reads a value's facts where the value is withheld, so that the checks
// judge a bundle as they judged the live read.
type SecretFacts struct {
	Form SecretForm `json:"form"`
	// Public is the value itself for FormCertificates and FormEmpty, and
	// the redacted kubeconfig for FormKubeconfig.
	Public string `json:"public,omitempty"`
	// PublicKey is the PEM PUBLIC KEY of a private key's public half
	// (FormPrivateKey): whether the key matches a certificate, and its
	// algorithm, are known from it.
	PublicKey string `json:"publicKey,omitempty"`
	// KeyError and CertError say why the withheld value does not parse as
	// a private key, or as PEM certificates (errors of pkg/pki, which never
	// quote their input), for a value read as either by a check.
	KeyError  string `json:"keyError,omitempty"`
	CertError string `json:"certError,omitempty"`
	// IssuedLeaf is, for the signing key of a cluster's Istio CA, a
	// workload certificate that key issued when the bundle was written
	// (PEM), as the trust checks issue one to verify under the peers'
	// roots. Its own private key was discarded at once: it is a
	// certificate like any a workload presents, and proves nothing to
	// whoever holds it.
	IssuedLeaf string `json:"issuedLeaf,omitempty"`
}

// SecretForm is how a bundle holds a Secret's value.
type SecretForm string

const (
	// FormCertificates: PEM CERTIFICATE blocks only, kept as they are.
	FormCertificates SecretForm = "certificates"
	// FormEmpty: an empty value, kept.
	FormEmpty SecretForm = "empty"
	// FormKubeconfig: a kubeconfig, credentials redacted.
	FormKubeconfig SecretForm = "kubeconfig"
	// FormPrivateKey: a private key, only its public half kept.
	FormPrivateKey SecretForm = "private-key"
	// FormWithheld: anything else; only its length and fingerprint (Data)
	// and why it does not parse as a key or certificates are kept.
	FormWithheld SecretForm = "withheld"
)

// Kept reports whether the bundle holds the value (or its redacted
// kubeconfig), which a reader restores into Data.
func (f SecretFacts) Kept() bool {
	return f.Form == FormCertificates || f.Form == FormEmpty || f.Form == FormKubeconfig
}

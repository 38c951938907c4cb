package cmd

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// Files `ca init` writes, named as Istio's tools/certs name them so that
// the istioctl and Istio docs instructions read the same.
const (
	RootCertFile = "root-cert.pem"
	RootKeyFile  = "root-key.pem"
)

// NewCACmd builds the `kubectl meshfed ca` group.
func NewCACmd(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	c := &cobra.Command{
		Use:   "ca",
		Short: "Make the mesh's certificate authority",
		Example: `  # An offline root for a new mesh, then one intermediate per cluster from it
  kubectl meshfed ca init --out-dir ./mesh-ca
  kubectl meshfed fix --root-cert ./mesh-ca/root-cert.pem --root-key ./mesh-ca/root-key.pem

  # An intermediate for the current context's istiod, issued by an AWS Private CA
  kubectl meshfed ca issue --ca aws-pca --pca-arn ARN --out-dir ./east-cacerts`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(NewCAInitCmd(streams), NewCAIssueCmd(flags, streams, backend))
	return c
}

// CAInitOptions are the flags of `kubectl meshfed ca init`.
type CAInitOptions struct {
	Streams      genericiooptions.IOStreams
	OutDir       string
	CommonName   string
	Organization string
	ValidDays    int
	KeyAlgorithm string
	Output       string
	// Now is when the root starts (tests set it).
	Now time.Time
}

// CAInitResult is what `ca init -o json` writes: where the files are and the
// root's public facts, never the key.
type CAInitResult struct {
	CertFile    string    `json:"certFile"`
	KeyFile     string    `json:"keyFile"`
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"sha256Fingerprint"`
	Key         string    `json:"keyAlgorithm"`
	NotBefore   time.Time `json:"notBefore"`
	NotAfter    time.Time `json:"notAfter"`
}

// NewCAInitCmd builds `kubectl meshfed ca init`.
func NewCAInitCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := &CAInitOptions{Streams: streams}
	c := &cobra.Command{
		Use:   "init --out-dir DIR",
		Short: "Create an offline root CA for the mesh (root-cert.pem, root-key.pem)",
		Long: `ca init creates a self-signed root for a mesh that has none: DIR/root-cert.pem
(mode 0644) and DIR/root-key.pem (mode 0600). It never overwrites a file.

Keep the key offline: fix --root-cert DIR/root-cert.pem --root-key DIR/root-key.pem
issues one intermediate per cluster from it, and the key is needed again only to
issue or replace an intermediate. The default key is ECDSA P-384 with a 10-year
life (Istio reads ECDSA and RSA CA keys).`,
		Example: `  # A root with the defaults (ECDSA P-384, 10 years) in ./mesh-ca
  kubectl meshfed ca init --out-dir ./mesh-ca

  # Your organization's name in the subject, 5 years, and the paths as JSON
  kubectl meshfed ca init --out-dir ./mesh-ca --subject-org "Example Corp" --days 1825 -o json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	f := c.Flags()
	f.StringVar(&o.OutDir, "out-dir", "", "Directory to write root-cert.pem and root-key.pem to (created with mode 0700 if missing)")
	f.StringVar(&o.CommonName, "subject-cn", pki.DefaultRootCommonName, "Subject common name (CN) of the root")
	f.StringVar(&o.Organization, "subject-org", pki.DefaultOrganization, "Subject organization (O) of the root")
	f.IntVar(&o.ValidDays, "days", int(pki.DefaultRootValidity/(24*time.Hour)), "Days the root is valid")
	algs := make([]string, len(pki.KeyAlgorithms))
	for i, a := range pki.KeyAlgorithms {
		algs[i] = string(a)
	}
	f.StringVar(&o.KeyAlgorithm, "key-algorithm", string(pki.DefaultRootAlgorithm), "Key algorithm: "+strings.Join(algs, "|"))
	addOutputFlag(c, &o.Output, outputText, outputJSON)
	return c
}

// Complete trims the flags and fixes the time.
func (o *CAInitOptions) Complete() error {
	o.OutDir = strings.TrimSpace(o.OutDir)
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return nil
}

// Validate checks the flags and that no file would be overwritten.
func (o *CAInitOptions) Validate() error {
	if err := validateOutput(o.Output, outputText, outputJSON); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if o.OutDir == "" {
		return failed("--out-dir is required: the directory to write %s and %s to", RootCertFile, RootKeyFile)
	}
	if o.ValidDays < 1 {
		return failed("--days must be at least 1, not %d", o.ValidDays)
	}
	if strings.TrimSpace(o.CommonName) == "" && strings.TrimSpace(o.Organization) == "" {
		return failed("--subject-cn and --subject-org cannot both be empty")
	}
	for _, name := range []string{RootCertFile, RootKeyFile} {
		p := filepath.Join(o.OutDir, name)
		if _, err := os.Lstat(p); err == nil {
			return failed("%s exists; ca init never overwrites a root (move it away, or pass it to fix --root-cert/--root-key)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return failed("checking %s: %v", p, err)
		}
	}
	return nil
}

// Run makes the key and the root, writes them and describes the root.
func (o *CAInitOptions) Run() error {
	key, err := pki.GenerateKey(pki.KeyAlgorithm(o.KeyAlgorithm))
	if err != nil {
		return failed("%v", err)
	}
	subject := pkix.Name{CommonName: o.CommonName}
	if o.Organization != "" {
		subject.Organization = []string{o.Organization}
	}
	root, err := pki.NewRoot(key, pki.RootOptions{Subject: subject, NotBefore: o.Now, Validity: time.Duration(o.ValidDays) * 24 * time.Hour})
	if err != nil {
		return failed("%v", err)
	}
	keyPEM, err := key.PrivateKeyPEM()
	if err != nil {
		return failed("%v", err)
	}
	if err := os.MkdirAll(o.OutDir, 0o700); err != nil {
		return failed("creating %s: %v", o.OutDir, err)
	}
	certPath, keyPath := filepath.Join(o.OutDir, RootCertFile), filepath.Join(o.OutDir, RootKeyFile)
	// The key first: if it cannot be written, no certificate without a key
	// is left behind; if the certificate then fails, the key is removed.
	if err := writeNewFile(keyPath, keyPEM, 0o600); err != nil {
		return failed("%v", err)
	}
	if err := writeNewFile(certPath, pki.EncodeCertificates(root), 0o644); err != nil {
		_ = os.Remove(keyPath)
		return failed("%v", err)
	}
	res := CAInitResult{CertFile: certPath, KeyFile: keyPath, Subject: root.Subject.String(), Fingerprint: fullFingerprint(root),
		Key: pki.DescribePublicKey(root.PublicKey), NotBefore: root.NotBefore.UTC(), NotAfter: root.NotAfter.UTC()}
	if o.Output == outputJSON {
		err = render.JSON(o.Streams.Out, res)
	} else {
		_, err = fmt.Fprintf(o.Streams.Out, `Created root CA %q
  SHA-256 fingerprint  %s
  as doctor shows it   %s
  key                  %s
  valid                %s to %s
  certificate          %s (0644)
  private key          %s (0600; keep it offline)

Next: kubectl meshfed fix --root-cert %s --root-key %s
`, res.Subject, res.Fingerprint, pki.Fingerprint(root.Raw), res.Key, res.NotBefore.Format(time.RFC3339), res.NotAfter.Format(time.RFC3339),
			certPath, keyPath, certPath, keyPath)
	}
	if err != nil {
		return failed("writing the result: %v", err)
	}
	return nil
}

// writeNewFile creates path (never replacing one) with exactly mode perm,
// whatever the umask.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("creating %s: %v", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("setting the mode of %s: %v", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("writing %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("writing %s: %v", path, err)
	}
	return nil
}

// fullFingerprint is the whole SHA-256 fingerprint as openssl prints it,
// for comparing with `openssl x509 -fingerprint -sha256`.
func fullFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

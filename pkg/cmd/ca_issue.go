package cmd

import (
	"context"
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
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// CAIssueOptions are the flags of `kubectl meshfed ca issue`.
type CAIssueOptions struct {
	Flags   *kube.Flags
	Streams genericiooptions.IOStreams
	Backend Backend

	PCAFlags
	AWSProfile     string
	OutDir         string
	ClusterID      string
	IstioNamespace string
	ValidDays      int
	Timeout        time.Duration
	Output         string
}

// CAIssueResult is what `ca issue -o json` writes: the files and the
// certificates' public facts, never the key.
type CAIssueResult struct {
	Context     string            `json:"context,omitempty"`
	ClusterID   string            `json:"clusterID"`
	Files       map[string]string `json:"files"`
	Subject     string            `json:"subject"`
	Fingerprint string            `json:"sha256Fingerprint"`
	NotAfter    time.Time         `json:"notAfter"`
	Root        string            `json:"root"`
	Issuer      string            `json:"issuer"`
}

// The cacerts files, as Istio names them.
var cacertsFiles = []string{mesh.KeyCAKey, mesh.KeyCACert, mesh.KeyCertChain, mesh.KeyRootCert}

// NewCAIssueCmd builds `kubectl meshfed ca issue`.
func NewCAIssueCmd(flags *kube.Flags, streams genericiooptions.IOStreams, backend Backend) *cobra.Command {
	o := &CAIssueOptions{Flags: flags, Streams: streams, Backend: backend, PCAFlags: PCAFlags{CA: caSourceAWSPCA}}
	c := &cobra.Command{
		Use:   "issue --ca aws-pca --pca-arn ARN --out-dir DIR",
		Short: "Issue one cluster's intermediate CA from AWS Private CA into cacerts files",
		Long: `ca issue makes a key and a certificate request on this machine, has the AWS Private CA
sign it with a subordinate-CA template (SubordinateCACertificate_PathLen0/V1: the
intermediate signs workloads only; --pca-template takes no other kind), checks what
came back (for the key made here, a CA at the template's path length that the CA's
chain allows, valid as asked, chaining to the CA's root, able to sign a workload
certificate: anything else is refused with the reason and nothing is written),
and writes Istio's cacerts files into DIR:
ca-cert.pem, cert-chain.pem and root-cert.pem (mode 0644) and ca-key.pem (mode 0600).
The key never leaves this machine; no file is ever overwritten.

The cluster's ID (the intermediate's subject) is read from the context (--context,
or the current one), or given with --cluster-id. AWS credentials come from the
standard chain (--aws-profile picks a profile); the region from the CA's ARN.
A CA that is not ACTIVE is refused.

Install the files (replacing the cluster's cacerts, if it has one) with
  kubectl -n istio-system delete secret cacerts --ignore-not-found
  kubectl -n istio-system create secret generic cacerts --from-file=DIR
and restart istiod, which reads cacerts only when it starts (or let kubectl meshfed fix --ca aws-pca do all of this).`,
		Example: `  kubectl meshfed ca issue --ca aws-pca --pca-arn arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/ID \
    --context east --out-dir east-cacerts`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	f := c.Flags()
	o.PCAFlags.AddFlags(f, "Where the intermediate comes from: aws-pca (the only source of ca issue)", true)
	f.StringVar(&o.AWSProfile, "aws-profile", "", "AWS shared-config profile to use (default: the standard chain: environment, AWS_PROFILE, default profile, SSO, web identity)")
	f.StringVar(&o.OutDir, "out-dir", "", "Directory to write the cacerts files to (created with mode 0700 if missing)")
	f.StringVar(&o.ClusterID, "cluster-id", "", "The cluster's ID for the intermediate's subject (default: read from the context)")
	f.StringVar(&o.IstioNamespace, "istio-namespace", "istio-system", "Namespace of Istio's control plane (istiod's name goes into the intermediate; also -n, --namespace)")
	f.IntVar(&o.ValidDays, "days", int(pki.DefaultIntermediateValidity/(24*time.Hour)), "Days the intermediate is valid (at most until the CA's own end)")
	f.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "How long to wait for the cluster and for AWS to issue")
	addOutputFlag(c, &o.Output, outputText, outputJSON)
	return c
}

// Validate checks the flags and that no file would be overwritten.
func (o *CAIssueOptions) Validate() error {
	o.OutDir = strings.TrimSpace(o.OutDir)
	o.Output = strings.ToLower(strings.TrimSpace(o.Output))
	ns, err := istioNamespace(o.IstioNamespace, o.Flags)
	if err != nil {
		return err
	}
	o.IstioNamespace = ns
	if err := validateOutput(o.Output, outputText, outputJSON); err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if err := o.PCAFlags.Validate(); err != nil {
		return failed("%v", err)
	}
	if !o.Issuing() {
		return failed("ca issue needs --ca %s --pca-arn ARN", caSourceAWSPCA)
	}
	if o.OutDir == "" {
		return failed("--out-dir is required: the directory to write %s to", strings.Join(cacertsFiles, ", "))
	}
	if o.ValidDays < 1 {
		return failed("--days must be at least 1, not %d", o.ValidDays)
	}
	for _, name := range cacertsFiles {
		p := filepath.Join(o.OutDir, name)
		if _, err := os.Lstat(p); err == nil {
			return failed("%s exists; ca issue never overwrites a CA file (choose another --out-dir)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return failed("checking %s: %v", p, err)
		}
	}
	return nil
}

// clusterID is --cluster-id, or the ID the context's cluster says it has.
func (o *CAIssueOptions) clusterID(ctx context.Context) (string, string, error) {
	context := o.Flags.Context()
	if o.ClusterID != "" {
		return o.ClusterID, context, nil
	}
	if context == "" && o.Flags != nil {
		raw, err := o.Flags.RawConfig()
		if err != nil {
			return "", "", fmt.Errorf("reading the kubeconfig: %v (or give --cluster-id)", err)
		}
		context = raw.CurrentContext
	}
	if context == "" {
		return "", "", errors.New("no context to read the cluster ID from: give --context or --cluster-id")
	}
	f := o.Backend.Diagnosis.Collect(ctx, Target{Flags: o.Flags, Contexts: []string{context}, Timeout: o.Timeout, IstioNamespace: o.IstioNamespace, NoProbes: true}, []string{context})
	c := f.Cluster(context)
	if c == nil || !c.Reachable {
		return "", context, fmt.Errorf("cannot read context %s to learn its cluster ID (give --cluster-id)", context)
	}
	id := string(mesh.Identify(c).ClusterID)
	if id == "" {
		return "", context, fmt.Errorf("context %s's istiod does not say its cluster ID (give --cluster-id)", context)
	}
	return id, context, nil
}

// Run issues the intermediate and writes the files.
func (o *CAIssueOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	id, kctx, err := o.clusterID(ctx)
	if err != nil {
		return failed("%v", err)
	}
	issuer, err := newPCAIssuer(ctx, o.AWSProfile, o.PCAFlags)
	if err != nil {
		return failed("%v", err)
	}
	org := pki.DefaultOrganization
	if r := issuer.Root(); len(r.Subject.Organization) > 0 {
		org = r.Subject.Organization[0]
	}
	// NewIntermediate refuses a certificate that cannot serve as istiod's
	// CA (pki.CheckIssued), the same check fix makes: nothing is written
	// unless it passed.
	out, key, err := pki.NewIntermediate(ctx, issuer, pki.IntermediateSpec{
		Subject: pki.IntermediateSubject(org, id), DNSNames: []string{pki.IntermediateDNSName(o.IstioNamespace)},
		NotBefore: time.Now(), Validity: time.Duration(o.ValidDays) * 24 * time.Hour, Root: issuer.Root(),
	})
	if err != nil {
		return failed("%v; nothing was written", err)
	}
	keyPEM, err := key.PrivateKeyPEM()
	if err != nil {
		return failed("%v", err)
	}
	if err := os.MkdirAll(o.OutDir, 0o700); err != nil {
		return failed("creating %s: %v", o.OutDir, err)
	}
	files := map[string][]byte{
		mesh.KeyCAKey:     keyPEM,
		mesh.KeyCACert:    pki.EncodeCertificates(out.Cert),
		mesh.KeyCertChain: pki.EncodeCertificates(out.CertChain()...),
		mesh.KeyRootCert:  pki.EncodeCertificates(out.Root),
	}
	res := CAIssueResult{Context: kctx, ClusterID: id, Files: map[string]string{}, Subject: out.Cert.Subject.String(),
		Fingerprint: fullFingerprint(out.Cert), NotAfter: out.Cert.NotAfter.UTC(), Root: pki.Describe(out.Root), Issuer: issuer.Describe()}
	var written []string
	for _, name := range cacertsFiles { // the key first: no certificate without its key is left behind
		perm := os.FileMode(0o644)
		if name == mesh.KeyCAKey {
			perm = 0o600
		}
		p := filepath.Join(o.OutDir, name)
		if err := writeNewFile(p, files[name], perm); err != nil {
			for _, w := range written {
				_ = os.Remove(w)
			}
			return failed("%v", err)
		}
		written = append(written, p)
		res.Files[name] = p
	}
	if o.Output == outputJSON {
		err = render.JSON(o.Streams.Out, res)
	} else {
		_, err = fmt.Fprintf(o.Streams.Out, `Issued intermediate %q for cluster %s
  from                 %s
  SHA-256 fingerprint  %s
  valid until          %s
  root                 %s
  files                %s (ca-key.pem 0600: install it, then keep it nowhere else)

Next: kubectl create secret generic cacerts -n %s --from-file=%s, then restart istiod
`, res.Subject, id, res.Issuer, res.Fingerprint, res.NotAfter.Format(time.RFC3339), res.Root, o.OutDir, o.IstioNamespace, o.OutDir)
	}
	if err != nil {
		return failed("writing the result: %v", err)
	}
	return nil
}

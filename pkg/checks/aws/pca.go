package aws

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// PCAChecks returns the checks of the AWS Private CA named with --pca-arn,
// judged with the trust checks' settings (the time of the run, the expiry
// thresholds, the smallest RSA key).
func PCAChecks(opts trust.Options) []checks.Check {
	d := trust.DefaultOptions()
	if opts.CertWarn <= 0 {
		opts.CertWarn = d.CertWarn
	}
	if opts.CertError <= 0 {
		opts.CertError = d.CertError
	}
	if opts.MinRSABits <= 0 {
		opts.MinRSABits = d.MinRSABits
	}
	with := func(id checks.ID, fn func(*model.Fleet, trust.Options) []checks.Finding) checks.Check {
		return checks.Func{CheckID: id, Fn: func(f *model.Fleet) []checks.Finding { return fn(f, opts) }}
	}
	return []checks.Check{
		with(checks.MF6001, pcaRoots),
		with(checks.MF6002, pcaStatus),
		with(checks.MF6003, pcaExpiry),
		with(checks.MF6004, pcaKeyAlgorithm),
		with(checks.MF6005, pcaIssuers),
	}
}

// pcaContexts are the clusters whose trust hangs on the CA: the primaries,
// or every cluster when none is known as one.
func pcaContexts(f *model.Fleet) []string {
	var out []string
	for _, p := range trust.Peers(f) {
		out = append(out, p.Context)
	}
	if len(out) == 0 {
		for _, c := range f.Clusters {
			out = append(out, c.Context)
		}
	}
	return out
}

// privateCA is the CA to judge, or the finding that stands in for it: none
// when no CA was named, "unknown" when AWS did not describe it.
func privateCA(f *model.Fleet, id checks.ID) (*model.AWSPrivateCA, []checks.Finding) {
	ca := f.AWSPrivateCA
	if ca == nil {
		return nil, nil
	}
	if ca.Error != "" {
		return nil, []checks.Finding{ofMembers[id](pcaContexts(f), unknown(fmt.Sprintf("AWS Private CA %s was not described: %s", ca.ARN, ca.Error), nil))}
	}
	return ca, nil
}

// pcaRoot is the root the CA chains to (its own certificate for a root CA).
func pcaRoot(ca *model.AWSPrivateCA) (*x509.Certificate, string) {
	if ca.CertificateError != "" {
		return nil, ca.CertificateError
	}
	if ca.Certificate == "" {
		return nil, "AWS gave no certificate for the CA (status " + ca.Status + ")"
	}
	certs, err := pki.ParseCertificates([]byte(ca.Certificate + "\n" + ca.Chain))
	if err != nil {
		return nil, "its certificate does not parse: " + err.Error()
	}
	root := certs[len(certs)-1]
	if !pki.SelfSigned(root) {
		return nil, "its chain ends at " + pki.Describe(root) + ", not a self-signed root"
	}
	return root, ""
}

// pcaRoots: every primary must sign under the Private CA's root and
// distribute it, or its workloads and the other clusters' do not trust
// each other through the CA.
func pcaRoots(f *model.Fleet, _ trust.Options) []checks.Finding {
	ca, stand := privateCA(f, checks.MF6001)
	if ca == nil {
		return stand
	}
	root, why := pcaRoot(ca)
	if root == nil {
		return []checks.Finding{checks.NewMF6001(checks.MF6001Subjects{Members: pcaContexts(f)}, unknown(fmt.Sprintf("the root of AWS Private CA %s is not known: %s", ca.ARN, why), nil))}
	}
	want := "AWS Private CA " + ca.ARN + " chains to root " + pki.Describe(root)
	var out []checks.Finding
	for _, p := range trust.Peers(f) {
		c := p.CA
		ref := caSecretRef(c)
		if c.Withheld || (c.Signing == nil && len(c.Roots) == 0) {
			reason := "its CA material was not read"
			if c.Err != nil {
				reason = c.Err.Error()
			}
			out = append(out, checks.NewMF6001(checks.MF6001Subjects{Primary: p.Context}, unknown(fmt.Sprintf("%s: cannot tell whether it signs under AWS Private CA's root: %s", p.Context, reason), ref)))
			continue
		}
		var problems, ev []string
		if !pki.ContainsCert(c.Roots, root) {
			problems = append(problems, fmt.Sprintf("its trust bundle (%s) does not hold the Private CA's root", describeAll(c.Roots)))
		}
		if c.Signing != nil {
			path := pki.BuildPath(c.Signing, append(append([]*x509.Certificate{}, c.Chain...), c.Roots...))
			top := path[len(path)-1]
			switch {
			case !top.Equal(root) && !pki.SignedBy(top, root):
				problems = append(problems, fmt.Sprintf("istiod signs with %s, whose chain ends at %s, not at the Private CA's root", pki.Describe(c.Signing), pki.Describe(top)))
			case c.Source == mesh.CASelfSigned:
				problems = append(problems, "istiod signs with its own self-signed CA")
			}
			ev = append(ev, "signing certificate "+pki.Describe(c.Signing))
		}
		if len(problems) == 0 {
			continue
		}
		out = append(out, checks.NewMF6001(checks.MF6001Subjects{Primary: p.Context}, checks.Details{Object: ref,
			Message:  fmt.Sprintf("%s does not use AWS Private CA %s's root: %s", p.Context, ca.ARN, strings.Join(problems, "; ")),
			Evidence: append(ev, want, "trust bundle: "+describeAll(c.Roots))}))
	}
	return out
}

func caSecretRef(c mesh.CA) *checks.ObjectRef {
	if c.Secret == "" {
		return nil
	}
	ns, name, _ := strings.Cut(c.Secret, "/")
	return &checks.ObjectRef{Kind: "Secret", Namespace: ns, Name: name}
}

func describeAll(cs []*x509.Certificate) string {
	if len(cs) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range cs {
		parts = append(parts, pki.Describe(c))
	}
	return strings.Join(parts, ", ")
}

// pcaStatus: only an ACTIVE CA issues; a DISABLED or EXPIRED one leaves
// every cluster without a way to renew its intermediate.
func pcaStatus(f *model.Fleet, _ trust.Options) []checks.Finding {
	ca, stand := privateCA(f, checks.MF6002)
	if ca == nil || ca.Status == "ACTIVE" {
		return stand
	}
	return []checks.Finding{checks.NewMF6002(checks.MF6002Subjects{Members: pcaContexts(f)}, checks.Details{
		Message:  fmt.Sprintf("AWS Private CA %s is %s, not ACTIVE: it issues no certificate, so no cluster's intermediate can be issued or renewed from it", ca.ARN, ca.Status),
		Evidence: []string{fmt.Sprintf("DescribeCertificateAuthority: status %s, type %s", ca.Status, ca.Type)}})}
}

// pcaExpiry: the CA's certificate bounds every intermediate it issues.
func pcaExpiry(f *model.Fleet, opts trust.Options) []checks.Finding {
	ca, stand := privateCA(f, checks.MF6003)
	if ca == nil {
		return stand
	}
	notAfter := ca.NotAfter
	if notAfter == nil {
		if root, _ := pcaRoot(ca); root != nil {
			certs, _ := pki.ParseCertificates([]byte(ca.Certificate))
			notAfter = &certs[0].NotAfter
		}
	}
	if notAfter == nil {
		return []checks.Finding{checks.NewMF6003(checks.MF6003Subjects{Members: pcaContexts(f)}, unknown(fmt.Sprintf("AWS Private CA %s did not say when it expires (status %s)", ca.ARN, ca.Status), nil))}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	left := notAfter.Sub(now)
	var sev checks.Severity
	var what string
	switch {
	case left <= 0:
		sev, what = checks.SeverityError, "expired on "+notAfter.UTC().Format("2006-01-02")
	case left <= opts.CertError:
		sev, what = checks.SeverityError, fmt.Sprintf("expires in %d days (%s)", int(left.Hours()/24), notAfter.UTC().Format("2006-01-02"))
	case left <= opts.CertWarn:
		sev, what = checks.SeverityWarning, fmt.Sprintf("expires in %d days (%s)", int(left.Hours()/24), notAfter.UTC().Format("2006-01-02"))
	default:
		return nil
	}
	return []checks.Finding{checks.NewMF6003(checks.MF6003Subjects{Members: pcaContexts(f)}, checks.Details{Severity: sev,
		Message:  fmt.Sprintf("AWS Private CA %s %s: intermediates it issues end with it, and istiod stops signing when its intermediate expires", ca.ARN, what),
		Evidence: []string{fmt.Sprintf("DescribeCertificateAuthority: notAfter %s", notAfter.UTC().Format(time.RFC3339))}})}
}

// pcaKeyAlgorithm: Envoy (BoringSSL) and istiod (Go) verify RSA and ECDSA
// chains; Private CA's ML-DSA and SM2 keys sign certificates neither
// verifies, and an RSA key below the trust checks' minimum is weak.
func pcaKeyAlgorithm(f *model.Fleet, opts trust.Options) []checks.Finding {
	ca, stand := privateCA(f, checks.MF6004)
	if ca == nil {
		return stand
	}
	alg := ca.KeyAlgorithm
	var msg string
	switch {
	case alg == "":
		return []checks.Finding{checks.NewMF6004(checks.MF6004Subjects{Members: pcaContexts(f)}, unknown(fmt.Sprintf("AWS Private CA %s did not say its key algorithm", ca.ARN), nil))}
	case strings.HasPrefix(alg, "ML_DSA_") || alg == "SM2":
		msg = fmt.Sprintf("AWS Private CA %s has a %s key: Envoy and istiod verify only RSA and ECDSA certificate chains, so workloads reject every certificate under it", ca.ARN, alg)
	case strings.HasPrefix(alg, "RSA_"):
		var bits int
		if _, err := fmt.Sscanf(alg, "RSA_%d", &bits); err == nil && bits < opts.MinRSABits {
			msg = fmt.Sprintf("AWS Private CA %s has a %d-bit RSA key, below the %d bits required", ca.ARN, bits, opts.MinRSABits)
		}
	}
	if msg == "" {
		return nil
	}
	return []checks.Finding{checks.NewMF6004(checks.MF6004Subjects{Members: pcaContexts(f)}, checks.Details{Message: msg,
		Evidence: []string{fmt.Sprintf("DescribeCertificateAuthority: keyAlgorithm %s, signingAlgorithm %s", alg, ca.SigningAlgorithm)}})}
}

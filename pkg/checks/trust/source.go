package trust

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// selfSigned reports primaries whose istiod signs with the root it made
// itself: istio-ca-secret, or cacerts marked istio-generated
// (USE_CACERTS_FOR_SELF_SIGNED_CA). With another primary in the fleet no
// common root is possible; alone, it is only a warning sign for later.
func selfSigned(f *model.Fleet, _ Options) []checks.Finding {
	peers := Peers(f)
	var out []checks.Finding
	for _, p := range peers {
		if p.CA.Source != mesh.CASelfSigned {
			continue
		}
		how := "istiod made its own root in " + p.CA.Secret + " because no cacerts secret was plugged in"
		if strings.HasSuffix(p.CA.Secret, "/"+mesh.CACertsSecret) {
			how = "istiod wrote its own root into " + p.CA.Secret + " (key " + mesh.KeyIstioGenerated + ", USE_CACERTS_FOR_SELF_SIGNED_CA)"
		}
		fd := checks.NewMF2002(checks.MF2002Subjects{Primary: p.Context}, checks.Details{Object: secretRef(p.CA), Evidence: []string{describeCA(p)}})
		if len(peers) > 1 {
			var others []string
			for _, o := range peers {
				if o.Context != p.Context {
					others = append(others, o.Context)
				}
			}
			fd.Message = fmt.Sprintf("%s: %s; its key exists only in this cluster, so no other primary (%s) can sign under the same root and a multi-primary mesh is impossible until every primary gets a cacerts intermediate from one shared root",
				p.Context, how, strings.Join(others, ", "))
		} else {
			fd.Severity = checks.SeverityInfo
			fd.Message = fmt.Sprintf("%s: %s; this works for %s and its remote clusters, but no other primary can ever join this mesh under this root", p.Context, how, p.Context)
		}
		if p.CA.Signing != nil {
			fd.Evidence = append(fd.Evidence, "self-signed root "+pki.Describe(p.CA.Signing))
		}
		out = append(out, fd)
	}
	return out
}

// externalCA describes primaries whose istiod does not sign workload
// certificates itself (istio-csr, cert-manager, a custom CA address). The
// matrix can only judge them from what their workloads trust.
func externalCA(f *model.Fleet, _ Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range Peers(f) {
		if p.CA.Source != mesh.CAExternal {
			continue
		}
		ev := append([]string{}, p.CA.External...)
		for _, b := range p.Bundles {
			ev = append(ev, fmt.Sprintf("workloads trust %s: %s", b.Source, describeAll(b.Roots)))
		}
		out = append(out, checks.NewMF2003(checks.MF2003Subjects{Primary: p.Context}, checks.Details{
			Message:  fmt.Sprintf("%s: istiod does not sign workload certificates; an external CA does (%s). Every cluster using it must pin the same root rather than discover it", p.Context, externalKind(p.CA)),
			Evidence: ev}))
	}
	return out
}

// istioCSRRoot: istio-csr without --root-ca-file hands its workloads, as
// their root, whatever CA certificate its issuer returns, found in its own
// cluster. With several primaries that is one shared root only by luck: an
// issuer holding an intermediate hands out the intermediate, and each
// cluster's issuer rotates on its own.
func istioCSRRoot(f *model.Fleet, _ Options) []checks.Finding {
	peers := Peers(f)
	if len(peers) < 2 {
		return nil // one primary: its remotes get the same discovered root
	}
	var out []checks.Finding
	for _, p := range peers {
		if p.CA.Source != mesh.CAExternal {
			continue
		}
		for _, csr := range f.Cluster(p.Context).IstioCSR {
			if csr.RootCAFile != "" {
				continue
			}
			ev := []string{fmt.Sprintf("istio-csr %s/%s runs without --root-ca-file (Helm value app.tls.rootCAFile)", csr.Namespace, csr.Name)}
			if ref, ok := csr.ActiveIssuer(); ok {
				ev = append(ev, "its issuer: "+ref.String())
			}
			for _, b := range p.Bundles {
				ev = append(ev, fmt.Sprintf("workloads trust %s: %s", b.Source, describeAll(b.Roots)))
			}
			out = append(out, checks.NewMF2014(checks.MF2014Subjects{Primary: p.Context}, checks.Details{
				Object:   &checks.ObjectRef{Kind: "Deployment", Namespace: csr.Namespace, Name: csr.Name},
				Message:  fmt.Sprintf("%s: istio-csr %s/%s pins no root: it distributes the CA certificate its issuer returns in this cluster, so the other primaries share it only if their issuers happen to return the same one", p.Context, csr.Namespace, csr.Name),
				Evidence: ev}))
		}
	}
	return out
}

func externalKind(ca mesh.CA) string {
	all := strings.Join(ca.External, " ")
	switch {
	case strings.Contains(all, "ENABLE_CA_SERVER=false") && strings.Contains(all, "istio-csr"):
		return "cert-manager istio-csr"
	case strings.Contains(all, "ENABLE_CA_SERVER=false"):
		return "istiod's CA server is off, as with cert-manager istio-csr"
	case strings.Contains(all, "EXTERNAL_CA"):
		return "the Kubernetes CSR API, istiod acting as registration authority"
	}
	return "a custom CA address"
}

// provenance says where a primary's CA comes from when the evidence is
// clear: cert-manager's annotations on cacerts (with the AWS Private CA
// issuer's group or kinds), or an AWS Private CA OCSP/CRL/AIA address in the
// chain. Subject names are not evidence: anyone can write "Amazon".
func provenance(f *model.Fleet, _ Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range Peers(f) {
		var ev []string
		var from []string
		ann := p.CA.Annotations
		if ref, ok := model.SecretIssuer(ann); ok {
			ev = append(ev, fmt.Sprintf("secret %s was written by cert-manager: %s=%s, %s=%s, %s=%s, %s=%s", p.CA.Secret,
				model.AnnotationCertificate, ann[model.AnnotationCertificate], model.AnnotationIssuerName, ref.Name,
				model.AnnotationIssuerKind, ref.Kind, model.AnnotationIssuerGroup, ref.Group))
			if ref.IsAWSPCA() {
				from = append(from, fmt.Sprintf("AWS Private CA through cert-manager's %s %s", ref.Kind, checks.Quote(ref.Name, "(unnamed)")))
			} else {
				from = append(from, fmt.Sprintf("cert-manager's %s %s", orDefault(ref.Kind, "Issuer"), checks.Quote(ref.Name, "(unnamed)")))
			}
		}
		certs := append(p.CA.SigningChain(), p.CA.Roots...)
		seen := map[string]bool{}
		for _, c := range certs {
			if seen[pki.Fingerprint(c.Raw)] {
				continue
			}
			seen[pki.Fingerprint(c.Raw)] = true
			if u := awsPCAURL(c); u != "" {
				ev = append(ev, fmt.Sprintf("%s names AWS Private CA's address %s", pki.Describe(c), u))
				if len(from) == 0 || !strings.Contains(from[0], "AWS") {
					from = append([]string{"AWS Private CA"}, from...)
				}
			}
		}
		if len(from) == 0 {
			continue
		}
		ev = append(ev, describeCA(p))
		out = append(out, checks.NewMF2013(checks.MF2013Subjects{Primary: p.Context}, checks.Details{Object: secretRef(p.CA),
			Message:  fmt.Sprintf("%s: the signing CA comes from %s", p.Context, strings.Join(dedupe(from), " and ")),
			Evidence: ev}))
	}
	return out
}

// awsPCAURL returns an AWS Private CA address named in the certificate
// (its OCSP responder, CRL or issuing-certificate URL), or "".
func awsPCAURL(c *x509.Certificate) string {
	urls := append(append(append([]string{}, c.OCSPServer...), c.CRLDistributionPoints...), c.IssuingCertificateURL...)
	for _, u := range urls {
		if strings.Contains(u, "acm-pca") && strings.Contains(u, ".amazonaws.com") {
			return u
		}
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out[min(1, len(out)):])
	return out
}

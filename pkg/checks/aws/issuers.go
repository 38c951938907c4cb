package aws

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// issuerUse is one way a primary's mesh certificates come from an AWS
// Private CA through cert-manager: istiod's intermediate (a Certificate
// written into its CA secret), or every workload certificate (istio-csr).
type issuerUse struct {
	context string
	// what names the use for people.
	what string
	// intermediate: a CA certificate (cert-manager's isCA Certificate);
	// otherwise end-entity workload certificates with client and server
	// authentication, which is what istio-csr asks for.
	intermediate bool
	ref          model.IssuerRef
	// namespace is where a namespaced AWSPCAIssuer must be for this use.
	namespace string
	object    *checks.ObjectRef
	// issuer is the object ref names, nil when the cluster has none.
	issuer *model.AWSPCAIssuer
}

// The templates aws-privateca-issuer picks when its issuer forces none
// (buildTemplateArn in cert-manager/aws-privateca-issuer).
const (
	defaultIntermediateTemplate = "SubordinateCACertificate_PathLen0/V1"
	defaultWorkloadTemplate     = "EndEntityCertificate/V1"
)

// template is the Private CA template the use's certificates are issued
// with, and whether the issuer forces it.
func (u issuerUse) template() (name string, forced bool) {
	switch {
	case u.issuer != nil && u.issuer.Template != "":
		return u.issuer.Template, true
	case u.intermediate:
		return defaultIntermediateTemplate, false
	}
	return defaultWorkloadTemplate, false
}

// comesFrom is the use's subject with its verb.
func (u issuerUse) comesFrom() string {
	if u.intermediate {
		return u.what + " comes from"
	}
	return u.what + " come from"
}

func (u issuerUse) describe() string {
	s := fmt.Sprintf("%s: %s %s", u.context, u.comesFrom(), u.ref)
	if u.issuer == nil {
		return s + ", which does not exist"
	}
	t, forced := u.template()
	how := "the template aws-privateca-issuer picks for them"
	if forced {
		how = "forced by spec.pcaTemplate.defaultTemplateName"
	}
	return fmt.Sprintf("%s: CA %s, template %s (%s)", s, u.issuer.ARN, t, how)
}

// issuerUses finds, in every primary, the AWS Private CA issuers its mesh
// certificates come from.
func issuerUses(f *model.Fleet) []issuerUse {
	var out []issuerUse
	for _, p := range trust.Peers(f) {
		c := f.Cluster(p.Context)
		if ref, ok := model.SecretIssuer(p.CA.Annotations); ok && ref.IsAWSPCA() {
			ns, _, _ := strings.Cut(p.CA.Secret, "/")
			out = append(out, issuerUse{context: p.Context, what: "istiod's intermediate in " + p.CA.Secret,
				intermediate: true, ref: ref, namespace: ns, object: caSecretRef(p.CA)})
		}
		if p.CA.Source != mesh.CAExternal {
			continue // istio-csr may be installed, but istiod signs
		}
		for _, csr := range c.IstioCSR {
			ref, ok := csr.ActiveIssuer()
			if !ok || !ref.IsAWSPCA() {
				continue
			}
			out = append(out, issuerUse{context: p.Context, what: fmt.Sprintf("the workload certificates istio-csr %s/%s signs", csr.Namespace, csr.Name),
				ref: ref, namespace: csr.CertificateNamespace,
				object: &checks.ObjectRef{Kind: "Deployment", Namespace: csr.Namespace, Name: csr.Name}})
		}
	}
	for i := range out {
		c := f.Cluster(out[i].context)
		for j, is := range c.AWSPCAIssuers {
			if is.Kind == out[i].ref.Kind && is.Name == out[i].ref.Name && (is.Kind == model.KindNameAWSPCAClusterIssuer || is.Namespace == out[i].namespace) {
				out[i].issuer = &c.AWSPCAIssuers[j]
			}
		}
	}
	return out
}

// pcaIssuers: cert-manager's AWS Private CA issuers must let every primary
// get its certificates, from one CA, with templates that make certificates
// of the right kind.
func pcaIssuers(f *model.Fleet, _ trust.Options) []checks.Finding {
	uses := issuerUses(f)
	var out []checks.Finding
	var good []issuerUse
	for _, u := range uses {
		if fd, ok := issuerProblem(u); ok {
			out = append(out, fd)
			continue
		}
		good = append(good, u)
	}
	if ca := f.AWSPrivateCA; ca != nil {
		for _, u := range good {
			if u.issuer.ARN != ca.ARN {
				out = append(out, checks.NewMF6005(checks.MF6005Subjects{Cluster: u.context}, checks.Details{Object: u.object,
					Message:  fmt.Sprintf("%s: %s AWS Private CA %s, not from %s named with --pca-arn", u.context, u.comesFrom(), u.issuer.ARN, ca.ARN),
					Evidence: []string{u.describe()}}))
			}
		}
	} else if fd, ok := disagreement(good, "AWS Private CAs", func(u issuerUse) string { return u.issuer.ARN },
		"they trust each other only if both CAs chain to one root; the trust checks (MF2001, MF2003) judge the roots themselves"); ok {
		out = append(out, fd)
	}
	for _, intermediate := range []bool{true, false} {
		var same []issuerUse
		for _, u := range good {
			if u.intermediate == intermediate {
				same = append(same, u)
			}
		}
		if fd, ok := disagreement(same, "templates", func(u issuerUse) string { t, _ := u.template(); return t },
			"certificates renewed in one cluster are constrained differently from the other's"); ok {
			out = append(out, fd)
		}
	}
	return out
}

// issuerProblem is what stops one use from getting certificates, or from
// getting certificates of the kind it needs.
func issuerProblem(u issuerUse) (checks.Finding, bool) {
	fd := checks.Details{Object: u.object, Evidence: []string{u.describe()}}
	about := checks.MF6005Subjects{Cluster: u.context}
	is := u.issuer
	if is == nil {
		where := "in " + u.context
		if u.ref.Kind == model.KindNameAWSPCAIssuer {
			where = "in namespace " + u.namespace
		}
		fd.Message = fmt.Sprintf("%s: %s %s, but there is no such issuer %s: cert-manager can neither issue nor renew anything for it", u.context, u.comesFrom(), u.ref, where)
		return checks.NewMF6005(about, fd), true
	}
	parsed, err := arn.Parse(is.ARN)
	switch {
	case err != nil || parsed.Service != "acm-pca" || !strings.HasPrefix(parsed.Resource, "certificate-authority/"):
		fd.Message = fmt.Sprintf("%s: %s %s has spec.arn %q, which is not an AWS Private CA's ARN", u.context, is.Kind, is.Name, is.ARN)
	case is.Region != "" && is.Region != parsed.Region:
		fd.Message = fmt.Sprintf("%s: %s %s calls AWS Private CA in %s (spec.region), but its CA is in %s: every IssueCertificate fails", u.context, is.Kind, is.Name, is.Region, parsed.Region)
	case is.Ready == "False":
		fd.Message = fmt.Sprintf("%s: %s %s is not Ready (%s): cert-manager issues nothing through it, and %s it", u.context, is.Kind, is.Name, cmp.Or(is.ReadyMessage, "no message"), u.comesFrom())
	default:
		why := templateMismatch(u)
		if why == "" {
			return checks.Finding{}, false
		}
		fd.Message = fmt.Sprintf("%s: %s %s forces template %s on every request: %s", u.context, is.Kind, is.Name, is.Template, why)
	}
	return checks.NewMF6005(about, fd), true
}

// templateMismatch says why a forced template does not make the
// certificates the use needs ("" when it does).
func templateMismatch(u issuerUse) string {
	t, forced := u.template()
	if !forced {
		return ""
	}
	subordinate := strings.HasPrefix(t, "SubordinateCACertificate_PathLen") || strings.HasPrefix(t, "BlankSubordinateCACertificate_PathLen")
	switch {
	case u.intermediate && !subordinate:
		return "istiod's intermediate must be a subordinate CA (SubordinateCACertificate_PathLen0/V1), and this template makes a certificate that cannot sign workload certificates"
	case u.intermediate:
		return ""
	case subordinate:
		return "istio-csr asks for workload certificates, and this template makes every one of them a CA"
	case t == "EndEntityClientAuthCertificate/V1" || t == "EndEntityServerAuthCertificate/V1":
		return "workload certificates need both client and server authentication, and this template gives one, so one side of every mTLS handshake rejects them"
	case t == defaultWorkloadTemplate || strings.HasPrefix(t, "BlankEndEntityCertificate_"):
		return ""
	}
	return "workload certificates need an end-entity template with client and server authentication (" + defaultWorkloadTemplate + ")"
}

// disagreement is a warning when the uses' values of one setting differ
// between clusters, naming each cluster's.
func disagreement(uses []issuerUse, what string, value func(issuerUse) string, consequence string) (checks.Finding, bool) {
	byValue := map[string][]string{}
	var ctxs, ev []string
	for _, u := range uses {
		byValue[value(u)] = append(byValue[value(u)], u.context)
		ctxs = append(ctxs, u.context)
		ev = append(ev, u.describe())
	}
	if len(byValue) < 2 {
		return checks.Finding{}, false
	}
	var parts []string
	for v, cs := range byValue {
		parts = append(parts, strings.Join(dedupe(cs), ", ")+": "+v)
	}
	sort.Strings(parts)
	return checks.NewMF6005(checks.MF6005Subjects{Members: dedupe(ctxs)}, checks.Details{Severity: checks.SeverityWarning, Evidence: ev,
		Message: fmt.Sprintf("cert-manager's AWS Private CA issuers name different %s: %s; %s", what, strings.Join(parts, "; "), consequence)}), true
}

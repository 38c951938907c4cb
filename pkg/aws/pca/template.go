package pca

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// The certificate templates AWS Private CA offers that make an intermediate
// istiod can sign with: SubordinateCACertificate_PathLenN/V1 (N from 0 to
// 3, AWS's hierarchies have at most five levels), and their
// _CSRPassthrough, _APIPassthrough and _APICSRPassthrough variants, which
// add what the CSR or the call carries but keep the template's basic
// constraints and key usage (the template wins every conflict). Each makes
// basicConstraints CA:TRUE with pathlen N and keyUsage digitalSignature,
// keyCertSign, cRLSign. Every other template (EndEntityCertificate/V1, the
// default when none is named, and the code-signing, OCSP, root and blank
// ones) makes something istiod cannot sign workload certificates with, or
// leaves the CA's fields to whatever the caller sends.
//
// PathLen0 is the right template under a root or any CA that allows one
// more level: istiod signs workload certificates, never further CAs, and a
// cluster's key lives in a Secret, so it should not be able to mint CAs.
// PathLen1 and up are for a hierarchy that puts further CA levels below the
// cluster's intermediate on purpose; the CA that signs must then allow as
// many levels more (AWS refuses a template whose path length is not below
// its CA's).
var subordinateName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^SubordinateCACertificate_PathLen([0-3])(?:_CSRPassthrough|_APIPassthrough|_APICSRPassthrough)?/V[1-9][0-9]*$`)
})

// templateARNPrefix matches a template ARN in any partition; the name follows.
var templateARNPrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^arn:aws[a-z-]*:acm-pca:::template/`) })

// UsableTemplates says which templates work for Istio and why, for errors.
const UsableTemplates = "templates that make an intermediate istiod can sign with: " +
	"SubordinateCACertificate_PathLen0/V1 (the default and the right one under a root: the intermediate signs workload certificates only), " +
	"SubordinateCACertificate_PathLen1/V1 to _PathLen3/V1 (only when that many further CA levels are wanted below the cluster's intermediate, and the CA allows them), " +
	"each also as its _CSRPassthrough, _APIPassthrough or _APICSRPassthrough variant; " +
	"give the name or its ARN, arn:aws:acm-pca:::template/NAME"

// ParseTemplate reads a --pca-template value, a template's name or its
// full ARN, and returns the name and the path length it gives. Anything
// but a subordinate-CA template is refused with why and UsableTemplates.
func ParseTemplate(s string) (name string, pathLen int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = DefaultTemplate
	}
	name = s
	if strings.HasPrefix(s, "arn:") {
		loc := templateARNPrefix().FindStringIndex(s)
		if loc == nil {
			return "", 0, fmt.Errorf("%q is not the ARN of an AWS Private CA certificate template (arn:aws:acm-pca:::template/NAME); %s", s, UsableTemplates)
		}
		name = s[loc[1]:]
	}
	m := subordinateName().FindStringSubmatch(name)
	if m == nil {
		return "", 0, fmt.Errorf("%q is not a subordinate-CA template: %s; %s", s, notUsableBecause(name), UsableTemplates)
	}
	pathLen, _ = strconv.Atoi(m[1])
	return name, pathLen, nil
}

// notUsableBecause says in a few words what a refused template makes.
func notUsableBecause(name string) string {
	switch {
	case strings.HasPrefix(name, "EndEntity"), strings.HasPrefix(name, "BlankEndEntity"):
		return "AWS would sign an end-entity certificate (CA:FALSE), and istiod cannot sign workload certificates with one"
	case strings.HasPrefix(name, "CodeSigning"), strings.HasPrefix(name, "OCSPSigning"):
		return "AWS would sign a code- or OCSP-signing certificate (CA:FALSE)"
	case strings.HasPrefix(name, "RootCACertificate"):
		return "that template is for a CA's own self-signed root certificate"
	case strings.HasPrefix(name, "BlankSubordinateCACertificate"):
		return "a blank template leaves the key usage to the call, which this plugin does not send"
	case strings.HasPrefix(name, "SubordinateCACertificate"):
		return "AWS offers path lengths 0 to 3, in the forms below"
	}
	return "it is not a template this plugin can issue an intermediate with"
}

// Template is what the issuer asks the CA for: its template's ARN and the
// path length it gives, for pki.CheckIssued.
func (i *Issuer) Template() pki.Template {
	return pki.Template{
		Name:    i.templateARN(),
		PathLen: i.pathLen,
		Remedy: "An intermediate for istiod needs a subordinate-CA template whose path length the CA allows " +
			"(SubordinateCACertificate_PathLen0/V1 under a root); when that was the template asked for, the certificate AWS returned is not what it makes: " +
			"check the CA and whatever sits between this machine and AWS",
	}
}

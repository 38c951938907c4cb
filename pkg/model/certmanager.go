package model

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// cert-manager's parts that decide where a mesh's certificates come from when
// istiod does not sign them from a plugged-in root: istio-csr (which answers
// the proxies' CSRs through a cert-manager issuer) and AWS Private CA's
// cert-manager issuers (aws-privateca-issuer). Both are optional: a cluster
// without them is read as having none.

// IstioCSRSelector finds istio-csr's Deployment: the label its Helm chart
// (cert-manager/istio-csr, deploy/charts/istio-csr) gives every object.
const IstioCSRSelector = "app.kubernetes.io/name=cert-manager-istio-csr"

// AWSPCAGroupVersion is aws-privateca-issuer's API (AWSPCAIssuer,
// AWSPCAClusterIssuer).
var AWSPCAGroupVersion = schema.GroupVersion{Group: "awspca.cert-manager.io", Version: "v1beta1"}

// The kinds of aws-privateca-issuer.
const (
	KindNameAWSPCAClusterIssuer = "AWSPCAClusterIssuer"
	KindNameAWSPCAIssuer        = "AWSPCAIssuer"
)

// IssuerRef names a cert-manager issuer as istio-csr and cert-manager's
// annotations do.
type IssuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Group string `json:"group"`
}

// cert-manager's annotations on the Secrets it writes for a Certificate.
const (
	AnnotationIssuerName  = "cert-manager.io/issuer-name"
	AnnotationIssuerKind  = "cert-manager.io/issuer-kind"
	AnnotationIssuerGroup = "cert-manager.io/issuer-group"
	AnnotationCertificate = "cert-manager.io/certificate-name"
)

// SecretIssuer is the issuer cert-manager's annotations on a Secret name;
// ok is false when cert-manager did not write it.
func SecretIssuer(annotations map[string]string) (ref IssuerRef, ok bool) {
	ref = IssuerRef{Name: annotations[AnnotationIssuerName], Kind: annotations[AnnotationIssuerKind], Group: annotations[AnnotationIssuerGroup]}
	return ref, ref.Name != "" || ref.Kind != ""
}

// IsAWSPCA reports whether the reference names one of aws-privateca-issuer's
// issuers.
func (r IssuerRef) IsAWSPCA() bool {
	return r.Group == AWSPCAGroupVersion.Group || r.Kind == KindNameAWSPCAClusterIssuer || r.Kind == KindNameAWSPCAIssuer
}

func (r IssuerRef) String() string { return r.Kind + " " + r.Name + " (" + r.Group + ")" }

// IstioCSR is one istio-csr install, as its Deployment's flags configure it
// (istio-csr's own defaults where a flag is not given).
type IstioCSR struct {
	Meta
	// Issuer is the issuer of --issuer-name/kind/group; IssuerEnabled is
	// --issuer-enabled (when false, only the runtime ConfigMap names one).
	Issuer        IssuerRef `json:"issuer"`
	IssuerEnabled bool      `json:"issuerEnabled"`
	// CertificateNamespace is where istio-csr makes its CertificateRequests,
	// and so where a namespaced Issuer must live.
	CertificateNamespace string `json:"certificateNamespace"`
	// RootCAFile is --root-ca-file: the pinned root it distributes; empty,
	// it distributes whatever CA its issuer returns.
	RootCAFile  string `json:"rootCAFile,omitempty"`
	TrustDomain string `json:"trustDomain"`
	ClusterID   string `json:"clusterID"`
	// RuntimeConfigMap is --runtime-issuance-config-map-namespace/name:
	// a ConfigMap whose issuer-name/kind/group, when all present, override
	// the flags' issuer at run time.
	RuntimeConfigMap string `json:"runtimeConfigMap,omitempty"`
	// RuntimeIssuer is what that ConfigMap names (nil: none, or the
	// ConfigMap does not exist); RuntimeError says why it was not read.
	RuntimeIssuer *IssuerRef `json:"runtimeIssuer,omitempty"`
	RuntimeError  string     `json:"runtimeError,omitempty"`
}

// ActiveIssuer is the issuer istio-csr signs with: the runtime ConfigMap's,
// else the flags' when enabled; ok is false when it has none.
func (c IstioCSR) ActiveIssuer() (ref IssuerRef, ok bool) {
	switch {
	case c.RuntimeIssuer != nil:
		return *c.RuntimeIssuer, true
	case c.IssuerEnabled:
		return c.Issuer, true
	}
	return IssuerRef{}, false
}

// AWSPCAIssuer is an AWSPCAIssuer or AWSPCAClusterIssuer: the CA it issues
// from, the region it calls, the template it forces, and whether it is Ready.
type AWSPCAIssuer struct {
	Meta
	Kind string `json:"kind"`
	ARN  string `json:"arn"`
	// Region is spec.region; empty, the issuer takes the ARN's.
	Region string `json:"region,omitempty"`
	// Template is spec.pcaTemplate.defaultTemplateName; empty, the
	// issuer picks one per request from its isCA and usages.
	Template string `json:"template,omitempty"`
	// Ready is the Ready condition's status ("True", "False", or ""
	// when there is none) and ReadyMessage its message.
	Ready        string `json:"ready,omitempty"`
	ReadyMessage string `json:"readyMessage,omitempty"`
}

// Ref is the issuer reference that names this issuer.
func (i AWSPCAIssuer) Ref() IssuerRef {
	return IssuerRef{Name: i.Name, Kind: i.Kind, Group: AWSPCAGroupVersion.Group}
}

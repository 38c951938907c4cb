package fleet

import (
	"strings"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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

// The resources of AWSPCAGroupVersion, by kind.
var awsPCAResources = map[string]string{
	KindNameAWSPCAClusterIssuer: "awspcaclusterissuers",
	KindNameAWSPCAIssuer:        "awspcaissuers",
}

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

// The runtime ConfigMap's keys (istio-csr's pkg/certmanager).
const (
	runtimeIssuerName  = "issuer-name"
	runtimeIssuerKind  = "issuer-kind"
	runtimeIssuerGroup = "issuer-group"
)

// runtimeIssuer reads the runtime ConfigMap's issuer; istio-csr ignores a
// ConfigMap that lacks any of the three keys.
func runtimeIssuer(data map[string]string) *IssuerRef {
	r := IssuerRef{Name: data[runtimeIssuerName], Kind: data[runtimeIssuerKind], Group: data[runtimeIssuerGroup]}
	if r.Name == "" || r.Kind == "" || r.Group == "" {
		return nil
	}
	return &r
}

// isIstioCSR tells istio-csr's Deployment by its chart's label.
func isIstioCSR(labels map[string]string) bool {
	k, v, _ := strings.Cut(IstioCSRSelector, "=")
	return labels[k] == v
}

// fromIstioCSR parses the flags of istio-csr's container the way istio-csr
// does (pflag, with its defaults), ignoring the flags that do not matter here.
func fromIstioCSR(o *appsv1.Deployment) IstioCSR {
	out := IstioCSR{Meta: meta(o.ObjectMeta)}
	fs := pflag.NewFlagSet("istio-csr", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	fs.StringVarP(&out.Issuer.Name, "issuer-name", "u", "istio-ca", "")
	fs.StringVarP(&out.Issuer.Kind, "issuer-kind", "k", "Issuer", "")
	fs.StringVarP(&out.Issuer.Group, "issuer-group", "g", "cert-manager.io", "")
	fs.BoolVarP(&out.IssuerEnabled, "issuer-enabled", "e", true, "")
	fs.StringVarP(&out.CertificateNamespace, "certificate-namespace", "c", "istio-system", "")
	fs.StringVar(&out.RootCAFile, "root-ca-file", "", "")
	fs.StringVar(&out.TrustDomain, "trust-domain", "cluster.local", "")
	fs.StringVar(&out.ClusterID, "cluster-id", "Kubernetes", "")
	var cmName, cmNamespace string
	fs.StringVar(&cmName, "runtime-issuance-config-map-name", "", "")
	fs.StringVar(&cmNamespace, "runtime-issuance-config-map-namespace", "", "")
	if cs := o.Spec.Template.Spec.Containers; len(cs) > 0 {
		// The image's entrypoint is the binary; flags may sit in command too.
		args := append(append([]string{}, cs[0].Command...), cs[0].Args...)
		if len(cs[0].Command) > 0 {
			args = args[1:]
		}
		_ = fs.Parse(args) // a malformed flag leaves istio-csr's default, as it would fail to start
	}
	if cmName != "" {
		out.RuntimeConfigMap = cmNamespace + "/" + cmName
	}
	return out
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

func fromAWSPCAIssuer(u *unstructured.Unstructured) AWSPCAIssuer {
	out := AWSPCAIssuer{Meta: Meta{Namespace: u.GetNamespace(), Name: u.GetName(), UID: string(u.GetUID())}, Kind: u.GetKind()}
	out.ARN, _, _ = unstructured.NestedString(u.Object, "spec", "arn")
	out.Region, _, _ = unstructured.NestedString(u.Object, "spec", "region")
	out.Template, _, _ = unstructured.NestedString(u.Object, "spec", "pcaTemplate", "defaultTemplateName")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			out.Ready, _ = m["status"].(string)
			out.ReadyMessage, _ = m["message"].(string)
		}
	}
	return out
}

// resolveRuntimeIssuers fills each istio-csr's RuntimeIssuer from the
// cluster's ConfigMaps: how a fixture names it (the collector GETs the
// ConfigMap itself, since it lies outside what the ConfigMaps read covers).
func (c *Cluster) resolveRuntimeIssuers() {
	for i := range c.IstioCSR {
		ns, name, _ := strings.Cut(c.IstioCSR[i].RuntimeConfigMap, "/")
		for _, cm := range c.ConfigMaps {
			if name != "" && cm.Namespace == ns && cm.Name == name {
				c.IstioCSR[i].RuntimeIssuer = runtimeIssuer(cm.Data)
			}
		}
	}
}

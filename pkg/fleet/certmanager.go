package fleet

import (
	"strings"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The resources of AWSPCAGroupVersion, by kind.
var awsPCAResources = map[string]string{
	model.KindNameAWSPCAClusterIssuer: "awspcaclusterissuers",
	model.KindNameAWSPCAIssuer:        "awspcaissuers",
}

// The runtime ConfigMap's keys (istio-csr's pkg/certmanager).
const (
	runtimeIssuerName  = "issuer-name"
	runtimeIssuerKind  = "issuer-kind"
	runtimeIssuerGroup = "issuer-group"
)

// runtimeIssuer reads the runtime ConfigMap's issuer; istio-csr ignores a
// ConfigMap that lacks any of the three keys.
func runtimeIssuer(data map[string]string) *model.IssuerRef {
	r := model.IssuerRef{Name: data[runtimeIssuerName], Kind: data[runtimeIssuerKind], Group: data[runtimeIssuerGroup]}
	if r.Name == "" || r.Kind == "" || r.Group == "" {
		return nil
	}
	return &r
}

// isIstioCSR tells istio-csr's Deployment by its chart's label.
func isIstioCSR(labels map[string]string) bool {
	k, v, _ := strings.Cut(model.IstioCSRSelector, "=")
	return labels[k] == v
}

// fromIstioCSR parses the flags of istio-csr's container the way istio-csr
// does (pflag, with its defaults), ignoring the flags that do not matter here.
func fromIstioCSR(o *appsv1.Deployment) model.IstioCSR {
	out := model.IstioCSR{Meta: meta(o.ObjectMeta)}
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

func fromAWSPCAIssuer(u *unstructured.Unstructured) model.AWSPCAIssuer {
	out := model.AWSPCAIssuer{Meta: model.Meta{Namespace: u.GetNamespace(), Name: u.GetName(), UID: string(u.GetUID())}, Kind: u.GetKind()}
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
func resolveRuntimeIssuers(c *model.Cluster) {
	for i := range c.IstioCSR {
		ns, name, _ := strings.Cut(c.IstioCSR[i].RuntimeConfigMap, "/")
		for _, cm := range c.ConfigMaps {
			if name != "" && cm.Namespace == ns && cm.Name == name {
				c.IstioCSR[i].RuntimeIssuer = runtimeIssuer(cm.Data)
			}
		}
	}
}

package discovery

import (
	"sort"

	"istio.io/istio/pkg/config/constants"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
)

// The names istioctl create-remote-secret and Istio's chart give the reader
// identity in the remote cluster (istioctl/pkg/multicluster/remote_secret.go,
// manifests/charts/istio-control/istio-discovery/templates/reader-*.yaml).
const (
	// ReaderServiceAccount is the identity istiod reads a remote cluster as
	// (istioctl's --type remote; --type config, the "istiod" account, is for
	// an external istiod's own config cluster, which is not a remote secret).
	ReaderServiceAccount = constants.DefaultServiceAccountName
	readerRolePrefix     = "istio-reader-clusterrole-"
	// tokenSecretSuffix is what istioctl appends to the service account's
	// name for the token secret it creates on Kubernetes 1.24+.
	tokenSecretSuffix = "-istio-remote-secret-token"
)

// readerRoleName is the chart's ClusterRole (and binding) name for the
// default revision in namespace ns.
func readerRoleName(ns string) string { return readerRolePrefix + ns }

// readerLabels are the chart's labels on the reader objects.
var readerLabels = map[string]string{"app": "istio-reader", "app.kubernetes.io/name": "istio-reader"}

// readerRules are Istio's reader ClusterRole rules as its chart writes
// them (generated from istio.io/istio into probe.ReaderPolicy): the same
// list an install holds, so that applying it there changes nothing (the
// rules are one atomic field to server-side apply). A remote cluster's
// install (istiodRemote) appends the writes of the primary's istiod that
// controls it: its istio-ca-root-cert ConfigMaps and webhooks' caBundle.
func readerRules(remote bool) []rbacv1.PolicyRule {
	policy := probe.ReaderPolicy
	if remote {
		policy = append(append([]probe.ReaderRule(nil), policy...), probe.RemoteControlPolicy...)
	}
	out := make([]rbacv1.PolicyRule, len(policy))
	for i, r := range policy {
		out[i] = rbacv1.PolicyRule{
			APIGroups: append([]string(nil), r.APIGroups...),
			Resources: append([]string(nil), r.Resources...),
			Verbs:     append([]string(nil), r.Verbs...),
		}
	}
	return out
}

func readerServiceAccount(ns string) *unstructured.Unstructured {
	return toUnstructured(&corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: ReaderServiceAccount, Namespace: ns, Labels: readerLabels},
	})
}

func readerClusterRole(ns string, remote bool) *unstructured.Unstructured {
	return toUnstructured(&rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: readerRoleName(ns), Labels: readerLabels},
		Rules:      readerRules(remote),
	})
}

func readerBinding(ns string) *unstructured.Unstructured {
	return toUnstructured(&rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: readerRoleName(ns), Labels: readerLabels},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: readerRoleName(ns)},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: ReaderServiceAccount, Namespace: ns}},
	})
}

// tokenSecret is the kubernetes.io/service-account-token Secret istioctl
// creates for the reader; kube-controller-manager's token controller fills
// in its token and ca.crt.
func tokenSecret(ns, name string) *unstructured.Unstructured {
	return toUnstructured(&corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Annotations: map[string]string{corev1.ServiceAccountNameKey: ReaderServiceAccount},
		},
		Type: corev1.SecretTypeServiceAccountToken,
	})
}

// existingTokenSecret returns the name of a service-account token secret of
// the reader that the snapshot of c holds in Istio's namespace ("" if none),
// as istioctl looks for one before creating its own.
func existingTokenSecret(c *model.Cluster) string {
	var names []string
	for _, s := range c.Secrets {
		if s.Namespace == c.IstioNamespace && s.Type == string(corev1.SecretTypeServiceAccountToken) &&
			s.Annotations[corev1.ServiceAccountNameKey] == ReaderServiceAccount {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// remoteSecret is the remote secret without its data (the kubeconfig is
// only known at apply time).
func remoteSecret(ns, name, annotation string) *unstructured.Unstructured {
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels: map[string]string{model.MultiClusterSecretLabel: "true"},
		},
	}
	if annotation != "" {
		s.Annotations = map[string]string{mesh.ClusterAnnotation: annotation}
	}
	return toUnstructured(s)
}

// annotationOnly sets just the cluster annotation of an existing secret.
func annotationOnly(ns, name, annotation string) *unstructured.Unstructured {
	return toUnstructured(&corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Annotations: map[string]string{mesh.ClusterAnnotation: annotation},
		},
	})
}

// toUnstructured converts a typed object to the apply configuration: only
// the fields set, without the empty creationTimestamp the converter adds.
func toUnstructured(o runtime.Object) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		panic(err) // the typed objects above always convert
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	return u
}

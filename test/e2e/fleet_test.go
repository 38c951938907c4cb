package e2e

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// TestCollectOnRealClusters reads real kube-apiservers the way the doctor
// does and checks what a read records: everything for an admin; a 403 on one
// kind for a user who may not read Secrets, with the rest complete; a 401 for
// a rejected token; a 404 for a kind whose CRD is gone. WorkloadEntries
// are read at v1, and at v1beta1 where the CRD serves no v1 (Istio 1.21
// and before).
func TestCollectOnRealClusters(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	ctx := context.Background()
	east, west := l.Contexts()[0], l.Contexts()[1]

	limitedToken := readerWithoutSecrets(t, l.Client(east))
	kubeconfig := extendKubeconfig(t, l.Kubeconfig(), east, map[string]string{
		"limited":  limitedToken,
		"rejected": "not-a-valid-token",
	})

	// west loses the DestinationRule CRD: its kind is no longer served.
	dyn, err := dynamic.NewForConfig(l.RESTConfig(west))
	if err != nil {
		t.Fatal(err)
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if err := crds.Delete(ctx, "destinationrules.networking.istio.io", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deletion finishes once the CRD's objects are gone.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err := crds.Get(ctx, "destinationrules.networking.istio.io", metav1.GetOptions{}); err != nil {
			break
		}
	}

	// A VM in east, as a user registers it; in west, the WorkloadEntry CRD
	// of an older Istio (v1beta1 served, no v1), holding one.
	if err := l.Apply(ctx, east, eastVM); err != nil {
		t.Fatal(err)
	}
	if err := crds.Delete(ctx, "workloadentries.networking.istio.io", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err := crds.Get(ctx, "workloadentries.networking.istio.io", metav1.GetOptions{}); err != nil {
			break
		}
	}
	if err := l.Apply(ctx, west, olderWorkloadEntryCRD); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(ctx, west, westVMv1beta1); err != nil {
		t.Fatal(err)
	}

	flags := kube.ForKubeconfig(kubeconfig)
	f := fleet.Collect(ctx, flags, []string{east, west, "limited", "rejected"}, fleet.Options{Timeout: 10 * time.Second})

	admin := f.Cluster(east)
	if !admin.Reachable || len(admin.Failures) > 0 {
		t.Fatalf("%s: reachable %v, failures %v, error %q", east, admin.Reachable, admin.Failures, admin.Error)
	}
	// An apiserver built from the module proxy has no version stamped in:
	// its version is "v0.0.0-master+…", but it answers.
	if admin.ServerVersion == "" || admin.KubeSystemUID == "" || admin.Server != l.APIServerURL(east) {
		t.Errorf("%s: version %q, kube-system UID %q, server %q", east, admin.ServerVersion, admin.KubeSystemUID, admin.Server)
	}
	has := func(what string, n int) {
		if n == 0 {
			t.Errorf("%s: no %s read", east, what)
		}
	}
	has("namespaces", len(admin.Namespaces))
	has("nodes", len(admin.Nodes))
	has("services", len(admin.Services))
	has("endpoint slices", len(admin.EndpointSlices))
	has("Istio deployments", len(admin.Deployments))
	has("config maps", len(admin.ConfigMaps))
	has("secrets", len(admin.Secrets))
	has("webhooks", len(admin.Webhooks))
	has("Istio Gateways", len(admin.Gateways))
	has("DestinationRules", len(admin.DestinationRules))
	// The root certificate is read in every namespace, once each.
	rootCerts := map[string]int{}
	for _, cm := range admin.ConfigMaps {
		if cm.Name == model.RootCertConfigMap {
			rootCerts[cm.Namespace]++
		}
	}
	if rootCerts["istio-system"] != 1 || rootCerts["sample"] != 1 {
		t.Errorf("%s: istio-ca-root-cert read per namespace %v, want istio-system and sample once each", east, rootCerts)
	}

	wantVM := model.WorkloadEntry{Meta: model.Meta{Namespace: "sample", Name: "vm-1"}, WorkloadLabels: map[string]string{"app": "vm", "security.istio.io/tlsMode": "istio"},
		Address: "10.99.0.5", Network: "network-vm", ServiceAccount: "vm", Locality: "r1/z1", Weight: 3}
	for ctx, c := range map[string]*model.Cluster{east: admin, west: f.Cluster(west)} {
		var got []model.WorkloadEntry
		for _, w := range c.WorkloadEntries {
			w.UID, w.Labels, w.Annotations = "", nil, nil
			got = append(got, w)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], wantVM) {
			t.Errorf("%s: WorkloadEntries read %+v, want %+v", ctx, got, wantVM)
		}
	}
	if w := f.Cluster(west); !w.Reachable || len(w.Failures) != 1 || !strings.Contains(w.Failures[model.KindDestinationRules], "404") {
		t.Errorf("%s without the DestinationRule CRD: reachable %v, failures %v", west, w.Reachable, w.Failures)
	}
	limited := f.Cluster("limited")
	if !limited.Reachable || len(limited.Failures) != 1 || !strings.Contains(limited.Failures[model.KindSecrets], "forbidden (403)") {
		t.Errorf("limited: reachable %v, failures %v; want only secrets forbidden", limited.Reachable, limited.Failures)
	}
	if len(limited.Services) != len(admin.Services) {
		t.Errorf("limited read %d services, the admin %d: a 403 on secrets must not lose the rest", len(limited.Services), len(admin.Services))
	}
	if r := f.Cluster("rejected"); r.Reachable || !strings.Contains(r.Error, "401") {
		t.Errorf("rejected: reachable %v, error %q; want a 401", r.Reachable, r.Error)
	}
	for _, c := range f.Clusters {
		for _, s := range append([]string{c.Error}, values(c.Failures)...) {
			if strings.Contains(s, limitedToken) || strings.Contains(s, "not-a-valid-token") {
				t.Errorf("%s: an error shows a token", c.Context)
			}
		}
	}
}

func values(m map[model.Kind]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// readerWithoutSecrets makes a service account that may read every kind the
// doctor reads except Secrets and cert-manager's, and returns a token for it.
func readerWithoutSecrets(t *testing.T, cs kubernetes.Interface) string {
	return readerToken(t, cs, "meshfed-reader-without-secrets", nil)
}

// readerToken makes a service account that may read the kinds the doctor
// reads, except Secrets and cert-manager's, plus the extra rules, and
// returns a token for it.
func readerToken(t *testing.T, cs kubernetes.Interface, name string, extra []rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: append([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "nodes", "services", "pods", "configmaps"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gateways", "gatewayclasses"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"networking.istio.io"}, Resources: []string{"gateways", "destinationrules", "workloadentries"}, Verbs: []string{"get", "list"}},
	}, extra...)}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: name}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// extendKubeconfig writes a copy of a kubeconfig with one more context per
// token, each reaching the cluster of base as a user with that token.
func extendKubeconfig(t *testing.T, path, base string, tokens map[string]string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range tokens {
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: cfg.Contexts[base].Cluster, AuthInfo: name}
	}
	out := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

const eastVM = `
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: sample}
spec: {address: 10.99.0.5, network: network-vm, serviceAccount: vm, locality: r1/z1, weight: 3, labels: {app: vm, security.istio.io/tlsMode: istio}}
`

const westVMv1beta1 = `
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: sample}
spec: {address: 10.99.0.5, network: network-vm, serviceAccount: vm, locality: r1/z1, weight: 3, labels: {app: vm, security.istio.io/tlsMode: istio}}
`

// olderWorkloadEntryCRD is the WorkloadEntry CRD as Istio 1.21 and before
// served it (v1alpha3 and v1beta1, no v1), its schema left open.
const olderWorkloadEntryCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: workloadentries.networking.istio.io}
spec:
  group: networking.istio.io
  names: {kind: WorkloadEntry, listKind: WorkloadEntryList, plural: workloadentries, singular: workloadentry, shortNames: [we]}
  scope: Namespaced
  versions:
  - name: v1alpha3
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v1beta1
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

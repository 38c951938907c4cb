package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshfed/kubectl-meshfed/internal/awstest"
	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// TestCertManagerIssuersOnLab installs cert-manager's side of an AWS Private
// CA mesh into a live two-primary lab, step by step as a platform team gets
// it wrong and right, and checks what the doctor reads through the real API
// servers each time (MF6005, MF2014, MF0002):
//   - without aws-privateca-issuer installed, nothing is reported, even for
//     a user who may not read its kinds (the API server answers 403 before
//     it knows the kind does not exist; discovery tells the two apart);
//   - once installed, that user's read is reported (MF0002) and MF6005 is
//     unknown for that cluster only;
//   - cacerts from an issuer that does not exist, then from issuers naming
//     two CAs (a warning, or an error against --pca-arn, also while AWS
//     denies describing the CA: MF6001–MF6004 then say which action);
//   - istio-csr in west, its issuer set at run time by a ConfigMap, naming an
//     AWSPCAIssuer that is missing, then one forcing a CA template on
//     workload certificates, with no root pinned (MF2014);
//   - all of it set right: no finding of either check.
func TestCertManagerIssuersOnLab(t *testing.T) {
	s := startAWS(t)
	meshCA := createCA(t, s, "corp mesh root", "EC_secp384r1")
	otherCA := createCA(t, s, "another team's root", "EC_prime256v1")

	l := labtest.Start(t, "multi-primary", 2)
	east, west := l.Contexts()[0], l.Contexts()[1]
	ctx := context.Background()
	limited := readerToken(t, l.Client(east), "meshfed-reader-without-awspca", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}},
	})
	kubeconfig := extendKubeconfig(t, l.Kubeconfig(), east, map[string]string{"limited": limited})
	env := append(s.Env(), "KUBECONFIG="+kubeconfig)
	var outputs []string
	doctor := func(contexts string, extra ...string) doctorJSON {
		t.Helper()
		out, stderr, code := labtest.RunEnv(t, l, env, append([]string{"doctor", "-o", "json", "--no-probes", "--contexts", contexts}, extra...)...)
		outputs = append(outputs, out, stderr)
		var r doctorJSON
		if err := json.Unmarshal([]byte(out), &r); err != nil || code > 3 {
			t.Fatalf("doctor: exit %d, %v\n%s\n%s", code, err, out, stderr)
		}
		return r
	}
	mesh := east + "," + west
	step := func(name string, r doctorJSON, want ...string) {
		t.Helper()
		got := r.of("MF0002", "MF2014", "MF6005")
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got  %q\n want %q\n%s", name, got, want, r.messages("MF0002", "MF2014", "MF6005"))
		}
	}

	step("nothing installed", doctor(mesh))
	step("nothing installed, read by a user who may not read aws-privateca-issuer's kinds", doctor("limited,"+west))

	for _, c := range l.Contexts() {
		applyManifests(t, l, c, readFile(t, filepath.Join("testdata", "awspca-crds.yaml")))
	}
	step("aws-privateca-issuer installed, unused", doctor(mesh))
	r := doctor("limited," + west)
	step("aws-privateca-issuer installed, read by that user", r, "MF0002 warning limited")
	if u := r.unknown("MF6005"); len(u) != 1 || u[0].Context != "limited" || !strings.Contains(u[0].Reason, "403") {
		t.Errorf("MF6005 unknown for %+v, want limited only, with the 403", u)
	}

	// cert-manager wrote both primaries' cacerts from AWSPCAClusterIssuer mesh-ca.
	for _, c := range l.Contexts() {
		patch := `{"metadata":{"annotations":{"cert-manager.io/certificate-name":"istio-ca","cert-manager.io/issuer-name":"mesh-ca",` +
			`"cert-manager.io/issuer-kind":"AWSPCAClusterIssuer","cert-manager.io/issuer-group":"awspca.cert-manager.io"}}}`
		if _, err := l.Client(c).CoreV1().Secrets("istio-system").Patch(ctx, "cacerts", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	step("cacerts from an issuer that does not exist", doctor(mesh),
		"MF6005 error east Secret/istio-system/cacerts", "MF6005 error west Secret/istio-system/cacerts")

	applyManifests(t, l, east, clusterIssuer("mesh-ca", meshCA.ARN, ""))
	applyManifests(t, l, west, clusterIssuer("mesh-ca", otherCA.ARN, ""))
	step("the issuers name two CAs", doctor(mesh), "MF6005 warning east,west")
	step("the issuers name two CAs, one of them --pca-arn", doctor(mesh, "--pca-arn", meshCA.ARN),
		"MF6005 error west Secret/istio-system/cacerts")
	s.Deny(awstest.ServicePCA, "DescribeCertificateAuthority")
	r = doctor(mesh, "--pca-arn", meshCA.ARN)
	step("the same while AWS denies describing the CA", r, "MF6005 error west Secret/istio-system/cacerts")
	for _, id := range []string{"MF6001", "MF6002", "MF6003", "MF6004"} {
		if fs := r.findings(id); len(fs) != 1 || fs[0].Severity != "unknown" || !strings.Contains(fs[0].Message, "DescribeCertificateAuthority") {
			t.Errorf("%s with DescribeCertificateAuthority denied: %+v, want one unknown naming the action", id, fs)
		}
	}
	s.Allow(awstest.ServicePCA, "DescribeCertificateAuthority")
	applyManifests(t, l, west, clusterIssuer("mesh-ca", meshCA.ARN, ""))
	step("both issuers name the mesh's CA", doctor(mesh, "--pca-arn", meshCA.ARN))

	// west moves to istio-csr: istiod's CA server off, istio-csr signing
	// through the issuer its runtime ConfigMap names, no root pinned.
	envPatch := `{"spec":{"template":{"spec":{"containers":[{"name":"discovery","env":[{"name":"ENABLE_CA_SERVER","value":"false"}]}]}}}}`
	if _, err := l.Client(west).AppsV1().Deployments("istio-system").Patch(ctx, "istiod", types.StrategicMergePatchType, []byte(envPatch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	applyManifests(t, l, west, istioCSR("", "istio-csr-issuer")+"---\n"+runtimeIssuerConfigMap("istio-csr-issuer", "regional", "AWSPCAIssuer"))
	step("istio-csr's runtime issuer does not exist", doctor(mesh),
		"MF6005 error west Deployment/cert-manager/cert-manager-istio-csr", "MF2014 warning west Deployment/cert-manager/cert-manager-istio-csr")

	applyManifests(t, l, west, namespacedIssuer("regional", "istio-system", meshCA.ARN, "SubordinateCACertificate_PathLen0/V1"))
	step("istio-csr's issuer forces a CA template on workload certificates", doctor(mesh),
		"MF6005 error west Deployment/cert-manager/cert-manager-istio-csr", "MF2014 warning west Deployment/cert-manager/cert-manager-istio-csr")

	applyManifests(t, l, west, namespacedIssuer("regional", "istio-system", meshCA.ARN, "")+"---\n"+istioCSR("/var/run/secrets/istio-csr/ca.pem", "istio-csr-issuer"))
	step("all set right", doctor(mesh, "--pca-arn", meshCA.ARN))

	for _, o := range outputs {
		if strings.Contains(o, "PRIVATE KEY") || strings.Contains(o, limited) || strings.Contains(o, awstest.TestSecretAccessKey) {
			t.Fatal("a private key, token or AWS secret key was printed")
		}
	}
}

// doctorJSON is the part of doctor's JSON report this test reads.
type doctorJSON struct {
	Findings []finding `json:"findings"`
	Checks   []struct {
		ID      string `json:"id"`
		Unknown []struct {
			Context string `json:"context"`
			Reason  string `json:"reason"`
		} `json:"unknown"`
	} `json:"checks"`
}

func (r doctorJSON) findings(id string) []finding {
	var out []finding
	for _, f := range r.Findings {
		if f.Check == id {
			out = append(out, f)
		}
	}
	return out
}

// of lists the findings of the checks as "ID severity contexts [Kind/ns/name]", sorted.
func (r doctorJSON) of(ids ...string) []string {
	var out []string
	for _, id := range ids {
		for _, f := range r.findings(id) {
			s := fmt.Sprintf("%s %s %s", f.Check, f.Severity, strings.Join(f.Contexts, ","))
			if f.Object != nil {
				s += fmt.Sprintf(" %s/%s/%s", f.Object.Kind, f.Object.Namespace, f.Object.Name)
			}
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func (r doctorJSON) messages(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		for _, f := range r.findings(id) {
			fmt.Fprintf(&b, "  %s: %s\n", f.Check, f.Message)
		}
	}
	return b.String()
}

func (r doctorJSON) unknown(id string) []struct{ Context, Reason string } {
	var out []struct{ Context, Reason string }
	for _, c := range r.Checks {
		if c.ID == id {
			for _, u := range c.Unknown {
				out = append(out, struct{ Context, Reason string }{u.Context, u.Reason})
			}
		}
	}
	return out
}

func clusterIssuer(name, arn, template string) string {
	return pcaIssuer("AWSPCAClusterIssuer", name, "", arn, template)
}

func namespacedIssuer(name, namespace, arn, template string) string {
	return pcaIssuer("AWSPCAIssuer", name, namespace, arn, template)
}

// pcaIssuer is an aws-privateca-issuer issuer as its controller leaves it
// once it has verified the CA: Ready.
func pcaIssuer(kind, name, namespace, arn, template string) string {
	ns, tmpl := "", ""
	if namespace != "" {
		ns = "\n  namespace: " + namespace
	}
	if template != "" {
		tmpl = "\n  pcaTemplate: {defaultTemplateName: " + template + "}"
	}
	return fmt.Sprintf(`apiVersion: awspca.cert-manager.io/v1beta1
kind: %s
metadata:
  name: %s%s
spec:
  arn: %s
  region: eu-west-1%s
status:
  conditions:
  - {type: Ready, status: "True", reason: Verified, message: Issuer verified, lastTransitionTime: "2026-11-26T00:00:00Z"}
`, kind, name, ns, arn, tmpl)
}

// istioCSR is istio-csr's Deployment with the flags its Helm chart writes.
func istioCSR(rootCAFile, runtimeConfigMap string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: cert-manager}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cert-manager-istio-csr
  namespace: cert-manager
  labels: {app.kubernetes.io/name: cert-manager-istio-csr, app.kubernetes.io/instance: cert-manager-istio-csr}
spec:
  replicas: 1
  selector: {matchLabels: {app: cert-manager-istio-csr}}
  template:
    metadata: {labels: {app: cert-manager-istio-csr, app.kubernetes.io/name: cert-manager-istio-csr}}
    spec:
      containers:
      - name: cert-manager-istio-csr
        image: quay.io/jetstack/cert-manager-istio-csr:v0.15.0
        args:
        - --log-level=1
        - --certificate-namespace=istio-system
        - --issuer-enabled=true
        - --issuer-name=istio-ca
        - --issuer-kind=Issuer
        - --issuer-group=cert-manager.io
        - --root-ca-file=%s
        - --serving-certificate-dns-names=cert-manager-istio-csr.cert-manager.svc
        - --trust-domain=cluster.local
        - --cluster-id=west
        - --runtime-issuance-config-map-name=%s
        - --runtime-issuance-config-map-namespace=cert-manager
`, rootCAFile, runtimeConfigMap)
}

func runtimeIssuerConfigMap(name, issuer, kind string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: %s, namespace: cert-manager}
data: {issuer-name: %s, issuer-kind: %s, issuer-group: awspca.cert-manager.io}
`, name, issuer, kind)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// applyManifests applies a YAML stream into one lab cluster as the lab
// installs its own objects (server-side, with status; CRDs waited for).
func applyManifests(t *testing.T, l *lab.Lab, kubeContext, manifests string) {
	t.Helper()
	if err := l.Apply(context.Background(), kubeContext, manifests); err != nil {
		t.Fatalf("%s: %v", kubeContext, err)
	}
}

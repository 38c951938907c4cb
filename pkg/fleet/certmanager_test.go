package fleet

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func istioCSRDeployment(command, args []string) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	d.Name, d.Namespace, d.Labels = "cert-manager-istio-csr", "cert-manager", map[string]string{"app.kubernetes.io/name": "cert-manager-istio-csr"}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "istio-csr", Command: command, Args: args}}
	return d
}

// TestIstioCSRFlags reads istio-csr's flags as istio-csr's pflag set does:
// its defaults, long and short forms, values in the next argument, flags
// in command, and flags it has that the doctor does not care about.
func TestIstioCSRFlags(t *testing.T) {
	defaults := fromIstioCSR(istioCSRDeployment(nil, nil))
	if got, ok := defaults.ActiveIssuer(); !ok || got != (model.IssuerRef{Name: "istio-ca", Kind: "Issuer", Group: "cert-manager.io"}) ||
		defaults.CertificateNamespace != "istio-system" || defaults.RootCAFile != "" || defaults.TrustDomain != "cluster.local" {
		t.Errorf("defaults: %+v", defaults)
	}

	chart := fromIstioCSR(istioCSRDeployment(nil, []string{
		"--log-level=1", "--serving-certificate-dns-names", "cert-manager-istio-csr.cert-manager.svc",
		"--issuer-name=mesh", "-k", "AWSPCAClusterIssuer", "--issuer-group", "awspca.cert-manager.io",
		"--root-ca-file=", "--certificate-namespace=mesh-certs", "--trust-domain=corp.example",
		"--runtime-issuance-config-map-name=istio-issuer", "--runtime-issuance-config-map-namespace=cert-manager",
	}))
	if got, _ := chart.ActiveIssuer(); got != (model.IssuerRef{Name: "mesh", Kind: "AWSPCAClusterIssuer", Group: "awspca.cert-manager.io"}) || !got.IsAWSPCA() {
		t.Errorf("issuer %+v", got)
	}
	if chart.RootCAFile != "" || chart.CertificateNamespace != "mesh-certs" || chart.TrustDomain != "corp.example" || chart.RuntimeConfigMap != "cert-manager/istio-issuer" {
		t.Errorf("chart flags: %+v", chart)
	}

	inCommand := fromIstioCSR(istioCSRDeployment([]string{"/cert-manager-istio-csr", "--issuer-enabled=false", "--root-ca-file=/etc/root/ca.pem"}, nil))
	if _, ok := inCommand.ActiveIssuer(); ok || inCommand.RootCAFile != "/etc/root/ca.pem" {
		t.Errorf("flags in command: %+v", inCommand)
	}
	// The runtime ConfigMap overrides the flags, but only with all three keys.
	inCommand.RuntimeIssuer = runtimeIssuer(map[string]string{"issuer-name": "x", "issuer-kind": "Issuer"})
	if _, ok := inCommand.ActiveIssuer(); ok {
		t.Error("a runtime ConfigMap without issuer-group named an issuer")
	}
	inCommand.RuntimeIssuer = runtimeIssuer(map[string]string{"issuer-name": "x", "issuer-kind": "Issuer", "issuer-group": "cert-manager.io"})
	if got, ok := inCommand.ActiveIssuer(); !ok || got.Name != "x" {
		t.Errorf("runtime issuer: %+v %v", got, ok)
	}
}

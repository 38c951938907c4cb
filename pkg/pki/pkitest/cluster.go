package pkitest

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// Cluster is one cluster of a trust scenario: an istiod (unless Remote), its
// CA secret, the istio-ca-root-cert ConfigMaps and the mesh config.
type Cluster struct {
	Context     string
	ClusterID   string // default: Context
	TrustDomain string // empty: the mesh config does not set one (cluster.local)
	Aliases     []string
	// IstiodEnv adds environment variables to istiod (ENABLE_CA_SERVER, CA_ADDR …).
	IstiodEnv map[string]string
	// CAAddress is the injector's values.global.caAddress (istio-csr setups).
	CAAddress string
	Remote    bool
	Secrets   []Secret
	// RootCerts maps a namespace to the root-cert.pem of its istio-ca-root-cert.
	RootCerts map[string][]byte
}

// Secret is a Secret in Istio's namespace.
type Secret struct {
	Name        string
	Type        string
	Data        map[string][]byte
	Annotations map[string]string
}

// CACerts is the plugged-in `cacerts` secret in Istio's layout: ca-cert.pem,
// ca-key.pem, cert-chain.pem (the CA and its issuers) and root-cert.pem.
func CACerts(ca *CA) Secret {
	return Secret{Name: "cacerts", Data: map[string][]byte{
		"ca-cert.pem": ca.CertPEM(), "ca-key.pem": ca.KeyPEM(),
		"cert-chain.pem": ca.ChainPEM(), "root-cert.pem": ca.Root().CertPEM(),
	}}
}

// TLSCACerts is `cacerts` in the kubernetes.io/tls layout (tls.crt, tls.key,
// ca.crt), as cert-manager writes it.
func TLSCACerts(ca *CA) Secret {
	chain := ca.CertPEM()
	for _, i := range ca.Issuers[:max(len(ca.Issuers)-1, 0)] {
		chain = append(chain, i.CertPEM()...)
	}
	return Secret{Name: "cacerts", Type: "kubernetes.io/tls", Data: map[string][]byte{
		"tls.crt": chain, "tls.key": ca.KeyPEM(), "ca.crt": ca.Root().CertPEM(),
	}}
}

// SelfSigned is istiod's own `istio-ca-secret` for a root it made itself,
// shaped as istiod writes it (security/pkg/pki/ca BuildSecret).
func SelfSigned(root *CA) Secret {
	return Secret{Name: "istio-ca-secret", Type: "istio.io/ca-root", Data: map[string][]byte{
		"ca-cert.pem": root.CertPEM(), "ca-key.pem": root.KeyPEM(),
		"cert-chain.pem": nil, "root-cert.pem": root.CertPEM(),
	}}
}

// Manifests renders the cluster's objects as one YAML stream, with Istio
// in istioNS.
func (c Cluster) Manifests(istioNS string) []byte {
	var b strings.Builder
	doc := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("---\n")
	}
	namespaces := map[string]bool{istioNS: true, "kube-system": true, "default": true}
	for ns := range c.RootCerts {
		namespaces[ns] = true
	}
	for _, ns := range sortedKeys(namespaces) {
		doc("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns)
	}
	id := c.ClusterID
	if id == "" {
		id = c.Context
	}
	if !c.Remote {
		env := map[string]string{"CLUSTER_ID": id}
		for k, v := range c.IstiodEnv {
			env[k] = v
		}
		var envYAML strings.Builder
		for _, k := range sortedKeys(env) {
			fmt.Fprintf(&envYAML, "        - name: %s\n          value: %q\n", k, env[k])
		}
		doc(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: %s
  labels: {app: istiod, istio: pilot}
spec:
  selector:
    matchLabels: {app: istiod}
  template:
    metadata:
      labels: {app: istiod, istio: pilot}
    spec:
      containers:
      - name: discovery
        image: docker.io/istio/pilot:1.28.0
        env:
%s`, istioNS, envYAML.String())
	}
	var mesh strings.Builder
	if c.TrustDomain != "" {
		fmt.Fprintf(&mesh, "    trustDomain: %s\n", c.TrustDomain)
	}
	if len(c.Aliases) > 0 {
		mesh.WriteString("    trustDomainAliases:\n")
		for _, a := range c.Aliases {
			fmt.Fprintf(&mesh, "    - %s\n", a)
		}
	}
	fmt.Fprintf(&mesh, "    defaultConfig:\n      meshId: mesh1\n")
	doc("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: %s\ndata:\n  mesh: |\n%s", istioNS, mesh.String())
	values := fmt.Sprintf(`{"global":{"meshID":"mesh1","multiCluster":{"clusterName":%q}%s}}`, id, caAddress(c.CAAddress))
	doc("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-sidecar-injector\n  namespace: %s\ndata:\n  values: '%s'\n", istioNS, values)
	b.Write(c.TrustManifests(istioNS))
	return []byte(b.String())
}

// TrustManifests renders only the trust objects: the CA secrets and the
// istio-ca-root-cert ConfigMaps (for a live cluster that has its own istiod).
func (c Cluster) TrustManifests(istioNS string) []byte {
	var b strings.Builder
	doc := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("---\n")
	}
	for _, ns := range sortedKeys(c.RootCerts) {
		doc("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-ca-root-cert\n  namespace: %s\ndata:\n  root-cert.pem: |\n%s", ns, indent(string(c.RootCerts[ns]), "    "))
	}
	for _, s := range c.Secrets {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n", s.Name, istioNS)
		if len(s.Annotations) > 0 {
			b.WriteString("  annotations:\n")
			for _, k := range sortedKeys(s.Annotations) {
				fmt.Fprintf(&b, "    %s: %q\n", k, s.Annotations[k])
			}
		}
		if s.Type != "" {
			fmt.Fprintf(&b, "type: %s\n", s.Type)
		}
		b.WriteString("data:\n")
		for _, k := range sortedKeys(s.Data) {
			fmt.Fprintf(&b, "  %s: %q\n", k, base64.StdEncoding.EncodeToString(s.Data[k]))
		}
		b.WriteString("---\n")
	}
	return []byte(b.String())
}

func caAddress(a string) string {
	if a == "" {
		return ""
	}
	return fmt.Sprintf(`,"caAddress":%q`, a)
}

func indent(s, prefix string) string {
	if s == "" {
		return prefix + "\n"
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

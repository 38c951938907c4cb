package lab

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

// OutsideDiscoveryLabel marks a namespace that istiod's meshConfig
// discoverySelectors leave out (the stale-root-configmap fault): istiod does
// not write its istio-ca-root-cert there, so whatever is there stays.
const OutsideDiscoveryLabel = "meshfed-lab/outside-discovery"

// pkiScenario returns the trust scenario named name of pkg/pki/pkitest, made
// once per lab so that every cluster's material comes from the same keys.
func (l *Lab) pkiScenario(name string) (pkitest.Scenario, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pkiScenarios == nil {
		l.pkiScenarios = pkitest.Scenarios()
	}
	s, ok := l.pkiScenarios[name]
	if !ok {
		var names []string
		for n := range l.pkiScenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		return s, fmt.Errorf("no pkitest scenario %q (have: %s)", name, strings.Join(names, ", "))
	}
	return s, nil
}

// pkiCluster returns the cluster of the pki-scenario fault of name: its CA,
// as the lab installs it (the cacerts files istiod reads and the secret),
// and the environment its istiod gets.
func (l *Lab) pkiCluster(name string) (*ca, map[string]string, error) {
	var value string
	for _, f := range l.scenario.faultsFor(name, FaultPKIScenario) {
		value = f.Value
	}
	s, err := l.pkiScenario(value)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range s.Clusters {
		if c.Context != name {
			continue
		}
		for _, sec := range c.Secrets {
			if sec.Name == "cacerts" && sec.Type == "" {
				a, err := caFromFiles(sec.Data)
				if err != nil {
					return nil, nil, fmt.Errorf("pkitest scenario %s, cluster %s: %w", value, name, err)
				}
				return a, c.IstiodEnv, nil
			}
		}
		return nil, nil, fmt.Errorf("pkitest scenario %s: cluster %s has no cacerts in Istio's layout", value, name)
	}
	return nil, nil, fmt.Errorf("pkitest scenario %s has no cluster %s", value, name)
}

// caFromFiles holds a plugged-in CA given as the four files of cacerts, kept
// exactly as they are (broken ones included: that is the point).
func caFromFiles(files map[string][]byte) (*ca, error) {
	for _, k := range []string{"ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"} {
		if len(files[k]) == 0 {
			return nil, fmt.Errorf("no %s", k)
		}
	}
	cb, _ := pem.Decode(files["ca-cert.pem"])
	kb, _ := pem.Decode(files["ca-key.pem"])
	if cb == nil || kb == nil {
		return nil, errors.New("ca-cert.pem or ca-key.pem holds no PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca-cert.pem: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, errors.New("ca-key.pem is not a PKCS #8 key") // never the key's bytes
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("ca-key.pem is not a signing key")
	}
	copied := map[string][]byte{}
	for k, v := range files {
		copied[k] = append([]byte(nil), v...)
	}
	return &ca{cert: cert, key: signer, certPEM: copied["ca-cert.pem"], keyPEM: copied["ca-key.pem"],
		chainPEM: copied["cert-chain.pem"], rootPEM: copied["root-cert.pem"], files: copied}, nil
}

// mayRefuseCA reports whether the cluster's istiod may refuse its CA at
// start (a pki-scenario fault installs material that can be broken on
// purpose): its exit is then an outcome the lab reports, not a failed start.
func (l *Lab) mayRefuseCA(c *cluster) bool { return l.scenario.has(c.name, FaultPKIScenario) }

// IstiodExited says whether the istiod of cluster exited during Start
// because it refused its CA (pki-scenario faults), with the tail of its log;
// nil when it serves.
func (l *Lab) IstiodExited(cluster string) error {
	c, ok := l.clusters[cluster]
	if !ok {
		return fmt.Errorf("no cluster %q", cluster)
	}
	return c.istiodErr
}

// reportIstiodDown writes what the cluster's API shows when istiod cannot
// start: its Pod not ready, waiting in CrashLoopBackOff, its Deployment
// unavailable, as a running cluster would show it.
func (l *Lab) reportIstiodDown(ctx context.Context, c *cluster, why error) error {
	msg := firstLine(why.Error())
	pods, err := c.client.CoreV1().Pods("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		for j := range p.Status.Conditions {
			if t := p.Status.Conditions[j].Type; t == "Ready" || t == "ContainersReady" {
				p.Status.Conditions[j].Status = "False"
				p.Status.Conditions[j].Reason = "ContainersNotReady"
			}
		}
		for j := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[j]
			cs.Ready, cs.RestartCount = false, 5
			cs.State.Running = nil
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 255, Reason: "Error", Message: msg}
		}
		if _, err := c.client.CoreV1().Pods("istio-system").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return setIstiodReady(ctx, c, false)
}

// staleRootObjects are the objects of the stale-root-configmap fault: the
// namespace, left out of istiod's discovery, and its istio-ca-root-cert with
// a root that no CA of the mesh signs under.
func (l *Lab) staleRootObjects(c *cluster) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, f := range l.scenario.faultsFor(c.name, FaultStaleRootConfigMap) {
		root := pkitest.NewRoot("meshfed-lab stale root ("+f.Value+")", pkitest.Opts{})
		ns := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": f.Value, "labels": map[string]any{OutsideDiscoveryLabel: "true", "istio-injection": "enabled"}},
		}}
		cm := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "istio-ca-root-cert", "namespace": f.Value, "labels": map[string]any{"istio.io/config": "true"}},
			"data":     map[string]any{"root-cert.pem": string(root.CertPEM())},
		}}
		l.logf("  %s: namespace %s outside istiod's discovery trusts stale root %s", c.name, f.Value, Fingerprint(root.CertPEM()))
		out = append(out, ns, cm)
	}
	return out, nil
}

// discoverySelectors are the cluster's meshConfig discoverySelectors: the
// stale-root-configmap fault leaves its namespaces out (and
// discovery-label-differs the peer's labelled sample namespace) and selects
// every other namespace, as before; discovery-selectors selects only namespaces
// labelled as its value says.
func (l *Lab) discoverySelectors(c *cluster) []any {
	var out []any
	if l.scenario.has(c.name, FaultStaleRootConfigMap) || l.scenario.has(c.name, FaultDiscoveryLabelDiffers) {
		out = append(out, map[string]any{"matchExpressions": []any{
			map[string]any{"key": OutsideDiscoveryLabel, "operator": "DoesNotExist"},
		}})
	}
	for k, v := range l.discoveryLabels(c) {
		out = append(out, map[string]any{"matchLabels": map[string]any{k: v}})
	}
	return out
}

// discoveryLabels are the labels of the discovery-selectors fault, which
// the lab's namespaces of that cluster carry (nil without the fault).
func (l *Lab) discoveryLabels(c *cluster) map[string]string {
	var out map[string]string
	for _, f := range l.scenario.faultsFor(c.name, FaultDiscoverySelectors) {
		k, v, _ := strings.Cut(f.Value, "=")
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// lastLines returns the last n non-empty lines of s, joined with " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

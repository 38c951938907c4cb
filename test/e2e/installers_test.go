package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

// A mesh installed the way an installer writes it must get a clean bill
// from the doctor: no error, no warning, no unknown. These labs have every
// Istio object rendered from the pinned istio.io/istio module's own charts
// with a guide's values (internal/lab/installer.go), not the lab's own
// templates, so the checks are held to what installers really write.

// istio.io's "Install Multi-Primary on different networks", istioctl tab:
// the IstioOperator with meshID, clusterName and network, the east-west
// gateway from gen-eastwest-gateway.sh, expose-services.yaml, and remote
// secrets from istioctl create-remote-secret applied with kubectl.
func TestInstallIstioctlGuide(t *testing.T) {
	l := labtest.Start(t, "istioctl-guide", 2)
	// On loopback the remote secrets name 127.x servers, which from an
	// istiod pod would be the pod itself (MF4006): clean only with networks.
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	expectChartObjects(ctx, t, l, "istio-system")
	expectCleanDoctor(t, l)

	// A CA changed on the running mesh, cluster by cluster: istiod restarts
	// with it and the east-west gateway presents a certificate from it.
	t.Run("SetCACerts", func(t *testing.T) {
		root := pkitest.NewRoot("meshfed-e2e new root", pkitest.Opts{})
		set := func(cluster string) {
			t.Helper()
			ica := root.Issue(cluster+" new intermediate", pkitest.Opts{})
			if err := l.SetCACerts(ctx, cluster, pkitest.CACerts(ica).Data); err != nil {
				t.Fatal(err)
			}
			if err := gatewayChainsTo(l, cluster, root.Cert); err != nil {
				t.Errorf("%s: the east-west gateway after SetCACerts: %v", cluster, err)
			}
		}
		set("east")
		out, _, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
		if got := keys(parseReport(t, out).Findings); !containsPrefix(got, "MF2001@") {
			t.Errorf("east on a new root, west on the old: findings %v, want MF2001 (different roots)", got)
		}
		if err := gatewayChainsTo(l, "west", root.Cert); err == nil {
			t.Error("west's gateway chains to the new root before west's CA changed")
		}
		set("west")
		expectCleanDoctor(t, l)
	})
}

// The same guide's Helm tab: helm template of base, istiod (--set
// global.meshID, global.multiCluster.clusterName, global.network) and the
// gateway chart as istio-eastwestgateway (--set networkGateway), then
// expose-services.yaml and istioctl create-remote-secret.
func TestInstallHelmGuide(t *testing.T) {
	l := labtest.Start(t, "helm-guide", 2)
	// On loopback the remote secrets name 127.x servers, which from an
	// istiod pod would be the pod itself (MF4006): clean only with networks.
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	expectChartObjects(ctx, t, l, "istio-system")
	expectCleanDoctor(t, l)
}

// aws-samples/istio-on-eks' multi-network pattern: the charts with its
// values, both gateways in istio-ingress, the ingress gateway also
// exposing istiod.
func TestInstallIstioOnEKS(t *testing.T) {
	l := labtest.Start(t, "istio-on-eks", 2)
	// On loopback the remote secrets name 127.x servers, which from an
	// istiod pod would be the pod itself (MF4006): clean only with networks.
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	expectChartObjects(ctx, t, l, "istio-ingress")
	expectCleanDoctor(t, l)

	// The same through a kubeconfig as `aws eks update-kubeconfig` writes
	// it: ARN-named entries, exec users running `aws eks get-token`, no
	// client certificate of its own.
	t.Run("EKS kubeconfig", func(t *testing.T) {
		kc, err := l.EKSKubeconfig()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.LoadFromFile(kc)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range l.Contexts() {
			ctx := cfg.Contexts[name]
			if ctx == nil || !strings.HasPrefix(ctx.Cluster, "arn:aws:eks:") || ctx.Namespace != "" {
				t.Fatalf("context %s: %+v, want an EKS ARN cluster and no namespace", name, ctx)
			}
			if u := cfg.AuthInfos[ctx.AuthInfo]; u == nil || u.Exec == nil || u.Exec.Command != "aws" || len(u.ClientCertificateData) > 0 {
				t.Fatalf("context %s: user %+v, want an exec of aws and nothing else", name, u)
			}
		}
		expectCleanDoctor(t, l, "KUBECONFIG="+kc, "PATH="+l.EKSPath()+string(os.PathListSeparator)+os.Getenv("PATH"))
		asked := map[string]bool{}
		for _, c := range l.EKSTokenRequests() {
			asked[c] = true
		}
		for _, name := range l.Contexts() {
			if !asked[name] {
				t.Errorf("the doctor reached %s without aws eks get-token (asked for %v)", name, l.EKSTokenRequests())
			}
		}
	})
}

// A scenario's faults are patches on top of what the installer rendered:
// on the Helm tab's install, west's east-west gateway left without a
// load-balancer address and east without a remote secret for west give
// their findings, and only those.
func TestInstallerWithFaults(t *testing.T) {
	sc, err := lab.LoadScenario("helm-guide")
	if err != nil {
		t.Fatal(err)
	}
	sc.Faults = []lab.Fault{
		{Type: lab.FaultGatewayPending, Cluster: "west"},
		{Type: lab.FaultMissingRemoteSecret, Cluster: "east", Peer: "west"},
	}
	l := labtest.StartConfig(t, lab.Config{ScenarioSpec: sc, Clusters: 2})
	labtest.RequireIsolation(t, l)
	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
	got := keys(parseReport(t, out).Findings)
	want := []string{"MF3002@west", "MF4001@east,west"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings %v, want %v\nstderr: %s\n%s", got, want, stderr, out)
	}
}

// gatewayChainsTo dials the cluster's east-west gateway on 15443 and
// verifies what it presents against root alone.
func gatewayChainsTo(l *lab.Lab, cluster string, root *x509.Certificate) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp",
		net.JoinHostPort(l.GatewayAddress(cluster), "15443"),
		&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // verified below against root only
	if err != nil {
		return err
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

func containsPrefix(xs []string, prefix string) bool {
	for _, x := range xs {
		if strings.HasPrefix(x, prefix) {
			return true
		}
	}
	return false
}

// expectChartObjects checks that the lab's Istio objects are the charts'
// (istiod selecting {istio: pilot}, the east-west gateway's pods labelled
// with the network and for injection in gatewayNamespace), that each
// primary has a remote secret for every peer in istio-system and nothing
// elsewhere, and that every istiod has synced every peer.
func expectChartObjects(ctx context.Context, t *testing.T, l *lab.Lab, gatewayNamespace string) {
	t.Helper()
	for _, name := range l.Contexts() {
		c := l.Client(name)
		istiod, err := c.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := map[string]string{"istio": "pilot"}; !reflect.DeepEqual(istiod.Spec.Selector.MatchLabels, want) {
			t.Errorf("%s: istiod selects %v, want the chart's %v", name, istiod.Spec.Selector.MatchLabels, want)
		}
		gw, err := c.AppsV1().Deployments(gatewayNamespace).Get(ctx, "istio-eastwestgateway", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := gw.Spec.Template.Labels["topology.istio.io/network"]; got != l.Network(name) {
			t.Errorf("%s: east-west gateway pods on network %q, want %q (gen-eastwest-gateway.sh's label)", name, got, l.Network(name))
		}
		if gw.Spec.Template.Labels["sidecar.istio.io/inject"] != "true" {
			t.Errorf("%s: east-west gateway pods not injection-labelled: %v", name, gw.Spec.Template.Labels)
		}
		// The remote secrets are istioctl's own, in istio-system (the
		// lab's kubeconfig sets no namespace, as real ones do not).
		secrets, err := c.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "istio/multiCluster=true"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range secrets.Items {
			got = append(got, s.Namespace+"/"+s.Name)
		}
		var want []string
		for _, peer := range l.Contexts() {
			if peer != name {
				want = append(want, "istio-system/istio-remote-secret-"+peer)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: remote secrets %v, want %v", name, got, want)
		}
		m, err := l.ClusterzMap(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, peer := range l.Contexts() {
			if m[peer] != lab.Synced {
				t.Errorf("istiod of %s: %s is %q, want synced (%v)", name, peer, m[peer], m)
			}
		}
	}

}

// expectCleanDoctor runs the doctor on every context of the lab (with env
// added to its environment) and wants exit 0 and no error, warning or
// unknown (infos are logged).
func expectCleanDoctor(t *testing.T, l *lab.Lab, env ...string) {
	t.Helper()
	out, stderr, code := labtest.RunEnv(t, l, env, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
	r := parseReport(t, out)
	var bad []string
	for _, f := range r.Findings {
		if f.Severity == "info" {
			t.Logf("info: %s@%s: %s", f.Check, strings.Join(f.Contexts, ","), f.Message)
			continue
		}
		bad = append(bad, f.Severity+" "+f.Check+"@"+strings.Join(f.Contexts, ",")+": "+f.Message)
	}
	if code != 0 || len(bad) != 0 || r.Summary.Errors != 0 || r.Summary.Warnings != 0 {
		t.Errorf("doctor: exit %d, summary %+v, findings:\n%s\nstderr: %s", code, r.Summary, strings.Join(bad, "\n"), stderr)
	}
	if r.Summary.Checks == 0 {
		t.Error("no checks ran")
	}
	for _, c := range r.Clusters {
		if !c.Reachable || c.Role != "primary" || c.ClusterID != c.Context || c.Network != l.Network(c.Context) {
			t.Errorf("cluster %+v: want reachable primary %s on %s", c, c.Context, l.Network(c.Context))
		}
	}
}

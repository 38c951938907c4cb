package lab_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.Cleanup()
	os.Exit(code)
}

func TestScenariosParse(t *testing.T) {
	names := lab.Scenarios()
	if len(names) < 10 {
		t.Fatalf("only %d scenarios: %v", len(names), names)
	}
	for _, n := range names {
		s, err := lab.LoadScenario(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if s.Name != n {
			t.Errorf("file %s.yaml has name %q", n, s.Name)
		}
	}
	if _, err := lab.LoadScenario("nope"); err == nil {
		t.Error("unknown scenario loaded")
	}
}

func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// A healthy multi-primary mesh: every istiod syncs every peer; remote
// secrets look like istioctl's; the gateway stand-ins answer TLS at their
// load-balancer address. Then a path is cut at run time.
func TestHealthyMultiPrimary(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 3)
	c := ctx(t, 4*time.Minute)
	t.Logf("ready in %s, isolated=%v", l.ReadyAfter(), l.Isolated())

	for _, p := range l.Primaries() {
		m, err := l.ClusterzMap(c, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, peer := range l.Contexts() {
			if m[peer] != lab.Synced {
				t.Errorf("istiod of %s: %s is %q, want synced (%v)", p, peer, m[peer], m)
			}
		}
	}

	kc, err := clientcmd.LoadFromFile(l.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range l.Contexts() {
		if kc.Contexts[name] == nil {
			t.Errorf("kubeconfig has no context %s", name)
		}
	}

	east := l.Client("east")
	s, err := east.CoreV1().Secrets("istio-system").Get(c, "istio-remote-secret-west", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Labels["istio/multiCluster"] != "true" || s.Annotations["networking.istio.io/cluster"] != "west" {
		t.Errorf("remote secret labels %v annotations %v", s.Labels, s.Annotations)
	}
	// istioctl create-remote-secret made it and kubectl applied it.
	if len(s.ManagedFields) == 0 || !strings.HasPrefix(s.ManagedFields[0].Manager, "kubectl") {
		t.Errorf("remote secret written by %v, want kubectl (applying istioctl create-remote-secret's)", s.ManagedFields)
	}
	// Istio's objects are istioctl's render (its labels), not the lab's.
	dep, err := east.AppsV1().Deployments("istio-system").Get(c, "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Labels["operator.istio.io/component"] != "Pilot" || dep.Spec.Selector.MatchLabels["istio"] != "pilot" {
		t.Errorf("istiod Deployment labels %v, selector %v: not istioctl's", dep.Labels, dep.Spec.Selector.MatchLabels)
	}
	rc, err := clientcmd.Load(s.Data["west"])
	if err != nil {
		t.Fatalf("remote secret kubeconfig: %v", err)
	}
	for _, cl := range rc.Clusters {
		if cl.Server != l.APIServerURL("west") {
			t.Errorf("remote secret server %s, want %s", cl.Server, l.APIServerURL("west"))
		}
		if l.Isolated() {
			host, _, _ := net.SplitHostPort(cl.Server[len("https://"):])
			if net.ParseIP(host).IsLoopback() {
				t.Errorf("remote secret names a loopback server %s", cl.Server)
			}
		}
	}

	ns, err := east.CoreV1().Namespaces().Get(c, "istio-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels["topology.istio.io/network"] != l.Network("east") {
		t.Errorf("istio-system network label %q", ns.Labels["topology.istio.io/network"])
	}
	svc, err := east.CoreV1().Services("istio-system").Get(c, "istio-eastwestgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) != 1 || svc.Status.LoadBalancer.Ingress[0].IP != l.GatewayAddress("east") {
		t.Fatalf("gateway status %+v, want %s", svc.Status.LoadBalancer, l.GatewayAddress("east"))
	}
	cm, err := east.CoreV1().ConfigMaps("istio-system").Get(c, "istio-ca-root-cert", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cm.Data["root-cert.pem"])) {
		t.Fatal("istio-ca-root-cert has no certificate")
	}
	// west's gateway presents a chain east's root verifies (shared root).
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort(l.GatewayAddress("west"), "15443"),
		&tls.Config{RootCAs: roots, ServerName: "outbound_.5000_._.helloworld.sample.svc.cluster.local", InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
				return err
			}})
	if err != nil {
		t.Fatalf("TLS to west's gateway stand-in: %v", err)
	}
	conn.Close()

	// What istioctl renders for istiod and the east-west gateway applies
	// over the lab's own objects (a Deployment's selector is immutable, so
	// a lab with other selectors could only be replaced, not upgraded).
	applyInstallerRender(t, l, "east")

	// Cut east -> west at run time: east's istiod, made to reconnect, times
	// out, while this machine still reaches west's apiserver.
	if !l.Isolated() {
		t.Logf("skipping the cut: %s", l.IsolationReason())
		return
	}
	if err := l.CutPath("east", "west"); err != nil {
		t.Fatal(err)
	}
	if err := l.ReaddRemoteSecret(c, "east", "west"); err != nil {
		t.Fatal(err)
	}
	m, err := l.WaitClusterz(c, "east", func(m map[string]string) bool { return m["west"] == lab.Timeout })
	if err != nil {
		t.Fatalf("after the cut: %v", err)
	}
	if _, err := l.Client("west").Discovery().ServerVersion(); err != nil {
		t.Errorf("this machine no longer reaches west's apiserver: %v", err)
	}
	if m["central"] != lab.Synced {
		t.Errorf("east's istiod: central %q after cutting west", m["central"])
	}
	if err := l.HealPath("east", "west"); err != nil {
		t.Fatal(err)
	}
	// The restored secret can reach istiod while it still tears west down
	// after its sync timeout; istiod then drops west for good (as
	// test/e2e's discovery tests saw): give the secret again, as a user
	// would, up to three times.
	var last error
	for attempt := 1; attempt <= 3; attempt++ {
		if err := l.ReaddRemoteSecret(c, "east", "west"); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(c, 25*time.Second)
		_, last = l.WaitClusterz(wctx, "east", func(m map[string]string) bool { return m["west"] == lab.Synced })
		cancel()
		if last == nil {
			if attempt > 1 {
				t.Logf("east synced west again after %d restores of its remote secret", attempt)
			}
			return
		}
	}
	t.Fatalf("after healing and 3 restores of the remote secret: %v", last)
}

// Three faults in one lab: a rejected token, a cut path and a missing secret.
func TestDiscoveryFaults(t *testing.T) {
	sc, err := lab.ParseScenario([]byte(`
name: discovery-faults
clusters: 3
multiNetwork: true
faults:
- {type: bad-remote-secret, cluster: east, peer: west}
- {type: cut-path, cluster: central, peer: east}
- {type: missing-remote-secret, cluster: west, peer: central}
`))
	if err != nil {
		t.Fatal(err)
	}
	l := labtest.StartConfig(t, lab.Config{ScenarioSpec: sc, Clusters: 3})
	c := ctx(t, time.Minute)
	want := map[string]map[string]string{
		"east":    {"east": lab.Synced, "west": lab.Timeout, "central": lab.Synced},
		"west":    {"west": lab.Synced, "east": lab.Synced},
		"central": {"central": lab.Synced, "east": lab.Timeout, "west": lab.Synced},
	}
	if !l.Isolated() {
		want["central"]["east"] = lab.Synced // no cut on loopback
	}
	for p, w := range want {
		got, err := l.ClusterzMap(c, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(w) {
			t.Errorf("istiod of %s: clusterz %v, want %v", p, got, w)
		}
		for id, st := range w {
			if got[id] != st {
				t.Errorf("istiod of %s: %s is %q, want %q", p, id, got[id], st)
			}
		}
	}
	// The cut is between networks only: this machine reaches east.
	if _, err := l.Client("east").Discovery().ServerVersion(); err != nil {
		t.Errorf("this machine does not reach east: %v", err)
	}
}

func TestPrimaryRemote(t *testing.T) {
	l := labtest.Shared(t, "primary-remote", 2)
	c := ctx(t, time.Minute)
	if got := l.Primaries(); len(got) != 1 || got[0] != "east" {
		t.Fatalf("primaries %v", got)
	}
	if l.IstiodDebugURL("west") != "" {
		t.Error("remote west has an istiod URL")
	}
	m, err := l.ClusterzMap(c, "east")
	if err != nil {
		t.Fatal(err)
	}
	if m["west"] != lab.Synced || m["east"] != lab.Synced {
		t.Errorf("east's clusterz %v", m)
	}
	wh, err := l.Client("west").AdmissionregistrationV1().MutatingWebhookConfigurations().Get(c, "istio-sidecar-injector", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The guide's istiodRemote.injectionPath: the webhook calls the istiod
	// Service with the remote's injection path.
	for _, h := range wh.Webhooks {
		cc := h.ClientConfig
		if cc.URL != nil || cc.Service == nil || cc.Service.Name != "istiod" || cc.Service.Path == nil || *cc.Service.Path != "/inject/cluster/west/net/network1" {
			t.Errorf("remote webhook %s calls %+v, want Service istiod with path /inject/cluster/west/net/network1", h.Name, cc)
		}
	}
	// west is installed as the primary-remote guide's remote: istio-system
	// names its primary, and the remote profile's istiod Service (no
	// selector) has the primary's gateway as its endpoint.
	ns, err := l.Client("west").CoreV1().Namespaces().Get(c, "istio-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Annotations["topology.istio.io/controlPlaneClusters"]; got != "east" {
		t.Errorf("west's istio-system controlPlaneClusters %q, want east", got)
	}
	svc, err := l.Client("west").CoreV1().Services("istio-system").Get(c, "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Selector) != 0 || svc.Labels["app.kubernetes.io/name"] != "istiod" {
		t.Errorf("west's istiod Service: selector %v, labels %v, want the remote profile's", svc.Spec.Selector, svc.Labels)
	}
	if l.Isolated() {
		slice, err := l.Client("west").DiscoveryV1().EndpointSlices("istio-system").Get(c, "istiod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(slice.Endpoints) != 1 || slice.Endpoints[0].Addresses[0] != l.GatewayAddress("east") {
			t.Errorf("west's istiod endpoints %+v, want east's gateway %s", slice.Endpoints, l.GatewayAddress("east"))
		}
	}
	dep, err := l.Client("east").AppsV1().Deployments("istio-system").Get(c, "istiod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	external := false
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		external = external || (e.Name == "EXTERNAL_ISTIOD" && e.Value == "true")
	}
	if !external {
		t.Error("east's istiod is not installed with externalIstiod, as the primary-remote guide installs it")
	}
	// The primary's gateway forwards 15012 to istiod.
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(l.GatewayAddress("east"), "15012"), 5*time.Second)
	if err != nil {
		t.Fatalf("east gateway 15012: %v", err)
	}
	conn.Close()
}

// applyInstallerRender server-side dry-runs `kubectl apply` of the
// Deployments istioctl renders for the guide's IstioOperator and
// gen-eastwest-gateway.sh onto the lab's cluster.
func applyInstallerRender(t *testing.T, l *lab.Lab, cluster string) {
	t.Helper()
	bin := os.Getenv("MESHFED_LAB_BIN")
	if bin == "" {
		root, err := lab.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(root, ".bin")
	}
	istio, err := lab.IstioModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cp := filepath.Join(dir, "cluster.yaml")
	iop := "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  values:\n    global:\n" +
		"      meshID: mesh1\n      multiCluster: {clusterName: " + cluster + "}\n      network: " + l.Network(cluster) + "\n"
	if err := os.WriteFile(cp, []byte(iop), 0o600); err != nil {
		t.Fatal(err)
	}
	ew, err := exec.Command("bash", filepath.Join(istio, "samples/multicluster/gen-eastwest-gateway.sh"), "--network", l.Network(cluster)).Output()
	if err != nil {
		t.Fatalf("gen-eastwest-gateway.sh: %v", err)
	}
	ewp := filepath.Join(dir, "eastwest.yaml")
	if err := os.WriteFile(ewp, ew, 0o600); err != nil {
		t.Fatal(err)
	}
	var deployments []string
	for _, f := range []string{cp, ewp} {
		out, err := exec.Command(filepath.Join(bin, "istioctl"), "manifest", "generate", "-f", f).Output()
		if err != nil {
			t.Fatalf("istioctl manifest generate: %v", err)
		}
		for _, doc := range strings.Split(string(out), "\n---") {
			if strings.Contains(doc, "\nkind: Deployment\n") &&
				(strings.Contains(doc, "\n  name: istiod\n") || strings.Contains(doc, "\n  name: istio-eastwestgateway\n")) {
				deployments = append(deployments, doc)
			}
		}
	}
	if len(deployments) != 2 {
		t.Fatalf("istioctl rendered %d of the istiod and east-west gateway Deployments", len(deployments))
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), "apply", "--dry-run=server", "--server-side", "--force-conflicts",
		"--kubeconfig", l.Kubeconfig(), "--context", cluster, "-f", "-")
	cmd.Stdin = strings.NewReader(strings.Join(deployments, "\n---\n"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("istioctl's Deployments do not apply over the lab's: %v\n%s", err, out)
	}
}

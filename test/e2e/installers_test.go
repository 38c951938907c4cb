package e2e

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The objects are the chart's, not the lab's own.
	for _, name := range l.Contexts() {
		c := l.Client(name)
		istiod, err := c.AppsV1().Deployments("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := map[string]string{"istio": "pilot"}; !reflect.DeepEqual(istiod.Spec.Selector.MatchLabels, want) {
			t.Errorf("%s: istiod selects %v, want the chart's %v", name, istiod.Spec.Selector.MatchLabels, want)
		}
		gw, err := c.AppsV1().Deployments("istio-system").Get(ctx, "istio-eastwestgateway", metav1.GetOptions{})
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

	expectCleanDoctor(t, l)
}

// expectCleanDoctor runs the doctor on every context of the lab and wants
// exit 0 and no error, warning or unknown (infos are logged).
func expectCleanDoctor(t *testing.T, l *lab.Lab) {
	t.Helper()
	out, stderr, code := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
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

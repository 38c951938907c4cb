package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// istioctl (the default) renders every topology; helm and istio-on-eks
// follow guides of multi-primary meshes on different networks only.
func TestInstallerScenariosAreMultiPrimaryMultiNetwork(t *testing.T) {
	for _, tc := range []struct{ yaml, wantErr string }{
		{"name: x\ninstaller: istioctl\nmultiNetwork: true\n", ""},
		{"name: x\ninstaller: istioctl\ntopology: primary-remote\n", ""},
		{"name: x\n", ""},
		{"name: x\ninstaller: helm\nmultiNetwork: true\ntopology: primary-remote\n", "multi-primary multi-network meshes only"},
		{"name: x\ninstaller: istio-on-eks\n", "multi-primary multi-network meshes only"},
		{"name: x\ninstaller: kustomize\nmultiNetwork: true\n", `unknown installer "kustomize"`},
	} {
		_, err := ParseScenario([]byte(tc.yaml))
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.wantErr)
		}
	}
}

func TestEveryScenarioIsRenderedByAnInstaller(t *testing.T) {
	for _, name := range Scenarios() {
		sc, err := LoadScenario(name)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Installer == "" {
			t.Errorf("%s: no installer", name)
		}
	}
	sc, err := ParseScenario([]byte("name: x\ntopology: primary-remote\n"))
	if err != nil || sc.Installer != InstallerIstioctl {
		t.Errorf("default installer %q (%v), want istioctl", sc.Installer, err)
	}
}

// A render is keyed by what decides it, not by where the lab keeps its
// copy: two labs with the same IstioOperator share one render, a
// different value does not.
func TestRenderKeyIgnoresTheWorkDir(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "istioctl"), []byte("x"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The real module dir: IstioModuleDir is computed once per process, and
	// a temporary one set here would be every later test's.
	key := func(workDir string, iop string) string {
		l := &Lab{binDir: bin, workDir: workDir}
		k, err := l.renderKey([]byte(iop), "istioctl", []string{"manifest", "generate", "-f", filepath.Join(workDir, "east", "install", "cluster.yaml")})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b := key("/tmp/meshfed-lab-1", "clusterName: east"), key("/tmp/meshfed-lab-2", "clusterName: east")
	if a != b {
		t.Errorf("the same render in two work dirs: keys %s, %s", a, b)
	}
	if c := key("/tmp/meshfed-lab-1", "clusterName: west"); c == a {
		t.Error("another IstioOperator, the same key")
	}
}

func mustObj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	objs, err := splitYAML(y)
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v (%d objects)", err, len(objs))
	}
	return objs[0]
}

// The stand-ins take the chart's pod template as it is: its labels (what the
// Deployment and Services select), its ServiceAccount, image "auto"
// resolved as the gateway injection template does; the EndpointSlice
// resolves a named targetPort through the container's ports.
func TestStandInsFollowTheChart(t *testing.T) {
	dep := mustObj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-eastwestgateway, namespace: istio-ingress}
spec:
  selector: {matchLabels: {app: istio-eastwestgateway, istio: eastwestgateway}}
  template:
    metadata:
      labels: {app: istio-eastwestgateway, istio: eastwestgateway, topology.istio.io/network: net1, sidecar.istio.io/inject: "true"}
      annotations: {inject.istio.io/templates: gateway}
    spec:
      serviceAccountName: istio-eastwestgateway
      containers:
      - name: istio-proxy
        image: auto
        ports: [{name: tls, containerPort: 15443}]
`)
	node := NodeData{Name: "east-node-a", Zone: "us-east-1a", IP: "10.1.1.10"}
	pod, err := standInPod(dep, node, "172.17.0.5", "docker.io/istio/proxyv2:1.2.3", "2026-01-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	labels := pod.GetLabels()
	if labels["topology.istio.io/network"] != "net1" || labels["sidecar.istio.io/inject"] != "true" || labels["pod-template-hash"] == "" {
		t.Errorf("pod labels %v", labels)
	}
	if !strings.HasPrefix(pod.GetName(), "istio-eastwestgateway-") || pod.GetNamespace() != "istio-ingress" {
		t.Errorf("pod %s/%s", pod.GetNamespace(), pod.GetName())
	}
	containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	if img := containers[0].(map[string]any)["image"]; img != "docker.io/istio/proxyv2:1.2.3" {
		t.Errorf("image %v", img)
	}
	// What the gateway template adds, which tells a gateway pod from a
	// sidecar's to whoever reads it (the doctor does).
	if args := fmt.Sprint(containers[0].(map[string]any)["args"]); !strings.HasPrefix(args, "[proxy router --domain") {
		t.Errorf("istio-proxy args %s, want the gateway template's proxy router", args)
	}
	if labels["service.istio.io/canonical-name"] != "istio-eastwestgateway" || labels["service.istio.io/canonical-revision"] != "latest" {
		t.Errorf("canonical-service labels %v", labels)
	}
	if sa, _, _ := unstructured.NestedString(pod.Object, "spec", "serviceAccountName"); sa != "istio-eastwestgateway" {
		t.Errorf("serviceAccountName %q", sa)
	}
	if ip, _, _ := unstructured.NestedString(pod.Object, "status", "podIP"); ip != "172.17.0.5" {
		t.Errorf("podIP %q", ip)
	}

	svc := mustObj(t, `
apiVersion: v1
kind: Service
metadata: {name: istio-eastwestgateway, namespace: istio-ingress}
spec:
  type: LoadBalancer
  selector: {app: istio-eastwestgateway, istio: eastwestgateway}
  ports: [{name: tls, port: 443, targetPort: tls}, {name: status-port, port: 15021, targetPort: 15021}]
`)
	slice := standInSlice(svc, pod, node)
	if slice == nil {
		t.Fatal("no EndpointSlice for a Service that selects the pod")
	}
	ports, _, _ := unstructured.NestedSlice(slice.Object, "ports")
	if got := []any{ports[0].(map[string]any)["port"], ports[1].(map[string]any)["port"]}; got[0] != int64(15443) || got[1] != int64(15021) {
		t.Errorf("slice ports %v, want 15443 (named targetPort) and 15021", got)
	}
	eps, _, _ := unstructured.NestedSlice(slice.Object, "endpoints")
	ep := eps[0].(map[string]any)
	if ep["zone"] != "us-east-1a" || ep["targetRef"].(map[string]any)["name"] != pod.GetName() {
		t.Errorf("endpoint %v", ep)
	}

	other := mustObj(t, `
apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-ingress}
spec:
  selector: {istio: pilot}
  ports: [{name: grpc, port: 15010}]
`)
	if standInSlice(other, pod, node) != nil {
		t.Error("an EndpointSlice for a Service that does not select the pod")
	}
}

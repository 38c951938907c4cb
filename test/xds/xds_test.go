// Package xds asks the lab's real istiods, through an xDS client that
// presents itself as a sidecar, what they send a proxy for the sample
// services, and holds it to what the lab's clusters hold: the pods the
// controllers made, their nodes' localities, the east-west gateways.
package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/xdstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.Cleanup()
	os.Exit(code)
}

// sampleServices are the sample Services every cluster has, with the
// port a sidecar's outbound cluster is named by.
var sampleServices = []struct {
	name string
	port int32
}{{"helloworld", 5000}, {"httpbin", 8000}}

// samplePod is a running pod behind a sample Service, as the lab's API
// shows it.
type samplePod struct {
	cluster, name, ip, locality string // locality: region/zone/ of its node
	targetPort                  int32
	mesh                        bool // injected: the injector's security.istio.io/tlsMode=istio
	ready                       bool
}

// TestSidecarView: on the healthy multi-network lab, a sidecar of every
// cluster is sent, for every sample service, its own cluster's ready pod
// addresses and each other network's east-west gateway on 15443, with a
// weight equal to that network's ready pods in each locality, and the
// localities of the nodes the pods run on; and istiod's endpointShardz
// holds every sample pod with TLSMode istio and its node's locality.
func TestSidecarView(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 3)
	labtest.RequireIsolation(t, l) // the webhook and the networks need namespaces
	checkSidecarViews(t, l, true)
}

// TestSidecarViewWithWorkloadFaults: the workload faults, made through the
// Deployments, the controllers and the injector, change what istiod sends
// as they do in a cluster. east: helloworld's pods never ready, httpbin
// without pods; west: helloworld's pods without a sidecar. So east's
// sidecar is sent its own helloworld pods as unhealthy, nothing of west's
// helloworld (no sidecar, no mTLS through the gateway) and west's gateway
// for httpbin; west's sidecar its own helloworld pods (directly) and east's
// gateway weighted by east's unready helloworld pods (istiod sends
// unhealthy endpoints by default), and nothing of east for httpbin. A
// selectorless Service with manual Endpoints in west is mirrored into an
// EndpointSlice and held by istiod as a plain endpoint.
func TestSidecarViewWithWorkloadFaults(t *testing.T) {
	sc, err := lab.LoadScenario("multi-primary")
	if err != nil {
		t.Fatal(err)
	}
	sc.Name = "multi-primary-workload-faults"
	sc.Faults = []lab.Fault{
		{Type: lab.FaultPodNotReady, Cluster: "east", Value: "helloworld"},
		{Type: lab.FaultNoSamplePods, Cluster: "east", Value: "httpbin"},
		{Type: lab.FaultNoSidecar, Cluster: "west", Value: "helloworld"},
	}
	l := labtest.StartConfig(t, lab.Config{ScenarioSpec: sc, Clusters: 2})
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	east, west := l.Client("east"), l.Client("west")
	for _, rp := range samplePods(ctx, t, l, "east", "helloworld", 5000) {
		if rp.ready {
			t.Errorf("east: helloworld pod %s is ready, want none ready (pod-not-ready)", rp.name)
		}
	}
	if list, _ := east.CoreV1().Pods("sample").List(ctx, metav1.ListOptions{LabelSelector: "app=httpbin"}); len(list.Items) != 0 {
		t.Errorf("east: %d httpbin pods, want none (no-sample-pods)", len(list.Items))
	}
	for _, rp := range samplePods(ctx, t, l, "west", "helloworld", 5000) {
		if rp.mesh {
			t.Errorf("west: helloworld pod %s was injected despite sidecar.istio.io/inject=false", rp.name)
		}
	}
	checkSidecarViews(t, l, false)

	// What the doctor makes of it: west's helloworld pods have no sidecar,
	// so east's sidecars get nothing of them although west holds them
	// ready and east's istiod reads west: MF4025 on its own, no remote
	// secret, sync or gateway finding to leave it to.
	want := []string{"MF4025 east→west"}
	var got viewChecks
	for deadline := time.Now().Add(viewSettle); ; time.Sleep(time.Second) {
		if got = doctorFindings(t, l, sidecarViewChecks); slices.Equal(got.findings, want) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Equal(got.findings, want) {
		t.Errorf("doctor: findings %q, want %q (west's helloworld pods without a sidecar)", got.findings, want)
	}

	// Endpoints without pods, as real meshes have them.
	if err := l.Apply(ctx, "west", manualEndpoints); err != nil {
		t.Fatal(err)
	}
	var shard string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		slices, err := west.DiscoveryV1().EndpointSlices("sample").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=legacy-db"})
		if err == nil && len(slices.Items) > 0 {
			if shard = shardTLSMode(ctx, t, l, "west", "legacy-db", "10.200.0.7"); shard != "" {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if shard != "disabled" {
		t.Errorf("west's istiod holds legacy-db's manual endpoint 10.200.0.7 with TLSMode %q, want disabled (mirrored EndpointSlice, no pod)", shard)
	}
}

const manualEndpoints = `
apiVersion: v1
kind: Service
metadata: {name: legacy-db, namespace: sample}
spec:
  ports: [{name: tcp-postgres, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: legacy-db, namespace: sample}
subsets:
- addresses: [{ip: 10.200.0.7}]
  ports: [{name: tcp-postgres, port: 5432, protocol: TCP}]
`

// checkSidecarViews asks every primary's istiod, as a sidecar of one of
// its cluster's injected sample pods, for the sample services' clusters
// and endpoints and compares them with what the lab's clusters hold.
// healthy: every sample service must have ready pods, all injected.
func checkSidecarViews(t *testing.T, l *lab.Lab, healthy bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pods := map[string][]samplePod{} // service → running pods in every cluster
	for _, svc := range sampleServices {
		for _, c := range l.Contexts() {
			pods[svc.name] = append(pods[svc.name], samplePods(ctx, t, l, c, svc.name, svc.port)...)
		}
		if healthy && len(pods[svc.name]) == 0 {
			t.Fatalf("no ready pods of %s in any cluster: nothing to judge", svc.name)
		}
		for _, rp := range pods[svc.name] {
			if healthy && !rp.mesh {
				t.Errorf("%s: %s pod %s has no sidecar: the injector was not called", rp.cluster, svc.name, rp.name)
			}
			if healthy && !rp.ready {
				t.Errorf("%s: %s pod %s is not ready", rp.cluster, svc.name, rp.name)
			}
		}
	}
	for _, p := range l.Primaries() {
		t.Run(p, func(t *testing.T) {
			me, ok := sidecarOf(ctx, t, l, p)
			if !ok {
				t.Fatalf("%s: no injected sample pod to be a sidecar of", p)
			}
			// istiod's registry follows the API a moment behind: ask
			// again, on a new stream, until it agrees or time is up.
			var problems []string
			for deadline := time.Now().Add(viewSettle); ; time.Sleep(500 * time.Millisecond) {
				problems = sidecarViewProblems(ctx, t, l, p, me, pods)
				if problems = append(problems, shardProblems(ctx, t, l, p, pods)...); len(problems) == 0 || time.Now().After(deadline) {
					break
				}
			}
			for _, pr := range problems {
				t.Error(pr)
			}
		})
	}
}

// viewSettle bounds how long istiod may take to reflect what the lab's
// API holds.
const viewSettle = 15 * time.Second

// sidecarViewProblems asks p's istiod, as sidecar me, for the sample
// services' clusters and endpoints and says where they differ from what
// the lab's clusters hold.
func sidecarViewProblems(ctx context.Context, t *testing.T, l *lab.Lab, p string, me xdstest.Sidecar, pods map[string][]samplePod) []string {
	t.Helper()
	client, err := xdstest.Dial(ctx, l.IstiodXDSAddress(p), me)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rctx, rcancel := context.WithTimeout(ctx, xdstest.DefaultTimeout)
	defer rcancel()
	clusters, err := client.Clusters(rctx)
	if err != nil {
		t.Fatal(err)
	}
	var problems, names []string
	for _, svc := range sampleServices {
		name := fmt.Sprintf("outbound|%d||%s.sample.svc.cluster.local", svc.port, svc.name)
		if clusters[name] == nil {
			return []string{fmt.Sprintf("CDS for a sidecar of %s: no cluster %s among %d", p, name, len(clusters))}
		}
		names = append(names, name)
	}
	cla, err := client.Endpoints(rctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	for i, svc := range sampleServices {
		got := []string{}
		for _, e := range xdstest.Flatten(cla[names[i]]) {
			got = append(got, viewLine(e.Address, e.Weight, e.Locality, e.Healthy))
		}
		want := expectedView(l, p, pods[svc.name])
		t.Logf("EDS %s for a sidecar of %s: %q", names[i], p, got)
		if !slices.Equal(got, want) {
			problems = append(problems, fmt.Sprintf("EDS %s for a sidecar of %s:\n got  %q\n want %q", names[i], p, got, want))
		}
	}
	return problems
}

// expectedView is what istiod sends a sidecar of cluster p for a service
// whose running pods are pods: its own network's pods at their address and
// target port, each weight 1 (a pod that is not ready as unhealthy); for
// every other network, per locality, the network's gateway on 15443
// weighted by its mesh pods there. istiod sends a pod without a sidecar to
// no other network (crossing the gateway needs mTLS), and counts pods that
// are not ready into the gateway's weight too: it sends unhealthy
// endpoints by default (PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS) unless the
// DestinationRule's outlierDetection sets minHealthPercent, which the
// lab's does not.
func expectedView(l *lab.Lab, p string, pods []samplePod) []string {
	var out []string
	gateway := map[string]uint32{} // "<gateway>|<locality>" → pods
	for _, rp := range pods {
		if l.Network(rp.cluster) == l.Network(p) {
			out = append(out, viewLine(fmt.Sprintf("%s:%d", rp.ip, rp.targetPort), 1, rp.locality, rp.ready))
			continue
		}
		if rp.mesh {
			gateway[fmt.Sprintf("%s:15443|%s", l.GatewayAddress(rp.cluster), rp.locality)]++
		}
	}
	for k, n := range gateway {
		addr, loc, _ := strings.Cut(k, "|")
		out = append(out, viewLine(addr, n, loc, true))
	}
	sort.Strings(out)
	return out
}

func viewLine(addr string, weight uint32, locality string, healthy bool) string {
	s := fmt.Sprintf("%s weight %d locality %s", addr, weight, locality)
	if !healthy {
		s += " unhealthy"
	}
	return s
}

// shardTLSMode is the TLSMode p's istiod holds for address of a sample
// Service, "" when it holds none.
func shardTLSMode(ctx context.Context, t *testing.T, l *lab.Lab, p, service, address string) string {
	t.Helper()
	for _, shard := range readShardz(ctx, t, l, p)[service+".sample.svc.cluster.local"]["sample"].Shards {
		for _, e := range shard {
			if slices.Contains(e.Addresses, address) {
				return e.TLSMode
			}
		}
	}
	return ""
}

type shardz map[string]map[string]struct {
	Shards map[string][]struct {
		Addresses []string
		TLSMode   string
		Locality  struct{ Label string }
	}
}

func readShardz(ctx context.Context, t *testing.T, l *lab.Lab, p string) shardz {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.IstiodDebugURL(p)+"/debug/endpointShardz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out shardz
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("endpointShardz of %s: %v", p, err)
	}
	return out
}

// shardProblems reads p's istiod /debug/endpointShardz and says where it
// differs from the lab: every sample pod of every cluster is to be there,
// in its cluster's shard, with its node's locality, as a mesh endpoint
// (TLSMode istio) when it has a sidecar and a plain one (disabled) when not.
func shardProblems(ctx context.Context, t *testing.T, l *lab.Lab, p string, pods map[string][]samplePod) []string {
	t.Helper()
	var problems []string
	shardz := readShardz(ctx, t, l, p)
	for svc, rps := range pods {
		shards := shardz[svc+".sample.svc.cluster.local"]["sample"].Shards
		for _, rp := range rps {
			key := "Kubernetes/" + l.ClusterID(rp.cluster)
			found := false
			for _, e := range shards[key] {
				if slices.Contains(e.Addresses, rp.ip) {
					found = true
					tls := "disabled"
					if rp.mesh {
						tls = "istio"
					}
					if e.TLSMode != tls || e.Locality.Label != rp.locality {
						problems = append(problems, fmt.Sprintf("endpointShardz of %s: %s pod %s (%s) has TLSMode %q locality %q, want %s and %q",
							p, svc, rp.name, rp.ip, e.TLSMode, e.Locality.Label, tls, rp.locality))
					}
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("endpointShardz of %s: %s pod %s/%s (%s) missing from shard %s", p, svc, rp.cluster, rp.name, rp.ip, key))
			}
		}
	}
	return problems
}

// samplePods lists the running pods behind a Service of cluster c, with the
// locality of their node, from the cluster's API.
func samplePods(ctx context.Context, t *testing.T, l *lab.Lab, c, service string, port int32) []samplePod {
	t.Helper()
	client := l.Client(c)
	svc, err := client.CoreV1().Services("sample").Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: Service %s: %v", c, service, err)
	}
	target := port
	for _, sp := range svc.Spec.Ports {
		if sp.Port == port && sp.TargetPort.IntValue() > 0 {
			target = int32(sp.TargetPort.IntValue())
		}
	}
	list, err := client.CoreV1().Pods("sample").List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		t.Fatal(err)
	}
	var out []samplePod
	for _, pod := range list.Items {
		if pod.Status.PodIP == "" || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		node, err := client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: node of pod %s: %v", c, pod.Name, err)
		}
		loc := node.Labels[corev1.LabelTopologyRegion] + "/" + node.Labels[corev1.LabelTopologyZone] + "/"
		out = append(out, samplePod{cluster: c, name: pod.Name, ip: pod.Status.PodIP, locality: loc, targetPort: target,
			mesh: pod.Labels["security.istio.io/tlsMode"] == "istio", ready: ready(&pod)})
	}
	return out
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && p.Status.PodIP != ""
		}
	}
	return false
}

// sidecarOf is the identity of an injected sample pod of cluster p (a
// running one, ready or not: an istio-proxy connects to istiod before its
// pod is ready), as its istio-proxy would present it.
func sidecarOf(ctx context.Context, t *testing.T, l *lab.Lab, p string) (xdstest.Sidecar, bool) {
	t.Helper()
	list, err := l.Client(p).CoreV1().Pods("sample").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range list.Items {
		if pod.Status.PodIP == "" || proxyVersion(pod.Spec) == "" {
			continue
		}
		return xdstest.Sidecar{
			Cluster: l.ClusterID(p), Network: l.Network(p), MeshID: l.Scenario().MeshID,
			Namespace: pod.Namespace, Pod: pod.Name, IP: pod.Status.PodIP,
			ServiceAccount: pod.Spec.ServiceAccountName, Workload: pod.Labels["app"] + "-" + pod.Labels["version"],
			Labels: pod.Labels, IstioVersion: proxyVersion(pod.Spec),
		}, true
	}
	return xdstest.Sidecar{}, false
}

var tagVersion = regexp.MustCompile(`:(\d+\.\d+(\.\d+)?)`)

// proxyVersion is the version of the injected istio-proxy's image tag.
func proxyVersion(spec corev1.PodSpec) string {
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if c.Name == "istio-proxy" {
			if m := tagVersion.FindStringSubmatch(c.Image); m != nil {
				return m[1]
			}
		}
	}
	return ""
}

// TestFailingWebhookFailsPodCreation: the API server really calls the
// injector, so where it cannot answer pod creation fails, as in a cluster.
// In primary-remote-unexposed the remote's webhook points at the address
// the primary's gateway would have, and nothing is there: west's sample
// ReplicaSets report the webhook's failure and west has no sample pods,
// while east's (called through the kube-proxy stand-in) are injected.
func TestFailingWebhookFailsPodCreation(t *testing.T) {
	l := labtest.Start(t, "primary-remote-unexposed", 2)
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, rp := range samplePods(ctx, t, l, "east", "helloworld", 5000) {
		if !rp.mesh {
			t.Errorf("east: helloworld pod %s has no sidecar", rp.name)
		}
	}
	var why string
	deadline := time.Now().Add(60 * time.Second)
	for why == "" && time.Now().Before(deadline) {
		rsList, err := l.Client("west").AppsV1().ReplicaSets("sample").List(ctx, metav1.ListOptions{LabelSelector: "app=helloworld"})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range rsList.Items {
			for _, c := range rs.Status.Conditions {
				if c.Type == "ReplicaFailure" && c.Status == corev1.ConditionTrue {
					why = c.Message
				}
			}
		}
		if why == "" {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if !strings.Contains(why, "sidecar-injector.istio.io") {
		t.Errorf("west: helloworld's ReplicaSet reports %q, want the injection webhook's failure", why)
	}
	if pods, _ := l.Client("west").CoreV1().Pods("sample").List(ctx, metav1.ListOptions{}); len(pods.Items) != 0 {
		t.Errorf("west: %d sample pods were admitted without the injector", len(pods.Items))
	}
	t.Logf("west: %s", why)
}

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

// readyPod is a ready pod behind a sample Service, as the lab's API shows it.
type readyPod struct {
	cluster, name, ip, locality string // locality: region/zone/ of its node
	targetPort                  int32
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pods := map[string][]readyPod{} // service → ready pods in every cluster
	for _, svc := range sampleServices {
		for _, c := range l.Contexts() {
			pods[svc.name] = append(pods[svc.name], readyPods(ctx, t, l, c, svc.name, svc.port)...)
		}
		if len(pods[svc.name]) == 0 {
			t.Fatalf("no ready pods of %s in any cluster: nothing to judge", svc.name)
		}
	}
	for _, p := range l.Primaries() {
		t.Run(p, func(t *testing.T) {
			me := sidecarOf(ctx, t, l, p)
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
			var names []string
			for _, svc := range sampleServices {
				name := fmt.Sprintf("outbound|%d||%s.sample.svc.cluster.local", svc.port, svc.name)
				if clusters[name] == nil {
					t.Fatalf("CDS: no cluster %s among %d", name, len(clusters))
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
					got = append(got, fmt.Sprintf("%s weight %d locality %s", e.Address, e.Weight, e.Locality))
				}
				want := expectedView(l, p, pods[svc.name])
				t.Logf("EDS %s: %q", names[i], got)
				if !slices.Equal(got, want) {
					t.Errorf("EDS %s for a sidecar of %s:\n got  %q\n want %q", names[i], p, got, want)
				}
			}
			checkShards(ctx, t, l, p, pods)
		})
	}
}

// expectedView is what istiod sends a sidecar of cluster p for a service
// whose ready pods are pods: its own network's pods at their address and
// target port, each weight 1; for every other network, per locality, the
// network's gateway on 15443 weighted by the pods there.
func expectedView(l *lab.Lab, p string, pods []readyPod) []string {
	var out []string
	gateway := map[string]int{} // "<gateway> <locality>" → ready pods
	for _, rp := range pods {
		if l.Network(rp.cluster) == l.Network(p) {
			out = append(out, fmt.Sprintf("%s:%d weight 1 locality %s", rp.ip, rp.targetPort, rp.locality))
			continue
		}
		gateway[fmt.Sprintf("%s:15443|%s", l.GatewayAddress(rp.cluster), rp.locality)]++
	}
	for k, n := range gateway {
		addr, loc, _ := strings.Cut(k, "|")
		out = append(out, fmt.Sprintf("%s weight %d locality %s", addr, n, loc))
	}
	sort.Strings(out)
	return out
}

// checkShards reads p's istiod /debug/endpointShardz: every ready sample
// pod of every cluster is there, in its cluster's shard, as a mesh
// endpoint (TLSMode istio) with its node's locality.
func checkShards(ctx context.Context, t *testing.T, l *lab.Lab, p string, pods map[string][]readyPod) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.IstiodDebugURL(p)+"/debug/endpointShardz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var shardz map[string]map[string]struct {
		Shards map[string][]struct {
			Addresses []string
			TLSMode   string
			Locality  struct{ Label string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&shardz); err != nil {
		t.Fatalf("endpointShardz: %v", err)
	}
	for svc, rps := range pods {
		shards := shardz[svc+".sample.svc.cluster.local"]["sample"].Shards
		for _, rp := range rps {
			key := "Kubernetes/" + l.ClusterID(rp.cluster)
			found := false
			for _, e := range shards[key] {
				if slices.Contains(e.Addresses, rp.ip) {
					found = true
					if e.TLSMode != "istio" || e.Locality.Label != rp.locality {
						t.Errorf("endpointShardz of %s: %s pod %s (%s) has TLSMode %q locality %q, want istio and %q",
							p, svc, rp.name, rp.ip, e.TLSMode, e.Locality.Label, rp.locality)
					}
				}
			}
			if !found {
				t.Errorf("endpointShardz of %s: %s pod %s/%s (%s) missing from shard %s", p, svc, rp.cluster, rp.name, rp.ip, key)
			}
		}
	}
}

// readyPods lists the ready pods behind a Service of cluster c, with the
// locality of their node, from the cluster's API.
func readyPods(ctx context.Context, t *testing.T, l *lab.Lab, c, service string, port int32) []readyPod {
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
	var out []readyPod
	for _, pod := range list.Items {
		if !ready(&pod) {
			continue
		}
		node, err := client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: node of pod %s: %v", c, pod.Name, err)
		}
		loc := node.Labels[corev1.LabelTopologyRegion] + "/" + node.Labels[corev1.LabelTopologyZone] + "/"
		out = append(out, readyPod{cluster: c, name: pod.Name, ip: pod.Status.PodIP, locality: loc, targetPort: target})
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

// sidecarOf is the identity of the first ready, injected helloworld pod
// of cluster p, as its istio-proxy would present it.
func sidecarOf(ctx context.Context, t *testing.T, l *lab.Lab, p string) xdstest.Sidecar {
	t.Helper()
	list, err := l.Client(p).CoreV1().Pods("sample").List(ctx, metav1.ListOptions{LabelSelector: "app=helloworld"})
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range list.Items {
		proxy := -1
		for i, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if c.Name == "istio-proxy" {
				proxy = i
			}
		}
		if !ready(&pod) || proxy < 0 {
			continue
		}
		return xdstest.Sidecar{
			Cluster: l.ClusterID(p), Network: l.Network(p), MeshID: l.Scenario().MeshID,
			Namespace: pod.Namespace, Pod: pod.Name, IP: pod.Status.PodIP,
			ServiceAccount: pod.Spec.ServiceAccountName, Workload: pod.Labels["app"] + "-" + pod.Labels["version"],
			Labels: pod.Labels, IstioVersion: proxyVersion(pod.Spec),
		}
	}
	t.Fatalf("%s: no ready helloworld pod with an istio-proxy (injected by istiod)", p)
	return xdstest.Sidecar{}
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

// Package bench measures the doctor's read on a lab the size DESIGN.md
// names: three clusters of real kube-apiservers, each holding 5,000
// Services, 5,000 EndpointSlices, 200 Nodes and 500 DestinationRules.
//
//	make bench            # or: go test ./test/bench -run '^$' -bench . -benchtime 20x
//
// BenchmarkWatchCacheRead is the floor: one LIST per kind per cluster from
// the watch cache, decoded and dropped. BenchmarkCollect is the doctor's
// read (fleet.Collect: the same LISTs, reduced to the fields checks use);
// BenchmarkDoctor runs the built binary end to end and reports its peak RSS.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	networkingapi "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// The size of each cluster, from DESIGN.md.
const (
	services         = 5000
	nodes            = 200
	destinationRules = 500
	namespaces       = 50
)

var (
	setupOnce sync.Once
	bigLab    *lab.Lab
	setupErr  error
)

// populatedLab starts one lab for every benchmark of the binary and fills it.
func populatedLab(b *testing.B) *lab.Lab {
	b.Helper()
	setupOnce.Do(func() {
		l, err := lab.Start(context.Background(), lab.Config{Scenario: "multi-primary", Clusters: 3, Log: os.Stderr})
		if err != nil {
			setupErr = err
			return
		}
		bigLab = l
		start := time.Now()
		g := new(errgroup.Group)
		for _, ctx := range l.Contexts() {
			g.Go(func() error { return populate(l.RESTConfig(ctx)) })
		}
		setupErr = g.Wait()
		fmt.Fprintf(os.Stderr, "bench: populated 3 clusters in %s\n", time.Since(start).Round(time.Second))
	})
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	return bigLab
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigLab != nil {
		_ = bigLab.Stop()
	}
	labtest.Cleanup()
	os.Exit(code)
}

func populate(cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	ic, err := istioclient.NewForConfig(rest.CopyConfig(cfg)) // CRDs: JSON only
	if err != nil {
		return err
	}
	cfg.ContentType = runtime.ContentTypeProtobuf
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := range namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)}}
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	g := new(errgroup.Group)
	g.SetLimit(16)
	for i := range services {
		ns, name := fmt.Sprintf("bench-%d", i%namespaces), fmt.Sprintf("svc-%d", i)
		g.Go(func() error {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
				Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
			}
			if _, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
				return err
			}
			ready := true
			eps := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{
					{Addresses: []string{fmt.Sprintf("10.244.%d.%d", i/250, i%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
					{Addresses: []string{fmt.Sprintf("10.245.%d.%d", i/250, i%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
				},
			}
			_, err := kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, eps, metav1.CreateOptions{})
			return err
		})
	}
	for i := range nodes {
		g.Go(func() error {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-node-%d", i), Labels: map[string]string{
				"topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": fmt.Sprintf("eu-west-1%c", 'a'+i%3),
				"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "m6i.large",
			}}, Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.100.%d.0/24", i)}}
			_, err := kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
			return err
		})
	}
	for i := range destinationRules {
		ns := fmt.Sprintf("bench-%d", i%namespaces)
		g.Go(func() error {
			dr := &istionet.DestinationRule{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("dr-%d", i)},
				Spec: networkingapi.DestinationRule{
					Host: fmt.Sprintf("svc-%d.%s.svc.cluster.local", i, ns),
					TrafficPolicy: &networkingapi.TrafficPolicy{
						OutlierDetection: &networkingapi.OutlierDetection{},
					},
				},
			}
			_, err := ic.NetworkingV1().DestinationRules(ns).Create(ctx, dr, metav1.CreateOptions{})
			return err
		})
	}
	return g.Wait()
}

// BenchmarkWatchCacheRead is the floor the doctor is measured against:
// every LIST the collector makes, from the watch cache, in protobuf where
// the kind allows, all clusters and kinds at once, decoded and dropped.
func BenchmarkWatchCacheRead(b *testing.B) {
	l := populatedLab(b)
	type client struct {
		kube  kubernetes.Interface
		istio istioclient.Interface
	}
	var clients []client
	for _, ctx := range l.Contexts() {
		cfg := rest.CopyConfig(l.RESTConfig(ctx))
		cfg.QPS, cfg.Burst = -1, 0
		ic, _ := istioclient.NewForConfig(rest.CopyConfig(cfg))
		cfg.ContentType = runtime.ContentTypeProtobuf
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
		kc, _ := kubernetes.NewForConfig(cfg)
		clients = append(clients, client{kc, ic})
	}
	cache := metav1.ListOptions{ResourceVersion: "0"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		g, ctx := errgroup.WithContext(context.Background())
		for _, c := range clients {
			core := c.kube.CoreV1()
			for _, list := range []func() error{
				func() error { _, err := core.Namespaces().List(ctx, cache); return err },
				func() error { _, err := core.Nodes().List(ctx, cache); return err },
				func() error { _, err := core.Services("").List(ctx, cache); return err },
				func() error { _, err := c.kube.DiscoveryV1().EndpointSlices("").List(ctx, cache); return err },
				func() error { _, err := c.kube.AppsV1().Deployments("").List(ctx, cache); return err },
				func() error { _, err := core.Pods("").List(ctx, cache); return err },
				func() error { _, err := core.ConfigMaps("istio-system").List(ctx, cache); return err },
				func() error { _, err := core.Secrets("istio-system").List(ctx, cache); return err },
				func() error {
					_, err := c.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, cache)
					return err
				},
				func() error { _, err := c.istio.NetworkingV1().Gateways("").List(ctx, cache); return err },
				func() error { _, err := c.istio.NetworkingV1().DestinationRules("").List(ctx, cache); return err },
			} {
				g.Go(list)
			}
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollect is the doctor's read: fleet.Collect over the three contexts.
func BenchmarkCollect(b *testing.B) {
	l := populatedLab(b)
	kubeconfig := l.Kubeconfig()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f := fleet.Collect(context.Background(), flags, l.Contexts(), fleet.Options{Timeout: time.Minute})
		for _, c := range f.Clusters {
			if !c.Reachable || len(c.Failures) > 0 || len(c.Services) < services {
				b.Fatalf("%s: reachable %v, failures %v, %d services", c.Context, c.Reachable, c.Failures, len(c.Services))
			}
		}
	}
}

// BenchmarkDoctor runs `kubectl-meshfed doctor --no-probes -o json` as a
// user would and reports the process's peak resident memory.
func BenchmarkDoctor(b *testing.B) {
	l := populatedLab(b)
	plugin := labtest.Plugin(b)
	runCommand(b, l, plugin, "doctor", "--no-probes", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
}

// BenchmarkIstioctlAnalyze is the comparison DESIGN.md names. It needs
// istioctl, which tools/build.sh builds on request (`tools/build.sh istioctl`).
func BenchmarkIstioctlAnalyze(b *testing.B) {
	l := populatedLab(b)
	istioctl := filepath.Join(os.Getenv("MESHFED_LAB_BIN"), "istioctl")
	if _, err := os.Stat(istioctl); err != nil {
		b.Skipf("no istioctl at %s: run tools/build.sh istioctl", istioctl)
	}
	runCommand(b, l, istioctl, "analyze", "-A", "--context", l.Contexts()[0])
}

func runCommand(b *testing.B, l *lab.Lab, bin string, args ...string) {
	var peak int64
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+l.Kubeconfig())
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = nil, &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		hwm := watchHighWater(cmd.Process.Pid)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() == 3) {
			b.Fatalf("%s: %v\n%s", filepath.Base(bin), err, stderr.String())
		}
		peak = max(peak, <-hwm)
	}
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MB")
}

// watchHighWater polls a process's VmHWM (its peak resident set, in kB)
// until it exits, and sends the last value read. The rusage of a child is
// no use here: Go starts children with vfork, and Linux folds the parent's
// peak (this benchmark holds hundreds of MB) into the child's ru_maxrss.
func watchHighWater(pid int) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var last int64
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				out <- last
				return
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kb int64
					if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb); err == nil {
						last = kb
					}
				}
				if strings.HasPrefix(line, "State:") && strings.Contains(line, "zombie") {
					out <- last
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return out
}

// Package bench measures the doctor's read on a lab the size DESIGN.md
// names: three clusters of real kube-apiservers, each holding 5,000
// Services, 5,000 EndpointSlices, 200 Nodes and 500 DestinationRules.
//
//	make bench    # go test ./test/bench -run '^$' -bench . -benchtime 7x
//
// BenchmarkPaired is the figure that counts: whole processes, run in turn in
// each round (the watch-cache floor, `doctor --no-probes -o json`, `istioctl
// analyze -A`, the doctor with its probes, `version`), so that every ratio
// pairs runs made within seconds of each other on a machine others share.
// It prints the median of each paired ratio with its range, each process's
// peak RSS, and the machine's load. BenchmarkWatchCacheRead, BenchmarkCollect
// and BenchmarkDoctorInProcess are the same reads inside this process, for
// -cpuprofile and -memprofile. Nothing here is a timed test.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	networkingapi "istio.io/api/networking/v1alpha3"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/cmd"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/test/bench/floor"
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
	cfg.ContentType = k8sruntime.ContentTypeProtobuf
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
			eps := controllerSlice(ns, name, i)
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

// controllerSlice is the EndpointSlice kube-controller-manager's
// EndpointSlice controller writes for the i-th Service (selector app=name)
// with two ready pods behind it: its labels, and each endpoint's pod
// (targetRef), node and zone. The lab runs no controller manager, so the
// bench writes it; the pods themselves are not created (the doctor reads
// only Istio's pods). A slice without targetRefs would be a selectorless
// Service's hand-written endpoints, which the doctor rightly reports
// (MF4016): 15,000 findings measure the report, not the read.
func controllerSlice(ns, name string, i int) *discoveryv1.EndpointSlice {
	ready := true
	endpoint := func(addr string, replica int) discoveryv1.Endpoint {
		node := fmt.Sprintf("bench-node-%d", (i+replica)%nodes)
		zone := fmt.Sprintf("eu-west-1%c", 'a'+((i+replica)%nodes)%3) // the zone label of that node
		return discoveryv1.Endpoint{
			Addresses:  []string{addr},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready, Terminating: new(bool)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-7d4b9c8f6-%05d", name, replica)},
			NodeName:   &node,
			Zone:       &zone,
		}
	}
	port, proto := int32(8080), corev1.ProtocolTCP
	portName := "http"
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-abcde", Labels: map[string]string{
			discoveryv1.LabelServiceName: name,
			discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
			"app":                        name, // the controller copies the Service's labels
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			endpoint(fmt.Sprintf("10.244.%d.%d", i/250, i%250+1), 0),
			endpoint(fmt.Sprintf("10.245.%d.%d", i/250, i%250+1), 1),
		},
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
}

// BenchmarkWatchCacheRead is the floor the doctor is measured against
// (package floor), inside this process.
func BenchmarkWatchCacheRead(b *testing.B) {
	l := populatedLab(b)
	var readers []*floor.Reader
	for _, ctx := range l.Contexts() {
		r, err := floor.NewReader(l.RESTConfig(ctx))
		if err != nil {
			b.Fatal(err)
		}
		readers = append(readers, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		g, ctx := errgroup.WithContext(context.Background())
		for _, r := range readers {
			g.Go(func() error { return r.ReadAll(ctx) })
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
	flags := kube.ForKubeconfig(kubeconfig)
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

// BenchmarkDoctorInProcess runs `doctor --no-probes -o json` through the
// command's own code inside this process: what -cpuprofile and -memprofile
// see of the doctor's run.
func BenchmarkDoctorInProcess(b *testing.B) {
	l := populatedLab(b)
	b.Setenv("KUBECONFIG", l.Kubeconfig())
	args := []string{"doctor", "--no-probes", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}
		root := cmd.NewRootCmd(streams, cmd.DefaultBackend())
		root.SetArgs(args)
		if err := root.ExecuteContext(context.Background()); err != nil && cmd.ExitCode(err) == cmd.ExitFailed {
			b.Fatal(err)
		}
	}
}

// process is one command of a paired round.
type process struct {
	name string
	path string
	args []string
	// walls, CPU times (user and system) and peaks (kB) of each round.
	walls, cpus []time.Duration
	peaks       []int64
}

// BenchmarkPaired runs every command once per round, in an order that turns
// with each round, and prints the paired ratios, the peak RSS of each
// process and the machine's load over the run (-benchtime 7x: 7 rounds).
// The doctor is the binary `make build` makes ($MESHFED_PLUGIN), the floor
// is cmd/watchcacheread built the same way.
func BenchmarkPaired(b *testing.B) {
	l := populatedLab(b)
	contexts := strings.Join(l.Contexts(), ",")
	plugin := labtest.Plugin(b)
	floorBin := buildFloor(b)
	procs := []*process{
		{name: "watch-cache read", path: floorBin, args: []string{"--contexts", contexts}},
		{name: "doctor --no-probes", path: plugin, args: []string{"doctor", "--no-probes", "-o", "json", "--contexts", contexts}},
		{name: "doctor (probes)", path: plugin, args: []string{"doctor", "-o", "json", "--contexts", contexts}},
		{name: "version", path: plugin, args: []string{"version"}},
	}
	istioctl := filepath.Join(os.Getenv("MESHFED_LAB_BIN"), "istioctl")
	if _, err := os.Stat(istioctl); err != nil {
		b.Fatalf("no istioctl at %s: run tools/build.sh istioctl", istioctl)
	}
	procs = append(procs, &process{name: "istioctl analyze -A", path: istioctl, args: []string{"analyze", "-A", "--context", l.Contexts()[0]}})
	// A second build of the plugin (the code before a change) runs in the
	// same rounds, so that before and after are paired too.
	before := os.Getenv("MESHFED_PLUGIN_BEFORE")
	if before != "" {
		procs = append(procs,
			&process{name: "before --no-probes", path: before, args: []string{"doctor", "--no-probes", "-o", "json", "--contexts", contexts}},
			&process{name: "before (probes)", path: before, args: []string{"doctor", "-o", "json", "--contexts", contexts}})
	}
	byName := map[string]*process{}
	for _, p := range procs {
		byName[p.name] = p
	}
	// One round to warm what the first would pay alone (the API servers'
	// caches, the page cache holding the binaries); it is not counted.
	for _, p := range procs {
		runProcess(b, l, p)
	}
	for _, p := range procs {
		p.walls, p.cpus, p.peaks = nil, nil, nil
	}
	loadBefore := loadAverage()
	round := 0
	b.ResetTimer()
	for b.Loop() {
		for i := range procs {
			p := procs[(i+round)%len(procs)]
			wall, cpu, peak := runProcess(b, l, p)
			p.walls, p.cpus, p.peaks = append(p.walls, wall), append(p.cpus, cpu), append(p.peaks, peak)
		}
		round++
	}
	b.StopTimer()
	loadAfter := loadAverage()

	doctor, floorRead, analyze, probes := byName["doctor --no-probes"], byName["watch-cache read"], byName["istioctl analyze -A"], byName["doctor (probes)"]
	var sb strings.Builder
	fmt.Fprintf(&sb, "\npaired run: %d rounds on %d clusters (%d Services, %d EndpointSlices, %d Nodes, %d DestinationRules each), %s\n",
		round, len(l.Contexts()), services, services, nodes, destinationRules, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "machine: %d CPUs, load average before %s, after %s\n", runtime.NumCPU(), loadBefore, loadAfter)
	fmt.Fprintf(&sb, "%-22s %12s %16s %12s %16s\n", "process", "wall median", "wall range", "CPU median", "peak RSS median")
	for _, p := range procs {
		fmt.Fprintf(&sb, "%-22s %12s %16s %12s %13.0f MB\n", p.name, median(p.walls).Round(time.Millisecond),
			fmt.Sprintf("%s–%s", slices.Min(p.walls).Round(time.Millisecond), slices.Max(p.walls).Round(time.Millisecond)),
			median(p.cpus).Round(time.Millisecond), float64(medianInt(p.peaks))/1024)
	}
	type ratio struct {
		what      string
		num, den  *process
		reportKey string
	}
	ratios := []ratio{
		{"doctor --no-probes / watch-cache read", doctor, floorRead, "x-floor"},
		{"doctor --no-probes / istioctl analyze -A", doctor, analyze, "x-analyze"},
		{"doctor with probes / doctor --no-probes", probes, doctor, "x-probes"},
	}
	if before != "" {
		beforeDoctor, beforeProbes := byName["before --no-probes"], byName["before (probes)"]
		ratios = append(ratios,
			ratio{"before: --no-probes / watch-cache read", beforeDoctor, floorRead, "x-floor-before"},
			ratio{"before: --no-probes / istioctl analyze -A", beforeDoctor, analyze, "x-analyze-before"},
			ratio{"before: with probes / --no-probes", beforeProbes, beforeDoctor, "x-probes-before"},
			ratio{"doctor with probes / before, with probes", probes, beforeProbes, "x-probes-after-before"})
	}
	for _, r := range ratios {
		ratios := pairedRatios(r.num.walls, r.den.walls)
		m := medianFloat(ratios)
		cpu := pairedRatios(r.num.cpus, r.den.cpus)
		fmt.Fprintf(&sb, "%-42s wall %.2f× (%.2f–%.2f), CPU %.2f×\n", r.what, m, slices.Min(ratios), slices.Max(ratios), medianFloat(cpu))
		b.ReportMetric(m, r.reportKey)
	}
	b.ReportMetric(float64(medianInt(doctor.peaks))/1024, "doctor-peak-RSS-MB")
	b.ReportMetric(float64(medianInt(byName["version"].peaks))/1024, "version-peak-RSS-MB")
	b.ReportMetric(float64(median(byName["version"].walls).Microseconds())/1000, "version-ms")
	if fi, err := os.Stat(plugin); err == nil {
		fmt.Fprintf(&sb, "binary: %s, %.1f MB\n", plugin, float64(fi.Size())/1e6)
	}
	fmt.Print(sb.String())
}

// buildFloor builds cmd/watchcacheread as `make build` builds the plugin.
func buildFloor(b *testing.B) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), "watchcacheread")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/watchcacheread")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the floor: %v\n%s", err, msg)
	}
	return out
}

// runProcess runs one command as a user would and returns its wall time,
// its CPU time (user and system) and its peak resident set in kB. Any exit code but 3 (the doctor could not do
// its job) is a run: 2 is the doctor's findings, istioctl has codes of its own.
func runProcess(b *testing.B, l *lab.Lab, p *process) (time.Duration, time.Duration, int64) {
	b.Helper()
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+l.Kubeconfig())
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	hwm := watchHighWater(cmd.Process.Pid)
	err := cmd.Wait()
	wall := time.Since(start)
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() == 3) {
		b.Fatalf("%s: %v\n%s", p.name, err, stderr.String())
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), <-hwm
}

// watchHighWater polls a process's VmHWM (its peak resident set, in kB)
// until it exits, and sends the last value read. The rusage of a child is
// no use here: Go starts children with vfork, and Linux folds the parent's
// peak (this benchmark holds hundreds of MB) into the child's ru_maxrss.
func watchHighWater(pid int) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var last int64
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			b, err := os.ReadFile(path)
			if err != nil {
				out <- last
				return
			}
			zombie := false
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
						last = kb
					}
				}
				if strings.HasPrefix(line, "State:") && strings.Contains(line, "zombie") {
					zombie = true
				}
			}
			if zombie {
				out <- last
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return out
}

// loadAverage is the machine's 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func pairedRatios(num, den []time.Duration) []float64 {
	out := make([]float64, len(num))
	for i := range num {
		out[i] = float64(num[i]) / float64(den[i])
	}
	return out
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianInt(d []int64) int64 {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianFloat(d []float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

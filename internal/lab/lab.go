// Package lab starts a real multi-cluster Istio control plane on this machine:
// one etcd, a kube-apiserver and kube-controller-manager per cluster, Istio's
// CRDs and install objects, remote secrets with real tokens, a real istiod
// (pilot-discovery) per primary, and TLS listeners standing in for east-west
// gateways. Each cluster lives in its own network namespace (when the lab runs
// as root on Linux), so remote secrets name real non-loopback servers and a
// path between two clusters can be cut while this machine still reaches both.
//
// The lab covers the API and the control plane, not traffic: there is no
// kubelet, no container, no Envoy. The sample workloads are Deployments that
// the real controllers turn into Pods and EndpointSlices, injected by istiod's
// real webhook; node stand-ins bind and run those pods (pods.go). The
// control-plane Pods and load-balancer addresses are written with their
// status, as a running cluster would show them.
package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

// Config says which lab to start.
type Config struct {
	// Scenario is the name of an embedded scenario (see Scenarios()); "demo"
	// when empty. ScenarioSpec, when set, is used instead.
	Scenario     string
	ScenarioSpec *Scenario
	// Clusters is how many clusters to start; 0 takes the scenario's default.
	Clusters int
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and
	// pilot-discovery; default $MESHFED_LAB_BIN, else .bin at the module root.
	BinDir string
	// Loopback forces the loopback fallback (no network namespaces).
	Loopback bool
	// RemoteClusterTimeout is istiod's PILOT_REMOTE_CLUSTER_TIMEOUT (5s when 0).
	RemoteClusterTimeout time.Duration
	// Log receives progress lines; os.Stderr when nil. Use io.Discard to silence.
	Log io.Writer
	// KeepWorkDir leaves the work directory (logs, certificates) after Stop.
	KeepWorkDir bool
}

// Lab is a running lab. All methods are safe for concurrent use.
type Lab struct {
	cfg      Config
	scenario *Scenario
	names    []string
	clusters map[string]*cluster
	net      *network
	workDir  string
	binDir   string
	isoWhy   string
	log      io.Writer
	started  time.Time
	ready    time.Duration

	mu       sync.Mutex
	procs    []*proc
	closers  []io.Closer
	stopOnce sync.Once
	stopErr  error
	// pkiScenarios are pkg/pki/pkitest's trust scenarios, made once for
	// the pki-scenario faults (under mu).
	pkiScenarios map[string]pkitest.Scenario
	// agents are the node agents (kubelet.go) by cluster/node (under mu).
	agents map[string]*nodeAgent
	// provisioned maps a cluster to the gateway Service ProvisionGateways
	// gave its gateway address (under mu).
	provisioned map[string]string
}

// cluster is one cluster's processes, files and clients.
type cluster struct {
	// secretsGone are the peers whose remote secret a fault deleted after
	// the lab settled (stale-registry): istiod no longer lists them.
	secretsGone []string
	name        string
	id          string // CLUSTER_ID; the name unless a cluster-id fault says otherwise
	index       int    // 0-based
	dir         string
	role        string // primary or remote
	network     string
	primary     string // the primary a remote is controlled by
	rest        *rest.Config
	client      kubernetes.Interface
	dyn         dynamic.Interface
	apiserver   *proc
	kcm         *proc
	istiod      *proc
	meshCA      *ca // signs workload certificates (cacerts); nil when self-signed
	// istiodEnv is extra environment for istiod (pki-scenario faults).
	istiodEnv map[string]string
	// istiodErr: istiod refused its CA and exited during Start (only with a
	// pki-scenario fault; see IstiodExited).
	istiodErr error
	// debugForward: istiod's debug port is forwarded (it outlives a restart).
	debugForward bool
	kubeCA       *ca
	token        string
	// gatewayCert is what the east-west gateway stand-in presents on 15443.
	gatewayCert atomic.Pointer[tls.Certificate]
	// installed is what the scenario's installer wrote (nil without one).
	installed *installation
}

// Start starts a lab and returns when every istiod has settled: every remote
// cluster it was given is synced, or has timed out. On error everything
// started so far is stopped again.
func Start(ctx context.Context, cfg Config) (l *Lab, err error) {
	Sweep()
	sc := cfg.ScenarioSpec
	if sc == nil {
		name := cfg.Scenario
		if name == "" {
			name = "demo"
		}
		if sc, err = LoadScenario(name); err != nil {
			return nil, err
		}
	}
	n := cfg.Clusters
	if n == 0 {
		n = sc.Clusters
	}
	if n < 1 || n > len(ClusterNames) {
		return nil, fmt.Errorf("clusters: %d is out of range 1..%d", n, len(ClusterNames))
	}
	if n < sc.MinClusters {
		return nil, fmt.Errorf("scenario %s needs at least %d clusters, asked for %d", sc.Name, sc.MinClusters, n)
	}
	if cfg.RemoteClusterTimeout == 0 {
		cfg.RemoteClusterTimeout = 5 * time.Second
	}
	l = &Lab{cfg: cfg, scenario: sc, names: ClusterNames[:n], clusters: map[string]*cluster{}, log: cfg.Log, started: time.Now()}
	if l.log == nil {
		l.log = os.Stderr
	}
	if l.binDir, err = findBinDir(cfg.BinDir); err != nil {
		return nil, err
	}
	for _, tool := range sc.installerTools() {
		if _, err := os.Stat(l.bin(tool)); err != nil {
			return nil, fmt.Errorf("scenario %s installs with %s: not found in %s (run tools/build.sh): %w", sc.Name, tool, l.binDir, ErrNoBinaries)
		}
	}
	l.workDir, err = os.MkdirTemp("", "meshfed-lab-")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(l.workDir, "logs"), 0o700); err != nil {
		return nil, err
	}
	running.Store(l, true)
	defer func() {
		if err != nil {
			if ctx.Err() == nil {
				// A real failure: keep the logs to read (Sweep removes
				// them after a day).
				err = fmt.Errorf("lab %s: %w (logs in %s)", sc.Name, err, filepath.Join(l.workDir, "logs"))
				l.cfg.KeepWorkDir = true
			}
			_ = l.Stop()
			l = nil
		}
	}()

	isolated, why := canIsolate()
	if cfg.Loopback {
		isolated, why = false, "loopback requested"
	}
	if l.net, err = allocate(isolated, l.names, l.workDir); err != nil {
		return l, err
	}
	if isolated {
		if err = l.net.setup(); err != nil {
			if strings.Contains(err.Error(), "Operation not permitted") {
				// A container without CAP_NET_ADMIN: fall back.
				_ = l.net.teardown()
				isolated, why = false, "cannot make network namespaces: "+firstLine(err.Error())
				if l.net, err = allocate(false, l.names, l.workDir); err != nil {
					return l, err
				}
			} else {
				return l, err
			}
		}
	}
	l.isoWhy = why
	if isolated {
		l.logf("lab %s: %d clusters in network namespaces, range %s.0.0/16", sc.Name, n, l.net.prefix())
	} else {
		l.logf("lab %s: %d clusters on loopback (%s): no separate networks, paths cannot be cut", sc.Name, n, why)
	}
	for _, f := range sc.Faults {
		if !l.has(f.Cluster) || (f.Peer != "" && !l.has(f.Peer)) {
			l.logf("  fault %s not applied: needs more clusters", f)
		} else if f.Type == FaultCutPath && !isolated {
			l.logf("  fault %s not applied: needs network namespaces", f)
		}
	}

	if err = l.makeClusters(); err != nil {
		return l, err
	}
	if err = l.writeKubeconfig(); err != nil {
		return l, err
	}
	if err = l.startEtcd(ctx); err != nil {
		return l, err
	}
	if err = l.forEach(func(c *cluster) error { return l.bootCluster(ctx, c) }); err != nil {
		return l, err
	}
	l.logf("  clusters installed after %s", l.since())
	if sc.remoteSecretsByIstioctl() {
		err = l.createRemoteSecrets(ctx)
	} else {
		err = l.writeRemoteSecrets(ctx)
	}
	if err != nil {
		return l, err
	}
	for _, f := range sc.Faults {
		if f.Type == FaultCutPath && isolated && l.has(f.Cluster) && l.has(f.Peer) {
			if err = l.net.cut(f.Cluster, f.Peer); err != nil {
				return l, err
			}
		}
	}
	if err = l.startGateways(); err != nil {
		return l, err
	}
	if err = l.forEach(func(c *cluster) error {
		if c.role != "primary" {
			return nil
		}
		return l.startIstiod(ctx, c)
	}); err != nil {
		return l, err
	}
	l.logf("  istiods serving after %s", l.since())
	// The sample workloads go in through the controllers and the injector
	// while the istiods settle (each once its injector serves).
	workloads := make(chan error, 1)
	go func() {
		err := l.forEach(func(c *cluster) error { return l.startWorkloads(ctx, c) })
		l.tracef("workloads ready")
		workloads <- err
	}()
	err = errors.Join(l.waitSettled(ctx), <-workloads)
	if err != nil {
		return l, err
	}
	// Faults made on the settled lab, as they happen to a running mesh.
	for _, f := range sc.Faults {
		if f.Type == FaultDuplicateRemoteSecret && l.has(f.Cluster) && l.has(f.Peer) {
			if err = l.writeDuplicateSecret(ctx, l.clusters[f.Cluster], l.clusters[f.Peer]); err != nil {
				return l, err
			}
		}
	}
	for _, f := range sc.Faults {
		if f.Type == FaultStaleRegistry && l.has(f.Cluster) && l.has(f.Peer) {
			if err = l.makeStaleRegistry(ctx, l.clusters[f.Cluster], l.clusters[f.Peer]); err != nil {
				return l, err
			}
		}
	}
	l.ready = time.Since(l.started)
	l.logf("lab %s ready in %s", sc.Name, l.ready.Round(100*time.Millisecond))
	// Nothing logs after Start; drop the writer (a test's t.Log must not
	// be called once its test is over).
	l.log = io.Discard
	return l, nil
}

// tracef logs timing details when MESHFED_LAB_TRACE is set.
func (l *Lab) tracef(format string, args ...any) {
	if os.Getenv("MESHFED_LAB_TRACE") != "" {
		l.logf("  [%s] "+format, append([]any{l.since()}, args...)...)
	}
}

func (l *Lab) since() time.Duration { return time.Since(l.started).Round(100 * time.Millisecond) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (l *Lab) logf(format string, args ...any) {
	fmt.Fprintf(l.log, format+"\n", args...)
}

func (l *Lab) has(name string) bool { _, ok := l.clusters[name]; return ok || contains(l.names, name) }

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// forEach runs f for every cluster concurrently and joins the errors.
func (l *Lab) forEach(f func(*cluster) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(l.names))
	for i, name := range l.names {
		wg.Add(1)
		go func(i int, c *cluster) {
			defer wg.Done()
			if err := f(c); err != nil {
				errs[i] = fmt.Errorf("%s: %w", c.name, err)
			}
		}(i, l.clusters[name])
	}
	wg.Wait()
	return errors.Join(errs...)
}

// running holds the labs started and not yet stopped, for StopAll.
var running sync.Map

// StopAll stops every lab this process started; for signal handlers.
func StopAll() {
	running.Range(func(k, _ any) bool {
		_ = k.(*Lab).Stop()
		return true
	})
}

// Stop stops every process and removes every namespace, link, route and (unless
// KeepWorkDir) the work directory. It can be called more than once.
func (l *Lab) Stop() error {
	if l == nil {
		return nil
	}
	l.stopOnce.Do(func() {
		l.mu.Lock()
		procs := append([]*proc(nil), l.procs...)
		closers := append([]io.Closer(nil), l.closers...)
		l.mu.Unlock()
		for _, c := range closers {
			_ = c.Close()
		}
		// istiods first, then controller managers and apiservers, etcd last.
		var layers [3][]*proc
		for _, p := range procs {
			switch {
			case strings.HasPrefix(p.name, "etcd"):
				layers[2] = append(layers[2], p)
			case strings.HasPrefix(p.name, "istiod"):
				layers[0] = append(layers[0], p)
			default:
				layers[1] = append(layers[1], p)
			}
		}
		for _, ps := range layers {
			stopAll(ps)
		}
		var errs []error
		if l.net != nil {
			if err := l.net.teardown(); err != nil {
				errs = append(errs, err)
			}
		}
		l.mu.Lock()
		keep := l.cfg.KeepWorkDir
		l.mu.Unlock()
		running.Delete(l)
		if !keep && l.workDir != "" {
			if err := os.RemoveAll(l.workDir); err != nil {
				errs = append(errs, err)
			}
		}
		l.stopErr = errors.Join(errs...)
	})
	return l.stopErr
}

// SetKeepWorkDir makes Stop leave the work directory (logs) in place, e.g.
// when a test failed.
func (l *Lab) SetKeepWorkDir(keep bool) {
	l.mu.Lock()
	l.cfg.KeepWorkDir = keep
	l.mu.Unlock()
}

// Kubeconfig is the path of a kubeconfig with one context per cluster, named
// like the cluster (see Contexts), with admin credentials.
func (l *Lab) Kubeconfig() string { return filepath.Join(l.workDir, "kubeconfig") }

// Contexts lists the context names in cluster order: east, west, central, north, south, ...
// The context name is also the cluster ID (CLUSTER_ID) and the remote-secret
// key, unless a cluster-id fault changes it (see ClusterID).
func (l *Lab) Contexts() []string { return append([]string(nil), l.names...) }

// ClusterID is the cluster ID (istiod's CLUSTER_ID, the remote-secret key)
// of a context: the context name unless the scenario has a cluster-id fault.
func (l *Lab) ClusterID(context string) string {
	if c := l.clusters[context]; c != nil {
		return c.id
	}
	return ""
}

// Primaries lists the clusters that run an istiod.
func (l *Lab) Primaries() []string {
	var out []string
	for _, n := range l.names {
		if l.clusters[n].role == "primary" {
			out = append(out, n)
		}
	}
	return out
}

// Scenario is the scenario the lab runs.
func (l *Lab) Scenario() *Scenario { return l.scenario }

// Isolated reports whether clusters have separate network namespaces. When
// false, IsolationReason says why.
func (l *Lab) Isolated() bool { return l.net != nil && l.net.isolated }

// IsolationReason says why the lab runs on loopback ("" when isolated).
func (l *Lab) IsolationReason() string { return l.isoWhy }

// ReadyAfter is how long Start took.
func (l *Lab) ReadyAfter() time.Duration { return l.ready }

// WorkDir holds the lab's logs (logs/), certificates and kubeconfigs.
func (l *Lab) WorkDir() string { return l.workDir }

// Network returns the Istio network name of a cluster.
func (l *Lab) Network(context string) string {
	if c := l.clusters[context]; c != nil {
		return c.network
	}
	return ""
}

// APIServerURL is the cluster's apiserver address, as its remote secrets name it.
func (l *Lab) APIServerURL(context string) string {
	if !contains(l.names, context) {
		return ""
	}
	return "https://" + l.net.addr(context) + ":6443"
}

// IstiodDebugURL is where the cluster's istiod answers /debug/clusterz,
// reachable from this machine: a loopback address (127.<octet>.<k>.2:8080)
// forwarded into the cluster's network and reaching istiod's http port from
// the cluster's own loopback, as kubectl port-forward would (istiod refuses
// unauthenticated debug requests from other addresses). "" for a cluster
// without istiod.
func (l *Lab) IstiodDebugURL(context string) string {
	c := l.clusters[context]
	if c == nil || c.role != "primary" {
		return ""
	}
	return "http://" + l.net.debugAddr(context) + ":8080"
}

// IstiodXDSAddress is istiod's plaintext xDS address (host:15010), which
// this machine reaches through the lab's router ("" for a cluster without
// istiod): where a proxy of the cluster would connect without TLS, as
// through `kubectl port-forward` to the istiod pod.
func (l *Lab) IstiodXDSAddress(context string) string {
	c := l.clusters[context]
	if c == nil || c.role != "primary" {
		return ""
	}
	return l.net.addr(context) + ":15010"
}

// GatewayAddress is the address in the east-west gateway Service's
// load-balancer status, where a TLS listener answers on 15443 ("" when the
// cluster has no gateway or its address is pending).
func (l *Lab) GatewayAddress(context string) string {
	c := l.clusters[context]
	if c == nil || !l.hasGateway(c) || l.scenario.has(c.name, FaultGatewayPending) {
		return ""
	}
	return l.net.gatewayAddr(context)
}

// IstiodDebugFlags are the doctor's flags that reach every istiod:
// --istiod-debug-address CONTEXT=URL, one per primary.
func (l *Lab) IstiodDebugFlags() []string {
	var out []string
	for _, p := range l.Primaries() {
		out = append(out, "--istiod-debug-address", p+"="+l.IstiodDebugURL(p))
	}
	return out
}

// RESTConfig returns an admin client config for a context.
func (l *Lab) RESTConfig(context string) *rest.Config {
	if c := l.clusters[context]; c != nil {
		return rest.CopyConfig(c.rest)
	}
	return nil
}

// Client returns an admin clientset for a context.
func (l *Lab) Client(context string) kubernetes.Interface {
	if c := l.clusters[context]; c != nil {
		return c.client
	}
	return nil
}

// CutPath makes from's network drop new connections to to's apiserver (a
// blackhole policy-routing rule in from's namespace for TCP to to's address,
// port 6443): from's istiod can no longer reach to's apiserver, while this
// machine reaches both and to's istiod still reads from. Connections already
// open stay up, so istiod's clusterz keeps the status it had until the remote
// cluster is re-added (see ReaddRemoteSecret).
func (l *Lab) CutPath(from, to string) error { return l.net.cut(from, to) }

// HealPath removes a cut made by CutPath (or by a cut-path fault).
func (l *Lab) HealPath(from, to string) error { return l.net.heal(from, to) }

package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// IstiodMonitoringPort is the port istiod serves /debug/* on inside its pod
// (--monitoringAddr=:15014 in Istio's chart). A pod's prometheus.io/port
// annotation names another, as istioctl's kube.FindIstiodMonitoringPort
// reads it.
const IstiodMonitoringPort = 15014

// clusterzLimit bounds the answer read: a few hundred bytes per cluster.
const clusterzLimit = 4 << 20

// istiodTarget is one istiod to ask: at a debug address (url), or one
// replica's pod through a port-forward.
type istiodTarget struct {
	view      model.IstiodView
	url       string
	namespace string
	pod       string
	port      int
	// container is istiod's container, whose log is read when the view
	// shows a cluster not synced; for a debug address, logPod is the
	// Running istiod pod of the context whose log is read ("" for none).
	container string
	logPod    string
}

// Istiod reads /debug/clusterz of every istiod of each primary, concurrently
// and by opts.Deadline: at the debug address given for its context
// (addresses: context → http(s) base URL), which stands for its whole control
// plane; otherwise through a port-forward to each Running istiod pod (app=istiod
// in the Istio namespace), as `istioctl remote-clusters` does, giving one view
// per replica. A replica that does not answer in time is an error of its own
// view; the others still report.
func Istiod(ctx context.Context, f *model.Fleet, opts Options, addresses map[string]string) []model.IstiodView {
	opts = opts.withDefaults()
	if dl, ok := ctx.Deadline(); ok && dl.Before(opts.Deadline) {
		opts.Deadline = dl
	}
	targets, clients := planIstiod(f, opts, addresses)
	if left := time.Until(opts.Deadline); left < MinTime {
		out := make([]model.IstiodView, len(targets))
		for i, t := range targets {
			out[i] = t.view
			if out[i].NotRun == "" {
				out[i].NotRun = fmt.Sprintf("not read: the run's deadline left %s", left.Round(time.Millisecond))
			}
		}
		return out
	}
	client := &http.Client{Transport: &http.Transport{DialContext: opts.Dial}}
	got := fanOut(ctx, opts.Deadline, opts.Timeout, len(targets), func(ctx context.Context, i int) model.IstiodView {
		t := targets[i]
		v := t.view
		var get, metricsGet getter
		switch {
		case v.NotRun != "":
			return v
		case t.url != "":
			v.Clusters, v.Error = readClusterz(ctx, client, t.url)
			get = httpGetter(client, t.url)
			metricsGet = get
			if t.logPod != "" {
				// istiod serves /metrics on its monitoring port only: an
				// address that is its http port (8080) answers 404, and
				// a pod of the context is asked instead.
				metricsGet = orOn404(get, forwardGetter(opts.Forwards, clients[v.Context], istiodTarget{namespace: t.namespace, pod: t.logPod, port: t.port}))
			}
		default:
			v.Clusters, v.Error = forwardClusterz(ctx, opts.Forwards, clients[v.Context], t)
			get = forwardGetter(opts.Forwards, clients[v.Context], t)
			metricsGet = get
		}
		if v.Error == "" {
			// After clusterz, never before: a cluster istiod adds is in
			// clusterz before its registry, and one it removes leaves its
			// registry first (pkg/kube/multicluster/secretcontroller.go:
			// addRemoteConfig, deleteCluster), so what the registry holds
			// beyond clusterz is stale, not a race. The same holds of the
			// gateways a cluster's registry gives networkz. The three
			// reads (and /metrics) go concurrently, each on its own
			// port-forward stream: the probe phase waits for the slowest
			// of them, not their sum.
			rctx, cancel := registryContext(ctx)
			v.Registry, v.Networkz, v.Metrics = readAfterClusterz(rctx, get, metricsGet, ownCluster(v.Clusters), opts)
			cancel()
		}
		// What istiod says of a cluster it has not synced is in its log.
		if v.Read() && anyNotSynced(v.Clusters) {
			switch {
			case t.pod != "":
				v.Log = readIstiodLog(ctx, clients[v.Context], t.namespace, t.pod, t.container)
			case t.logPod != "":
				v.Log = readIstiodLog(ctx, clients[v.Context], t.namespace, t.logPod, t.container)
			}
		}
		return v
	})
	out := make([]model.IstiodView, len(targets))
	for i, t := range targets {
		switch {
		case t.view.NotRun != "":
			out[i] = t.view
		case got[i] != nil:
			out[i] = *got[i]
		default:
			out[i] = t.view
			out[i].Error = "no answer by the run's deadline"
		}
	}
	return out
}

// orOn404 reads with first, and with second when first's answer is 404
// Not Found.
func orOn404(first, second getter) getter {
	return func(ctx context.Context, path string, read func(io.Reader) error) error {
		err := first(ctx, path, read)
		if err == nil || !strings.Contains(err.Error(), "404") {
			return err
		}
		if err2 := second(ctx, path, read); err2 != nil {
			return fmt.Errorf("%w; through a port-forward to an istiod pod: %w", err, err2)
		}
		return nil
	}
}

// readAfterClusterz reads what opts asks of one istiod besides its
// clusterz, concurrently: its registry, its networkz and its metrics.
func readAfterClusterz(ctx context.Context, get, metricsGet getter, own string, opts Options) (*model.IstiodRegistry, *model.IstiodGateways, *model.IstiodMetrics) {
	var (
		reg  *model.IstiodRegistry
		gws  *model.IstiodGateways
		mets *model.IstiodMetrics
		wg   sync.WaitGroup
	)
	if !opts.NoNetworkz {
		wg.Go(func() { gws = readNetworkz(ctx, get) })
	}
	if !opts.NoMetrics {
		wg.Go(func() { mets = readMetrics(ctx, metricsGet) })
	}
	if !opts.NoRegistry {
		reg = readRegistry(ctx, get, own)
	}
	wg.Wait()
	return reg, gws, mets
}

// planIstiod lists the istiods to ask, and the client of each context read
// through port-forwards.
func planIstiod(f *model.Fleet, opts Options, addresses map[string]string) ([]istiodTarget, map[string]*kube.Client) {
	var out []istiodTarget
	clients := map[string]*kube.Client{}
	for _, c := range f.Clusters {
		if !c.Reachable || mesh.Identify(c).Role != mesh.RolePrimary {
			continue
		}
		if a := strings.TrimSuffix(addresses[c.Context], "/"); a != "" {
			t := istiodTarget{view: model.IstiodView{Context: c.Context, Address: a}, url: a}
			// istiod's log, when needed, from a pod of the context, if
			// it runs in the cluster at all.
			if pods := istiodPods(c); len(pods) > 0 && opts.Client != nil {
				if cl, err := opts.Client(c.Context); err == nil {
					clients[c.Context] = cl
					t.namespace, t.logPod, t.container, t.port = pods[0].Namespace, pods[0].Name, istiodContainer(pods[0]), monitoringPort(pods[0])
				}
			}
			out = append(out, t)
			continue
		}
		none := model.IstiodView{Context: c.Context}
		if ok, why := c.Readable(model.KindPods); !ok {
			none.NotRun = "its istiod pods were not listed (" + why + ")"
			out = append(out, istiodTarget{view: none})
			continue
		}
		pods := istiodPods(c)
		if len(pods) == 0 {
			none.NotRun = fmt.Sprintf("no Running istiod pod (app=%s) in %s to port-forward to; for an istiod outside the cluster give --istiod-debug-address %s=URL", mesh.IstiodApp, c.IstioNamespace, c.Context)
			out = append(out, istiodTarget{view: none})
			continue
		}
		var cfgErr string
		if opts.Client == nil {
			cfgErr = "no client for its API server to port-forward through"
		} else if cl, err := opts.Client(c.Context); err != nil {
			cfgErr = "no client for its API server to port-forward through: " + oneLine(err)
		} else {
			clients[c.Context] = cl
		}
		for _, p := range pods {
			t := istiodTarget{namespace: p.Namespace, pod: p.Name, port: monitoringPort(p), container: istiodContainer(p)}
			t.view = model.IstiodView{Context: c.Context, Pod: p.Namespace + "/" + p.Name,
				Address: fmt.Sprintf("port-forward to %s/%s:%d", p.Namespace, p.Name, t.port), NotRun: cfgErr}
			out = append(out, t)
		}
	}
	return out, clients
}

// istiodPods are a cluster's Running istiod pods, by name: the ones
// `istioctl remote-clusters` asks (app=istiod, status.phase=Running). A pod
// running but not ready still answers, and is often the one to hear from:
// istiod stays unready while its remote clusters sync.
func istiodPods(c *model.Cluster) []model.Workload {
	var out []model.Workload
	for _, p := range c.Pods {
		if p.Namespace == c.IstioNamespace && p.Labels["app"] == mesh.IstiodApp && p.Phase == "Running" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func monitoringPort(p model.Workload) int {
	if v, err := strconv.Atoi(p.Annotations["prometheus.io/port"]); err == nil && v > 0 && v < 65536 {
		return v
	}
	return IstiodMonitoringPort
}

// registryMargin is how long before the view's own deadline its registry
// read gives up: a registry still streaming in at the deadline must not cost
// the clusterz already read (fanOut drops a view that is not back by then).
const registryMargin = 250 * time.Millisecond

// registryContext ends the registry read registryMargin (at most a tenth of
// what is left) before ctx.
func registryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	margin := min(registryMargin, time.Until(dl)/10)
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// forwardGetter reads one istiod replica through a port-forward to its pod.
func forwardGetter(fw *Forwards, cl *kube.Client, t istiodTarget) getter {
	return func(ctx context.Context, path string, read func(io.Reader) error) error {
		return portForwardStream(ctx, fw, cl, t.namespace, t.pod, t.port, path, read)
	}
}

// ownCluster is the istiod's own cluster in its clusterz: the entry no
// remote secret configures.
func ownCluster(cs []model.IstiodCluster) string {
	for _, c := range cs {
		if c.SecretName == "" {
			return c.ID
		}
	}
	return ""
}

func forwardClusterz(ctx context.Context, fw *Forwards, cl *kube.Client, t istiodTarget) ([]model.IstiodCluster, string) {
	b, err := portForwardGet(ctx, fw, cl, t.namespace, t.pod, t.port, "/debug/clusterz", clusterzLimit)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, "port-forward: no answer by the deadline"
		}
		return nil, "port-forward: " + oneLine(err)
	}
	return parseClusterz(b)
}

func readClusterz(ctx context.Context, client *http.Client, base string) ([]model.IstiodCluster, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/clusterz", nil)
	if err != nil {
		return nil, "bad debug address: " + oneLine(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, oneLine(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, clusterzLimit))
	if err != nil {
		return nil, oneLine(err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "/debug/clusterz answered " + resp.Status
	}
	return parseClusterz(b)
}

func parseClusterz(b []byte) ([]model.IstiodCluster, string) {
	var got []model.IstiodCluster
	if err := json.Unmarshal(b, &got); err != nil {
		return nil, "/debug/clusterz is not the list istiod writes: " + oneLine(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	return got, ""
}

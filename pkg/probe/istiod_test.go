package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	kubeletportforward "k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func TestIstiodReadsClusterzAtDebugAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/clusterz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`[{"id":"west","secretName":"istio-system/istio-remote-secret-west","syncStatus":"timeout"},{"id":"east","secretName":"","syncStatus":"synced"}]`))
	}))
	defer srv.Close()
	f := credFleet(nil)
	f.Clusters = append(f.Clusters, &model.Cluster{Context: "west", Reachable: true, IstioNamespace: "istio-system",
		Deployments: []model.Workload{{Meta: model.Meta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}}}})
	got := Istiod(context.Background(), f, Options{Timeout: time.Second}, map[string]string{"east": srv.URL + "/"})
	if len(got) != 2 {
		t.Fatalf("want a view per primary, got %+v", got)
	}
	east, west := got[0], got[1]
	if east.Error != "" || east.Pod != "" || len(east.Clusters) != 2 || east.Clusters[0].ID != "east" || east.Clusters[1].SyncStatus != "timeout" {
		t.Errorf("east: %+v", east)
	}
	// west has no debug address and no istiod pod to port-forward to.
	if west.NotRun == "" || !strings.Contains(west.NotRun, "--istiod-debug-address west=URL") || west.Clusters != nil {
		t.Errorf("west without an address or a pod: %+v", west)
	}

	bad := Istiod(context.Background(), f, Options{Timeout: time.Second}, map[string]string{"east": srv.URL + "/nothing"})
	if bad[0].Error == "" {
		t.Errorf("a 404 is an error: %+v", bad[0])
	}
}

// kubelet answers pods/portforward the way a kubelet does, with Kubernetes'
// own implementation, standing in for the API server and the kubelet behind
// it (the lab's e2e tests run the real path). It refuses WebSockets, so the
// client falls back to SPDY, as against an API server without
// PortForwardWebsockets.
type kubelet map[string]kubeletportforward.PortForwarder

func (k kubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ns, pod string
	if _, err := fmt.Sscanf(strings.ReplaceAll(r.URL.Path, "/", " "), " api v1 namespaces %s pods %s portforward", &ns, &pod); err != nil || k[pod] == nil {
		http.NotFound(w, r)
		return
	}
	if wsstream.IsWebSocketRequest(r) {
		http.Error(w, "no websockets here", http.StatusBadRequest)
		return
	}
	kubeletportforward.ServePortForward(w, r, k[pod], pod, "", &kubeletportforward.V4Options{},
		time.Minute, 10*time.Second, []string{kubeletportforward.ProtocolV1Name})
}

// answers serves HTTP on the forwarded stream, as istiod would.
type answers func(port int32, req *http.Request) (int, string)

func (a answers) PortForward(_ context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	req, err := http.ReadRequest(bufio.NewReader(stream))
	if err != nil {
		return err
	}
	code, body := a(port, req)
	resp := &http.Response{StatusCode: code, ProtoMajor: 1, ProtoMinor: 1, ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}
	return resp.Write(stream)
}

// hangs accepts the stream and never answers, as a wedged node would.
type hangs struct{ release chan struct{} }

func (h hangs) PortForward(ctx context.Context, _, _ string, _ int32, stream io.ReadWriteCloser) error {
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return stream.Close()
}

// refuses is a pod with nothing listening on the port.
type refuses struct{}

func (refuses) PortForward(_ context.Context, pod, _ string, port int32, _ io.ReadWriteCloser) error {
	return fmt.Errorf("failed to connect to localhost:%d inside the namespace of pod %s: connection refused", port, pod)
}

func istiodPod(name string, annotations map[string]string, phase string) model.Workload {
	return model.Workload{Meta: model.Meta{Namespace: "istio-system", Name: name, Annotations: annotations,
		Labels: map[string]string{"app": "istiod", "istio": "pilot"}}, Phase: phase, PodIP: "10.0.0.4"}
}

func TestIstiodReadsEveryReplicaThroughAPortForward(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var mu sync.Mutex
	var asked []string
	k := kubelet{
		"istiod-a": answers(func(port int32, r *http.Request) (int, string) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, fmt.Sprintf("%d %s", port, r.URL.Path))
			switch r.URL.Path {
			case registryzPath:
				return 200, registryzJSON
			case endpointShardzPath:
				return 200, shardzJSON
			}
			return 200, `[{"id":"west","secretName":"istio-system/istio-remote-secret-west","syncStatus":"synced"},{"id":"east","syncStatus":"synced"}]`
		}),
		"istiod-b":       hangs{release},
		"istiod-c":       refuses{},
		"istiod-d":       answers(func(int32, *http.Request) (int, string) { return 401, "" }),
		"istiod-pending": answers(func(int32, *http.Request) (int, string) { return 200, "[]" }),
	}
	srv := httptest.NewTLSServer(k)
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}

	f := credFleet(nil)
	east := f.Clusters[0]
	east.Pods = []model.Workload{
		istiodPod("istiod-d", nil, "Running"),
		istiodPod("istiod-b", nil, "Running"),
		istiodPod("istiod-a", map[string]string{"prometheus.io/port": "15099"}, "Running"),
		istiodPod("istiod-c", nil, "Running"),
		istiodPod("istiod-pending", nil, "Pending"),
	}
	// Long enough for three port-forwards of istiod-a on a loaded machine
	// (CI runs lab packages beside this one); istiod-b hangs until it.
	timeout := 4 * time.Second
	start := time.Now()
	// The run's shared connections, as the doctor reads: a hanging or
	// refusing replica's connection holds only its own views.
	forwards := NewForwards()
	defer forwards.Close()
	got := Istiod(context.Background(), f, Options{Timeout: timeout, Forwards: forwards, RESTConfig: func(name string) (*rest.Config, error) {
		if name != "east" {
			return nil, errors.New("no such context")
		}
		return cfg, nil
	}}, nil)
	took := time.Since(start)

	if len(got) != 4 {
		t.Fatalf("want one view per Running replica (4), got %+v", got)
	}
	byPod := map[string]model.IstiodView{}
	for _, v := range got {
		byPod[v.Pod] = v
	}
	a := byPod["istio-system/istiod-a"]
	if !a.Read() || len(a.Clusters) != 2 || a.Clusters[0].ID != "east" || a.Clusters[1].SyncStatus != "synced" {
		t.Errorf("istiod-a: %+v", a)
	}
	mu.Lock()
	defer mu.Unlock()
	// clusterz first, then the registry's two documents, networkz and
	// metrics, concurrently (so in any order), through the same port.
	rest := slices.Clone(asked)
	if len(rest) > 0 {
		rest = rest[1:]
	}
	slices.Sort(rest)
	if want := []string{"15099 /debug/endpointShardz", "15099 /debug/networkz", "15099 /debug/registryz", "15099 /metrics"}; len(asked) == 0 || asked[0] != "15099 /debug/clusterz" || !slices.Equal(rest, want) {
		t.Errorf("istiod-a was asked %v, want clusterz, then %v: on its prometheus.io/port", asked, want)
	}
	if a.Registry == nil || a.Registry.Error != "" || a.Registry.RegistryOf("west") == nil || a.Registry.RegistryOf("west").Ready["sample/httpbin"][0] != "10.2.0.5" {
		t.Errorf("istiod-a's registry through the port-forward: %+v", a.Registry)
	}
	// A replica whose clusterz could not be read is not asked its registry.
	for _, p := range []string{"istiod-b", "istiod-c", "istiod-d"} {
		if r := byPod["istio-system/"+p].Registry; r != nil {
			t.Errorf("%s: registry read after clusterz failed: %+v", p, r)
		}
	}
	if a.Address != "port-forward to istio-system/istiod-a:15099" {
		t.Errorf("istiod-a's address %q", a.Address)
	}
	if b := byPod["istio-system/istiod-b"]; b.Read() || !strings.Contains(b.Error, "deadline") {
		t.Errorf("a replica that never answers is an error naming the deadline: %+v", b)
	}
	if c := byPod["istio-system/istiod-c"]; c.Read() || !strings.Contains(c.Error, "connection refused") {
		t.Errorf("the kubelet's reason is reported: %+v", c)
	}
	if d := byPod["istio-system/istiod-d"]; d.Read() || !strings.Contains(d.Error, "401") {
		t.Errorf("a 401 from istiod is an error: %+v", d)
	}
	// The hanging replica is bounded by the probe's timeout; the deadline
	// promise of the doctor is + 1 s.
	if took > timeout+time.Second {
		t.Errorf("the read took %s with a hanging replica, bounded by %s", took, timeout)
	}
}

func TestIstiodWithoutClientOrPods(t *testing.T) {
	f := credFleet(nil)
	f.Clusters[0].Pods = []model.Workload{istiodPod("istiod-a", nil, "Running")}
	got := Istiod(context.Background(), f, Options{Timeout: time.Second, RESTConfig: func(string) (*rest.Config, error) {
		return nil, errors.New("context gone")
	}}, nil)
	if len(got) != 1 || got[0].Pod != "istio-system/istiod-a" || !strings.Contains(got[0].NotRun, "context gone") {
		t.Errorf("a replica with no client to reach it is not run: %+v", got)
	}
	f.Clusters[0].Failures = map[model.Kind]string{model.KindPods: "forbidden (403)"}
	got = Istiod(context.Background(), f, Options{Timeout: time.Second}, nil)
	if len(got) != 1 || !strings.Contains(got[0].NotRun, "forbidden") {
		t.Errorf("pods not listed: %+v", got)
	}
}

// upgrades counts the port-forward connections a kubelet was asked for,
// per pod.
type upgrades struct {
	kubelet
	mu sync.Mutex
	n  map[string]int
}

func (u *upgrades) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !wsstream.IsWebSocketRequest(r) {
		parts := strings.Split(r.URL.Path, "/")
		u.mu.Lock()
		u.n[parts[len(parts)-2]]++
		u.mu.Unlock()
	}
	u.kubelet.ServeHTTP(w, r)
}

// With the run's Forwards, one replica's clusterz, registryz,
// endpointShardz, networkz and metrics travel as five stream pairs of one
// port-forward connection, as kubectl port-forward carries its forwarded
// connections; without, each document dials its own.
func TestIstiodDocumentsShareOnePortForward(t *testing.T) {
	serve := answers(func(_ int32, r *http.Request) (int, string) {
		switch r.URL.Path {
		case registryzPath:
			return 200, registryzJSON
		case endpointShardzPath:
			return 200, shardzJSON
		}
		return 200, `[{"id":"west","secretName":"istio-system/istio-remote-secret-west","syncStatus":"synced"},{"id":"east","syncStatus":"synced"}]`
	})
	for _, shared := range []bool{true, false} {
		u := &upgrades{kubelet: kubelet{"istiod-a": serve, "istiod-b": serve}, n: map[string]int{}}
		srv := httptest.NewTLSServer(u)
		cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
		f := credFleet(nil)
		f.Clusters[0].Pods = []model.Workload{istiodPod("istiod-a", nil, "Running"), istiodPod("istiod-b", nil, "Running")}
		opts := Options{Timeout: 4 * time.Second, RESTConfig: func(string) (*rest.Config, error) { return cfg, nil }}
		if shared {
			opts.Forwards = NewForwards()
		}
		got := Istiod(context.Background(), f, opts, nil)
		opts.Forwards.Close()
		srv.Close()
		for _, v := range got {
			if !v.Read() || v.Registry == nil || v.Registry.Error != "" {
				t.Fatalf("shared=%v: %s not read whole: %+v", shared, v.Pod, v)
			}
		}
		want := map[string]int{"istiod-a": 1, "istiod-b": 1}
		if !shared {
			want = map[string]int{"istiod-a": 5, "istiod-b": 5}
		}
		if !maps.Equal(u.n, want) {
			t.Errorf("shared=%v: port-forward connections per pod %v, want %v", shared, u.n, want)
		}
	}
}

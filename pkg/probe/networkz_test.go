package probe

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// What the lab's istiod (pilot-discovery of the pinned istio.io/istio)
// wrote at /debug/networkz for a two-network mesh.
const networkzLab = `[{"Network":"network-west","Cluster":"west","Addr":"10.65.2.3","Port":15443,"HBONEPort":0,"ServiceAccount":{"Namespace":"","Name":""}},{"Network":"network-east","Cluster":"east","Addr":"10.65.1.3","Port":15443,"HBONEPort":0,"ServiceAccount":{"Namespace":"","Name":""}}]`

func TestParseNetworkz(t *testing.T) {
	got, msg := parseNetworkz([]byte(networkzLab))
	want := []model.IstiodGateway{
		{Network: "network-east", Cluster: "east", Address: "10.65.1.3", Port: 15443},
		{Network: "network-west", Cluster: "west", Address: "10.65.2.3", Port: 15443},
	}
	if msg != "" || !reflect.DeepEqual(got, want) {
		t.Errorf("parseNetworkz: %+v %q", got, msg)
	}
	if got, msg := parseNetworkz([]byte("null\n")); msg != "" || len(got) != 0 {
		t.Errorf("no gateways: %+v %q", got, msg)
	}
	if _, msg := parseNetworkz(nil); !strings.Contains(msg, "answered nothing") {
		t.Errorf("an empty answer: %q", msg)
	}
	if _, msg := parseNetworkz([]byte(`{"error":"x"}`)); !strings.Contains(msg, "not the list") {
		t.Errorf("not a list: %q", msg)
	}
}

// The lab istiod's /metrics (a healthy two-cluster mesh: no timeout, no
// reject, so those families are absent) and, appended, the families
// istiod exports once a remote cluster timed out and proxies rejected
// responses, in the format its exporter writes them.
func TestParseMetrics(t *testing.T) {
	lab, err := os.ReadFile("testdata/metrics-lab.txt")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseMetrics(bytes.NewReader(lab))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.SyncTimeouts) != 0 || len(m.XDSRejects) != 0 || m.SecretEvents["add"] != 1 || m.RemoteClusters == nil || *m.RemoteClusters != 1 || m.Started == nil || m.Started.Year() != 2026 {
		t.Errorf("healthy lab: %+v", m)
	}
	more := `# HELP remote_cluster_sync_timeouts_total Number of times remote clusters took too long to sync, causing slow startup that excludes remote clusters.
# TYPE remote_cluster_sync_timeouts_total counter
remote_cluster_sync_timeouts_total{cluster="west"} 2
# HELP pilot_total_xds_rejects Total number of XDS responses from pilot rejected by proxy.
# TYPE pilot_total_xds_rejects counter
pilot_total_xds_rejects{type="cds"} 3
# HELP pilot_xds_cds_reject Pilot rejected CDS configs.
# TYPE pilot_xds_cds_reject gauge
pilot_xds_cds_reject{err="InvalidArgument",node="sidecar~10.1.0.5~httpbin-5c8f.sample~sample.svc.cluster.local"} 1
`
	m, err = parseMetrics(strings.NewReader(string(lab) + more))
	if err != nil {
		t.Fatal(err)
	}
	if m.SyncTimeouts["west"] != 2 || m.XDSRejects["cds"] != 3 || len(m.Rejecting) != 1 ||
		m.Rejecting[0] != (model.XDSReject{Type: "cds", Node: "sidecar~10.1.0.5~httpbin-5c8f.sample~sample.svc.cluster.local", Code: "InvalidArgument"}) {
		t.Errorf("after timeouts and rejects: %+v", m)
	}
	if want := time.Unix(1796335703, 70000000).UTC(); m.Started.Sub(want).Abs() > time.Millisecond {
		t.Errorf("started %v, want %v", m.Started, want)
	}
}

func TestParseMetricsBounds(t *testing.T) {
	// A line longer than the reader's buffer is skipped, not an error.
	long := "other_metric{l=\"" + strings.Repeat("x", 200<<10) + "\"} 1\n" + `remote_cluster_sync_timeouts_total{cluster="west"} 1` + "\n"
	m, err := parseMetrics(strings.NewReader(long))
	if err != nil || m.SyncTimeouts["west"] != 1 {
		t.Errorf("after a long line: %+v %v", m, err)
	}
	// An answer past the limit is refused rather than judged in part.
	huge := strings.NewReader(strings.Repeat("other_metric 1\n", metricsLimit/15+10))
	if _, err := parseMetrics(huge); err == nil || !strings.Contains(err.Error(), "not read to its end") {
		t.Errorf("past the limit: %v", err)
	}
	if _, err := parseMetrics(strings.NewReader("remote_cluster_sync_timeouts_total{cluster=\"west\" 1\n")); err == nil {
		t.Error("a broken sample parsed")
	}
}

// At a debug address that is istiod's http port, /metrics answers 404:
// without a Running istiod pod of the context to ask instead, the view
// says so, naming the monitoring port, while networkz is read there.
func TestIstiodMetricsNotServedAtTheDebugAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/debug/clusterz":
			_, _ = w.Write([]byte(`[{"id":"east","syncStatus":"synced"}]`))
		case networkzPath:
			_, _ = w.Write([]byte(networkzLab))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	got := Istiod(context.Background(), credFleet(nil), Options{Timeout: 5 * time.Second, NoRegistry: true}, map[string]string{"east": srv.URL})
	if len(got) != 1 || got[0].Networkz == nil || len(got[0].Networkz.Gateways) != 2 {
		t.Fatalf("networkz at the debug address: %+v", got)
	}
	if m := got[0].Metrics; m == nil || !strings.Contains(m.Error, "404") || !strings.Contains(m.Error, "monitoring port") {
		t.Errorf("metrics at a debug address without them: %+v", m)
	}
}

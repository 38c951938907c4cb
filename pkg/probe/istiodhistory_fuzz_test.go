package probe

import (
	"bytes"
	"testing"
)

// FuzzParseNetworkz: istiod's /debug/networkz is read from a pod (or an
// address the user gave). Parsing never panics; it returns the gateways or
// why not, never both.
func FuzzParseNetworkz(f *testing.F) {
	f.Add([]byte(networkzLab))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`[{"Network":1}]`))
	f.Add([]byte("<html>502 Bad Gateway</html>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, why := parseNetworkz(b)
		if why != "" && got != nil {
			t.Fatalf("gateways and an error: %v, %q", got, why)
		}
	})
}

// FuzzParseMetrics: istiod's /metrics is read from a pod. Parsing never
// panics, and keeps at most model.MetricsRejectingMax rejecting proxies.
func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte("# TYPE remote_cluster_sync_timeouts_total counter\nremote_cluster_sync_timeouts_total{cluster=\"west\"} 2\n"))
	f.Add([]byte("pilot_xds_cds_reject{err=\"InvalidArgument\",node=\"sidecar~10.1.0.5~a.b~b.svc.cluster.local\"} 1\npilot_total_xds_rejects{type=\"cds\"} 1\n"))
	f.Add([]byte("process_start_time_seconds 1.79633570307e+09\n"))
	f.Add([]byte("# TYPE x gauge\nx 1\nremote_cluster_secret_events_total{event=\"add\"} NaN\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMetrics(bytes.NewReader(b))
		if err == nil && len(m.Rejecting) > 20 {
			t.Fatalf("%d rejecting proxies kept", len(m.Rejecting))
		}
	})
}

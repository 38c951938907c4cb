package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// metricsPath is istiod's Prometheus endpoint, on its monitoring port only
// (pilot/pkg/bootstrap/monitoring.go; not on the http port 8080 that also
// serves /debug).
const metricsPath = "/metrics"

// metricsLimit bounds what is read of /metrics: istiod writes a few hundred
// kilobytes, more with many proxies (the reject gauges carry one sample per
// proxy). Only the lines of the families below are kept.
const metricsLimit = 16 << 20

// The metric families read, by istiod's names: the multicluster secret
// controller's (pkg/kube/multicluster/secretcontroller.go, cluster.go), the
// xDS server's (pkg/xds/monitoring.go), and the process collector's.
const (
	metricSyncTimeouts    = "remote_cluster_sync_timeouts_total"
	metricSecretEvents    = "remote_cluster_secret_events_total"
	metricManagedClusters = "istiod_managed_clusters"
	metricXDSRejects      = "pilot_total_xds_rejects"
	metricStartTime       = "process_start_time_seconds"
)

// rejectGauges are the per-proxy reject gauges (kept for backward
// compatibility beside pilot_total_xds_rejects), by the type they count.
var rejectGauges = map[string]string{
	"pilot_xds_cds_reject": "cds",
	"pilot_xds_eds_reject": "eds",
	"pilot_xds_lds_reject": "lds",
	"pilot_xds_rds_reject": "rds",
}

func wantedMetric(name string) bool {
	switch name {
	case metricSyncTimeouts, metricSecretEvents, metricManagedClusters, metricXDSRejects, metricStartTime:
		return true
	}
	_, ok := rejectGauges[name]
	return ok
}

// readMetrics reads one istiod's /metrics.
func readMetrics(ctx context.Context, get getter) *model.IstiodMetrics {
	var out *model.IstiodMetrics
	err := get(ctx, metricsPath, func(r io.Reader) error {
		m, err := parseMetrics(r)
		out = m
		return err
	})
	if err != nil {
		msg := registryError(metricsPath, err)
		if strings.Contains(msg, "404") {
			msg += " (istiod serves its metrics on its monitoring port, 15014, only)"
		}
		return &model.IstiodMetrics{Error: msg}
	}
	return out
}

// parseMetrics keeps the samples of the wanted families of a Prometheus
// text exposition (at most metricsLimit bytes of it). A small reader of the
// documented format (see parseSample) rather than Prometheus' own parser:
// that one links its protobuf data model into the plugin, a quarter of a
// megabyte of a release binary that has almost no room left.
func parseMetrics(r io.Reader) (*model.IstiodMetrics, error) {
	kept, err := filterMetrics(r)
	if err != nil {
		return nil, err
	}
	out := &model.IstiodMetrics{}
	for n, line := range strings.Split(string(kept), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, lbl, v, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("not the Prometheus text format: line %d of the kept samples: %w", n+1, err)
		}
		if math.IsNaN(v) {
			continue
		}
		switch name {
		case metricSyncTimeouts:
			out.SyncTimeouts = add(out.SyncTimeouts, lbl["cluster"], v)
		case metricSecretEvents:
			out.SecretEvents = add(out.SecretEvents, lbl["event"], v)
		case metricXDSRejects:
			out.XDSRejects = add(out.XDSRejects, lbl["type"], v)
		case metricManagedClusters:
			if lbl["cluster_type"] == "remote" {
				out.RemoteClusters = &v
			}
		case metricStartTime:
			if v > 0 {
				sec, frac := math.Modf(v)
				t := time.Unix(int64(sec), int64(frac*1e9)).UTC()
				out.Started = &t
			}
		default:
			if typ, ok := rejectGauges[name]; ok && v > 0 {
				if len(out.Rejecting) < model.MetricsRejectingMax {
					out.Rejecting = append(out.Rejecting, model.XDSReject{Type: typ, Node: lbl["node"], Code: lbl["err"]})
				} else {
					out.RejectingMore++
				}
			}
		}
	}
	sort.Slice(out.Rejecting, func(i, j int) bool {
		a, b := out.Rejecting[i], out.Rejecting[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Code < b.Code
	})
	return out, nil
}

// parseSample reads one sample line of the text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/, "Text
// format details"):
//
//	metric_name [ "{" label_name "=" `"` label_value `"` { "," … } [ "," ] "}" ] value [ timestamp ]
//
// Label values escape backslash, double quote and line feed as \\, \" and
// \n; the value is a Go float (NaN, +Inf and -Inf included); the optional
// timestamp is dropped (istiod writes none).
func parseSample(line string) (name string, labels map[string]string, value float64, err error) {
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return "", nil, 0, fmt.Errorf("a sample without a value: %q", clip(line))
	}
	name, rest := line[:i], strings.TrimLeft(line[i:], " \t")
	if strings.HasPrefix(rest, "{") {
		labels, rest, err = parseLabels(rest[1:])
		if err != nil {
			return "", nil, 0, fmt.Errorf("sample %s: %w", name, err)
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return "", nil, 0, fmt.Errorf("sample %s: want a value and at most a timestamp, got %q", name, clip(rest))
	}
	value, err = strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", nil, 0, fmt.Errorf("sample %s: value %q is not a number", name, clip(f[0]))
	}
	return name, labels, value, nil
}

// parseLabels reads label pairs after a "{" up to its "}", and returns
// what follows.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, "", fmt.Errorf("labels not closed by '}'")
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return nil, "", fmt.Errorf("label %s: value not quoted", clip(key))
		}
		var v strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			c := s[j]
			if c == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					c = '\n'
				default: // \\ and \"
					c = s[j]
				}
			}
			v.WriteByte(c)
		}
		if j >= len(s) {
			return nil, "", fmt.Errorf("label %s: value not closed", clip(key))
		}
		labels[key] = v.String()
		s = strings.TrimLeft(s[j+1:], " \t")
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, "}"):
		default:
			return nil, "", fmt.Errorf("labels not closed by '}'")
		}
	}
}

// clip shortens what an error quotes of a line.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// filterMetrics returns the lines of r (read up to metricsLimit) that
// belong to a wanted family: its # HELP and # TYPE lines and its samples.
func filterMetrics(r io.Reader) ([]byte, error) {
	lr := &io.LimitedReader{R: r, N: metricsLimit + 1}
	br := bufio.NewReaderSize(lr, 64<<10)
	var kept bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer belongs to no family we read
			// (ours are short); skip the rest of it.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			if errors.Is(err, io.EOF) {
				break
			}
			continue
		}
		if len(line) > 0 && wantedMetric(metricName(line)) {
			kept.Write(line)
			if line[len(line)-1] != '\n' {
				kept.WriteByte('\n')
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("longer than %d MiB; not read to its end", metricsLimit>>20)
	}
	return kept.Bytes(), nil
}

// metricName is the family a line of the text format belongs to: the name
// of a sample, or the second word of a # HELP or # TYPE comment.
func metricName(line []byte) string {
	s := strings.TrimSpace(string(line))
	if rest, ok := strings.CutPrefix(s, "#"); ok {
		f := strings.Fields(rest)
		if len(f) >= 2 && (f[0] == "HELP" || f[0] == "TYPE") {
			return f[1]
		}
		return ""
	}
	if i := strings.IndexAny(s, "{ \t"); i >= 0 {
		return s[:i]
	}
	return s
}

func add(m map[string]float64, k string, v float64) map[string]float64 {
	if m == nil {
		m = map[string]float64{}
	}
	m[k] += v
	return m
}

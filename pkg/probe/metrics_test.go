package probe

import (
	"math"
	"reflect"
	"testing"
)

// TestParseSample: the text exposition format's sample lines, as the
// format's documentation gives them, and lines that are not samples.
func TestParseSample(t *testing.T) {
	for _, c := range []struct {
		line   string
		name   string
		labels map[string]string
		value  float64
		bad    bool
	}{
		{line: `process_start_time_seconds 1.79633570307e+09`, name: "process_start_time_seconds", value: 1.79633570307e+09},
		{line: `remote_cluster_sync_timeouts_total{cluster="west"} 2`, name: "remote_cluster_sync_timeouts_total", labels: map[string]string{"cluster": "west"}, value: 2},
		{line: `pilot_xds_cds_reject{err="InvalidArgument",node="sidecar~10.1.0.5~a.b~b.svc.cluster.local"} 1`, name: "pilot_xds_cds_reject",
			labels: map[string]string{"err": "InvalidArgument", "node": "sidecar~10.1.0.5~a.b~b.svc.cluster.local"}, value: 1},
		// The documentation's own example: escapes, a trailing comma, a timestamp.
		{line: `msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\"",} 1.458255915e9 1458255915000`, name: "msdos_file_access_time_seconds",
			labels: map[string]string{"path": `C:\DIR\FILE.TXT`, "error": "Cannot find file:\n\"FILE.TXT\""}, value: 1.458255915e9},
		{line: `x{a="}, b=\"c\""} +Inf`, name: "x", labels: map[string]string{"a": `}, b="c"`}, value: math.Inf(1)},
		{line: `x { a = "1" } -3.5`, name: "x", labels: map[string]string{"a": "1"}, value: -3.5},
		{line: `x{} 0`, name: "x", labels: map[string]string{}, value: 0},
		{line: `remote_cluster_sync_timeouts_total{cluster="west" 1`, bad: true},
		{line: `x{a="1"`, bad: true},
		{line: `x{a=1} 1`, bad: true},
		{line: `x{a="1} 1`, bad: true},
		{line: `x one`, bad: true},
		{line: `x`, bad: true},
		{line: `x 1 2 3`, bad: true},
		{line: `{a="1"} 1`, bad: true},
	} {
		name, labels, v, err := parseSample(c.line)
		if c.bad {
			if err == nil {
				t.Errorf("%s: parsed as %s %v %g, want an error", c.line, name, labels, v)
			}
			continue
		}
		if err != nil || name != c.name || !reflect.DeepEqual(labels, c.labels) || v != c.value {
			t.Errorf("%s: got %s %v %g %v, want %s %v %g", c.line, name, labels, v, err, c.name, c.labels, c.value)
		}
	}
}

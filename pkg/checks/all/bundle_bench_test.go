package all

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/bundle"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// syntheticBundle is the benchmarks' synthetic fleet (syntheticFleet: N
// clusters × M services, no API server) written as `kubectl meshfed dump`
// writes a bundle.
func syntheticBundle(tb testing.TB, services, clusters int, at time.Time) []byte {
	tb.Helper()
	var buf bytes.Buffer
	m := bundle.Manifest{Tool: bundle.Tool{Version: "synthetic"}, ReadAt: at, WrittenAt: at}
	if err := bundle.Write(&buf, syntheticFleet(tb, services, clusters), m); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkFromBundle is `doctor --from` on synthetic bundles, up to 50
// clusters × 10k services: read the bundle (gunzip, checksums, decode every
// cluster), merge it, and run every check, as the command does. It reports
// the bundle's size and the time spent reading and judging; -benchmem the
// memory:
//
//	go test ./pkg/checks/all -run '^$' -bench BenchmarkFromBundle -benchtime 3x -benchmem
//
// Nothing here is timed as a test.
func BenchmarkFromBundle(b *testing.B) {
	reg := Registry()
	for _, size := range []struct{ services, clusters int }{
		{1000, 2}, {10000, 2}, {10000, 5}, {10000, 20}, {10000, 50},
	} {
		if testing.Short() && size.services*size.clusters > 20000 {
			continue
		}
		b.Run(fmt.Sprintf("svc=%dk/clusters=%d", size.services/1000, size.clusters), func(b *testing.B) {
			raw := syntheticBundle(b, size.services, size.clusters, time.Now())
			b.ReportAllocs()
			var reading, judging time.Duration
			for b.Loop() {
				start := time.Now()
				bu, err := bundle.Read(bytes.NewReader(raw))
				if err != nil {
					b.Fatal(err)
				}
				m, err := bundle.Merge([]*bundle.Bundle{bu}, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				read := time.Now()
				checks.Run(m.Fleet, reg, checks.Selection{})
				reading, judging = reading+read.Sub(start), judging+time.Since(read)
			}
			// Reported after the loop: b.Loop's first call resets the
			// benchmark's own metrics.
			b.ReportMetric(float64(len(raw))/(1<<20), "bundle-MiB")
			b.ReportMetric(reading.Seconds()/float64(b.N), "read-s/op")
			b.ReportMetric(judging.Seconds()/float64(b.N), "checks-s/op")
		})
	}
}

// The synthetic bundle is judged as its fleet is. With
// MESHFED_SYNTHETIC_BUNDLE=FILE (and MESHFED_SYNTHETIC_SIZE=SERVICESxCLUSTERS,
// default 10000x50) it also writes one to FILE, to time the binary's
// `doctor --from FILE` end to end.
func TestSyntheticBundle(t *testing.T) {
	now := time.Now()
	opts := DefaultOptions()
	opts.Trust.Now = now
	reg := RegistryWith(opts)
	judge := func(res checks.Result) string {
		b, err := json.Marshal(struct {
			F []checks.Finding
			C []checks.CheckResult
		}{res.Findings, res.Checks})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := judge(checks.Run(syntheticFleet(t, 1000, 3), reg, checks.Selection{}))
	bu, err := bundle.Read(bytes.NewReader(syntheticBundle(t, 1000, 3, now)))
	if err != nil {
		t.Fatal(err)
	}
	if got := judge(checks.Run(bu.Fleet, reg, checks.Selection{})); got != want {
		t.Errorf("the synthetic bundle is judged otherwise than its fleet:\n%s\nwant\n%s", got, want)
	}
	path := os.Getenv("MESHFED_SYNTHETIC_BUNDLE")
	if path == "" {
		return
	}
	services, clusters := 10000, 50
	if s := os.Getenv("MESHFED_SYNTHETIC_SIZE"); s != "" {
		if _, err := fmt.Sscanf(s, "%dx%d", &services, &clusters); err != nil {
			t.Fatalf("MESHFED_SYNTHETIC_SIZE=%q: want SERVICESxCLUSTERS", s)
		}
	}
	if err := os.WriteFile(path, syntheticBundle(t, services, clusters, now), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d clusters × %d services", path, clusters, services)
}

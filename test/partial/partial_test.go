// Package partial runs the doctor over part of a healthy mesh, as an on-call
// engineer reads only the clusters of an incident: one lab of five clusters,
// every selection of one, two and three contexts. A partial read must raise
// no alarm of its own (no warning, no error), must list the clusters it did
// not read with the contexts that would read them, and must still find a
// real fault placed in a selected cluster.
//
// It is a package of its own so that `make test` runs it beside test/e2e.
package partial

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.Cleanup()
	os.Exit(code)
}

// meshSize is the lab's size: large enough that a selection of three
// leaves two clusters unread.
const meshSize = 5

func TestPartialReads(t *testing.T) {
	l := labtest.Start(t, "multi-primary", meshSize)
	all := l.Contexts()
	if len(all) != meshSize {
		t.Fatalf("lab has %d contexts, want %d", len(all), meshSize)
	}

	t.Run("healthy", func(t *testing.T) {
		for _, sel := range selections(all, 3) {
			t.Run(strings.Join(sel, "+"), func(t *testing.T) {
				r, code := doctor(t, l, sel)
				if bad := alarms(r); len(bad) > 0 || code != 0 {
					t.Errorf("a partial read of a healthy mesh raised alarms (exit %d with --fail-on warning):\n  %s", code, strings.Join(bad, "\n  "))
				}
				checkUnread(t, l, r, sel)
				checkMeshLine(t, r, sel)
				for _, f := range r.Findings {
					// The only unknown a healthy lab leaves: where else
					// helloworld has endpoints, which only reading the
					// other clusters tells (one region read).
					if f.Severity == checks.SeverityUnknown && f.Check != checks.MF5006 {
						t.Errorf("unexpected unknown finding %s %v: %s", f.Check, f.Contexts, f.Message)
					}
				}
			})
		}
	})

	t.Run("formats", func(t *testing.T) {
		sel := all[:1]
		text, code := run(t, l, sel, "-o", "text")
		if code != 0 || !strings.Contains(text, "In the mesh, not read") {
			t.Errorf("text (exit %d) does not list the unread members:\n%s", code, text)
		}
		for _, id := range others(l, sel) {
			if !strings.Contains(text, id) {
				t.Errorf("text does not name unread member %s", id)
			}
		}
		sarif, code := run(t, l, sel, "-o", "sarif")
		var log struct {
			Runs []struct {
				Results []struct {
					Level string `json:"level"`
				} `json:"results"`
				Invocations []struct {
					Notifications []struct {
						Message struct{ Text string } `json:"message"`
					} `json:"toolExecutionNotifications"`
				} `json:"invocations"`
			} `json:"runs"`
		}
		if err := json.Unmarshal([]byte(sarif), &log); err != nil || code != 0 || len(log.Runs) != 1 {
			t.Fatalf("sarif (exit %d): %v", code, err)
		}
		for _, res := range log.Runs[0].Results {
			if res.Level == "error" || res.Level == "warning" {
				t.Errorf("sarif has a %s result for a healthy partial read", res.Level)
			}
		}
		notes := 0
		for _, n := range log.Runs[0].Invocations[0].Notifications {
			if strings.Contains(n.Message.Text, "is in the mesh but was not read") {
				notes++
			}
		}
		if notes != meshSize-1 {
			t.Errorf("sarif names %d unread members, want %d", notes, meshSize-1)
		}
		junit, code := run(t, l, sel, "-o", "junit")
		var suites struct {
			Failures int `xml:"failures,attr"`
			Suites   []struct {
				SystemOut string `xml:"system-out"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal([]byte(junit), &suites); err != nil || code != 0 {
			t.Fatalf("junit (exit %d): %v", code, err)
		}
		if suites.Failures != 0 || len(suites.Suites) == 0 || strings.Count(suites.Suites[0].SystemOut, "in the mesh, not read") != meshSize-1 {
			t.Errorf("junit: %d failures, first suite's system-out %q", suites.Failures, suites.Suites[0].SystemOut)
		}
	})

	east, west := all[0], all[1]

	t.Run("fault/failover-region-nowhere", func(t *testing.T) {
		// A DestinationRule in east fails over to a region no cluster of
		// the whole mesh is in.
		dr := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
			"metadata": map[string]any{"name": "helloworld-typo", "namespace": "sample"},
			"spec": map[string]any{
				"host": "helloworld.sample.svc.cluster.local",
				"trafficPolicy": map[string]any{
					"outlierDetection": map[string]any{"consecutive5xxErrors": int64(5), "interval": "10s"},
					"loadBalancer": map[string]any{"localityLbSetting": map[string]any{
						"enabled":  true,
						"failover": []any{map[string]any{"from": regionOf(t, l, east), "to": "ap-nowhere-1"}},
					}},
				},
			},
		}}
		res := dyn(t, l, east).Resource(destinationRules).Namespace("sample")
		if _, err := res.Create(context.Background(), dr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := res.Delete(context.Background(), "helloworld-typo", metav1.DeleteOptions{}); err != nil {
				t.Errorf("removing the DestinationRule: %v", err)
			}
		}()
		want := fmt.Sprintf("warning MF5003 [%s] DestinationRule/sample/helloworld-typo", east)
		for _, sel := range [][]string{{east}, {east, west}, {east, all[2], all[4]}} {
			r, code := doctor(t, l, sel)
			if got := alarms(r); !slices.Equal(got, []string{want}) || code != 2 {
				t.Errorf("%v: exit %d, alarms\n  %s\nwant\n  %s", sel, code, strings.Join(got, "\n  "), want)
			}
			for _, f := range r.Findings {
				if f.Check == checks.MF5003 && !strings.Contains(f.Message, "ap-nowhere-1") {
					t.Errorf("%v: MF5003 does not name the region: %s", sel, f.Message)
				}
			}
		}
	})

	t.Run("fault/missing-remote-secret", func(t *testing.T) {
		// west's istiod loses its remote secret for east: between two
		// selected clusters, the doctor must see it; with east unread it
		// must not invent it.
		secrets := l.Client(west).CoreV1().Secrets("istio-system")
		name := "istio-remote-secret-" + l.ClusterID(east)
		saved, err := secrets.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := secrets.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			saved.ResourceVersion, saved.UID = "", ""
			if _, err := secrets.Create(context.Background(), saved, metav1.CreateOptions{}); err != nil {
				t.Errorf("restoring the remote secret: %v", err)
			}
		}()
		want := fmt.Sprintf("error MF4001 [%s %s] Secret/istio-system/%s", east, west, name)
		for _, sel := range [][]string{{east, west}, {west, east, all[3]}} {
			r, code := doctor(t, l, sel)
			if got := alarms(r); !slices.Equal(got, []string{want}) || code != 2 {
				t.Errorf("%v: exit %d, alarms\n  %s\nwant\n  %s", sel, code, strings.Join(got, "\n  "), want)
			}
		}
		// east not read: the pair is not compared, and nothing is invented.
		r, code := doctor(t, l, []string{west, all[2]})
		if got := alarms(r); len(got) > 0 || code != 0 {
			t.Errorf("west+%s: exit %d, alarms %v", all[2], code, got)
		}
	})
}

var destinationRules = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}

// selections lists every selection of 1 to max contexts, in order.
func selections(all []string, max int) [][]string {
	var out [][]string
	var walk func(start int, cur []string)
	walk = func(start int, cur []string) {
		if len(cur) > 0 {
			out = append(out, slices.Clone(cur))
		}
		if len(cur) == max {
			return
		}
		for i := start; i < len(all); i++ {
			walk(i+1, append(cur, all[i]))
		}
	}
	walk(0, nil)
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) < len(out[j]) })
	return out
}

// doctor runs the doctor on sel as JSON, failing on warnings too, and
// returns its report and exit code.
func doctor(t *testing.T, l *lab.Lab, sel []string) (*checks.Report, int) {
	t.Helper()
	out, code := run(t, l, sel, "-o", "json", "--fail-on", "warning")
	var r checks.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor %v: exit %d, not a report: %v\n%s", sel, code, err, out)
	}
	return &r, code
}

func run(t *testing.T, l *lab.Lab, sel []string, args ...string) (string, int) {
	t.Helper()
	out, stderr, code := labtest.Run(t, l, append([]string{"doctor", "--contexts", strings.Join(sel, ",")}, args...)...)
	if code == 3 {
		t.Fatalf("doctor %v could not run: %s", sel, stderr)
	}
	return out, code
}

// alarms are the warning and error findings as "severity check [contexts] object".
func alarms(r *checks.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity >= checks.SeverityWarning {
			out = append(out, fmt.Sprintf("%s %s %v %s", f.Severity, f.Check, f.Contexts, f.Object))
		}
	}
	return out
}

// others are the cluster IDs of the lab's contexts not in sel, sorted.
func others(l *lab.Lab, sel []string) []string {
	var out []string
	for _, c := range l.Contexts() {
		if !slices.Contains(sel, c) {
			out = append(out, l.ClusterID(c))
		}
	}
	sort.Strings(out)
	return out
}

// checkUnread: the report lists exactly the lab's other clusters, each with
// the context whose API server its remote secrets name, and the regions
// istiod's reader sees there; the checks that compare clusters name them.
func checkUnread(t *testing.T, l *lab.Lab, r *checks.Report, sel []string) {
	t.Helper()
	want := others(l, sel)
	var got []string
	for _, m := range r.UnreadMembers {
		got = append(got, m.ClusterID)
		ctx := contextOf(l, m.ClusterID)
		if m.Context != ctx || m.MatchedBy != model.MatchedByServer {
			t.Errorf("unread %s: context %q matched by %q, want %q by server", m.ClusterID, m.Context, m.MatchedBy, ctx)
		}
		if region := regionOf(t, l, ctx); !slices.Equal(m.Regions, []string{region}) {
			t.Errorf("unread %s: regions %v, want [%s]", m.ClusterID, m.Regions, region)
		}
		if m.Network != l.Network(ctx) {
			t.Errorf("unread %s: network %q, want %q", m.ClusterID, m.Network, l.Network(ctx))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("unread members %v, want %v", got, want)
	}
	for _, c := range r.Checks {
		if c.ID == checks.MF1001 || c.ID == checks.MF2001 || c.ID == checks.MF4012 {
			if !slices.Equal(c.NotCompared, want) {
				t.Errorf("%s: not compared %v, want %v", c.ID, c.NotCompared, want)
			}
		}
	}
}

// checkMeshLine: the mesh line describes the mesh, not the selection.
func checkMeshLine(t *testing.T, r *checks.Report, sel []string) {
	t.Helper()
	if r.Mesh == nil || len(r.Mesh.Lines) == 0 {
		t.Fatal("no mesh overview")
	}
	// One primary read: the others' roles are not known, but their
	// networks are, as istiod's reader sees their Istio namespace.
	want := "multi-primary, multi-network"
	if len(sel) == 1 {
		want = "multi-cluster, multi-network"
	}
	if r.Mesh.Lines[0] != want {
		t.Errorf("mesh line %q, want %q", r.Mesh.Lines[0], want)
	}
	if strings.Contains(strings.Join(r.Mesh.Lines, "\n"), "single-") {
		t.Errorf("a partial read described as single-cluster or single-network: %v", r.Mesh.Lines)
	}
}

func contextOf(l *lab.Lab, clusterID string) string {
	for _, c := range l.Contexts() {
		if l.ClusterID(c) == clusterID {
			return c
		}
	}
	return ""
}

// regionOf reads the region of a cluster's nodes from its API server.
func regionOf(t *testing.T, l *lab.Lab, ctx string) string {
	t.Helper()
	nodes, err := l.Client(ctx).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes of %s: %v", ctx, err)
	}
	return nodes.Items[0].Labels["topology.kubernetes.io/region"]
}

func dyn(t *testing.T, l *lab.Lab, ctx string) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(l.RESTConfig(ctx))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

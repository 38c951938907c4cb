package render

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func plainStyles() Styles { return NewStyles(&bytes.Buffer{}, false) }

func TestTextGolden(t *testing.T) {
	for name, r := range map[string]*checks.Report{
		"mixed.txt":   mixedReport(),
		"healthy.txt": healthyReport(t),
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Text(&b, r, mustCatalog(t), plainStyles()); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b.Bytes(), []byte("\x1b")) {
				t.Error("plain text output holds escape sequences")
			}
			golden(t, name, b.Bytes())
		})
	}
}

// The golden file pins the layout; these pin what the report must say
// whatever the layout becomes.
func TestTextSaysWhatMatters(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, mixedReport(), mustCatalog(t), plainStyles()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"net-east", "primary", "unreachable: dial tcp 10.99.3.2:6443", // header
		"✗ MF2001", "! MF3001", "? MF1001", "✓ MF5001", // one symbol per status
		"contexts: east, west", "object: Secret istio-system/cacerts", // where
		"east: root CN=Root A, SHA-256 3f:2a:9b", // evidence
		"why: Workloads in different clusters cannot verify each other's certificates.",
		"kubectl meshfed explain MF2001",
		"not checked on north",
		"2 errors, 1 warning, 1 info, 1 unknown · 6 checks, 1 passed, 1 incomplete, 1 not run · 3 clusters (1 unreachable)",
		"– not run: MF6001: no AWS Private CA was named; --pca-arn ARN runs them",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// The second sentence of an explanation is for `explain`, not the report.
	if strings.Contains(out, "Cross-cluster mTLS fails") {
		t.Error("report shows more than the first sentence of the explanation")
	}
	// Areas in catalog order.
	order := []string{"General", "Topology", "Trust", "Connectivity", "Locality"}
	last := -1
	for _, a := range order {
		i := strings.Index(out, "\n"+a+"\n")
		if i < last {
			t.Errorf("area %s is out of catalog order (index %d after %d)", a, i, last)
		}
		last = i
	}
	if strings.Contains(out, "\nDiscovery\n") {
		t.Error("an area with no selected check has a heading")
	}
}

func TestTextPassedChecksShareALinePerArea(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, healthyReport(t), mustCatalog(t), plainStyles()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "why:") || strings.Contains(out, "explain") {
		t.Errorf("passed checks carry details:\n%s", out)
	}
	var listed []string
	for _, line := range strings.Split(out, "\n") {
		if ids, ok := strings.CutPrefix(strings.TrimSpace(line), "✓ passed: "); ok {
			listed = append(listed, strings.Fields(ids)...)
		}
	}
	if len(listed) != 5 || strings.Count(out, "✓ passed:") != 5 {
		t.Errorf("want the 5 passed checks on one line per area (5 areas), got %v:\n%s", listed, out)
	}
	for _, title := range []string{"Cluster IDs are unique", "Roots agree"} {
		if strings.Contains(out, title) {
			t.Errorf("a passed check's title (%q) is shown; titles name problems", title)
		}
	}
	if !strings.Contains(out, "0 errors, 0 warnings, 0 unknown · 5 checks, 5 passed · 2 clusters") {
		t.Errorf("summary line wrong:\n%s", out)
	}
}

func TestTextColour(t *testing.T) {
	r := lipgloss.NewRenderer(&bytes.Buffer{})
	r.SetColorProfile(termenv.ANSI256)
	var b bytes.Buffer
	if err := Text(&b, mixedReport(), mustCatalog(t), newStyles(r)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("\x1b[")) {
		t.Error("coloured styles wrote no escape sequences")
	}
}

func TestColorEnabled(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	if ColorEnabled(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal, yet colour is enabled")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ColorEnabled(f) {
		t.Error("a file is not a terminal, yet colour is enabled")
	}
	t.Setenv("NO_COLOR", "1")
	if ColorEnabled(os.Stdout) {
		t.Error("NO_COLOR is set, yet colour is enabled")
	}
}

func TestFirstSentence(t *testing.T) {
	for in, want := range map[string]string{
		"One. Two.":                        "One.",
		"Keys by ID, e.g. east. Then more": "Keys by ID, e.g. east.",
		"No full stop":                     "No full stop",
		"Spread\n  over\nlines. Next":      "Spread over lines.",
		"Version 1.2 is old. Upgrade":      "Version 1.2 is old.",
		"":                                 "",
	} {
		if got := FirstSentence(in); got != want {
			t.Errorf("FirstSentence(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTextGroupsUnknownContexts(t *testing.T) {
	r := mixedReport()
	r.Clusters = append(r.Clusters, checks.ClusterSummary{Context: "south", Role: "unknown", Error: "i/o timeout"})
	r.Checks[1].Unknown = []checks.UnknownContext{
		{Context: "north", Reason: "cluster unreachable: connection refused"},
		{Context: "east", Reason: "secrets could not be read: forbidden"},
		{Context: "south", Reason: "cluster unreachable: i/o timeout"},
	}
	var b bytes.Buffer
	if err := Text(&b, r, mustCatalog(t), plainStyles()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"? not checked on north, south: cluster unreachable (see Clusters)",
		"? not checked on east: secrets could not be read: forbidden",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestJSONKeepsMessagesReadable(t *testing.T) {
	r := mixedReport()
	r.Findings[0].Message = "GET https://10.0.0.1/api?a=1&b=2 failed: <none>"
	var b bytes.Buffer
	if err := JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "a=1&b=2 failed: <none>") {
		t.Errorf("JSON escapes the message:\n%s", b.String())
	}
}

func TestTextOpensWithTheMesh(t *testing.T) {
	r := healthyReport(t)
	r.Mesh = &checks.MeshOverview{
		Lines:     []string{"multi-primary, 2 networks", "network1: east (primary)", "network2: west (primary)"},
		TradeOffs: "Every primary keeps working when another network is cut.",
	}
	var b bytes.Buffer
	if err := Text(&b, r, mustCatalog(t), plainStyles()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	mesh, areas := strings.Index(out, "Mesh multi-primary, 2 networks"), strings.Index(out, "\nGeneral\n")
	if mesh < 0 || areas < 0 || mesh > areas || !strings.Contains(out, "  network2: west (primary)") || !strings.Contains(out, "keeps working") {
		t.Errorf("the mesh overview should follow the clusters and precede the checks:\n%s", out)
	}
	r.Mesh = nil
	b.Reset()
	if err := Text(&b, r, mustCatalog(t), plainStyles()); err != nil || strings.Contains(b.String(), "Mesh") {
		t.Errorf("no overview, no Mesh heading:\n%s", b.String())
	}
}

func TestTextShowsReachabilityUnderConnectivity(t *testing.T) {
	r := healthyReport(t)
	r.Reachability = &model.ReachabilityMatrix{From: "this machine (ci)", Networks: []string{"net1", "net2"}, Cells: map[string]map[string]model.ReachabilityCell{
		"net1": {"net2": {Outcome: model.ProbeOK, Addresses: []string{"192.0.2.2:15443"}}},
		"net2": {"net1": {Outcome: model.ProbeRefused, Addresses: []string{"192.0.2.1:15443"}}},
	}}
	var b bytes.Buffer
	if err := Text(&b, r, mustCatalog(t), plainStyles()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	conn, view, next := strings.Index(out, "\nConnectivity\n"), strings.Index(out, "probed from this machine (ci)"), strings.Index(out, "\nLocality\n")
	if conn < 0 || view < conn || view > next || !strings.Contains(out, "refused") {
		t.Errorf("the reachability view should sit in the Connectivity section and say where the probes ran:\n%s", out)
	}
}

// TestTextReportedElsewhereIsNoTick: a check that left what it saw to
// another check reads "reported under", never ✓.
func TestTextReportedElsewhereIsNoTick(t *testing.T) {
	r := healthyReport(t)
	for i := range r.Checks {
		if i == 0 {
			r.Checks[i].Status, r.Checks[i].ReportedUnder = checks.StatusReportedElsewhere, []checks.ID{"MF4011"}
			r.Summary.Passed--
			r.Summary.ReportedElsewhere++
		}
	}
	id := string(r.Checks[0].ID)
	var b bytes.Buffer
	if err := Text(&b, r, mustCatalog(t), plainStyles()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "→ "+id+" reported under MF4011") {
		t.Errorf("no \"→ %s reported under MF4011\" line:\n%s", id, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "✓") && strings.Contains(line, id) {
			t.Errorf("%s shown as passed: %q", id, line)
		}
	}
	if !strings.Contains(out, "4 passed, 1 reported under another") {
		t.Errorf("summary does not count it apart:\n%s", out)
	}
}

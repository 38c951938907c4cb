package discovery_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// TestFindingsNeverQuoteSecrets runs the discovery checks on every MF4
// fixture and asserts that no finding carries the fixtures' token or any
// piece of a kubeconfig.
func TestFindingsNeverQuoteSecrets(t *testing.T) {
	dirs, _ := filepath.Glob("../all/testdata/MF4*/*")
	if len(dirs) == 0 {
		t.Fatal("no MF4 fixtures")
	}
	reg := all.Registry()
	forbidden := []string{"fixture-not-a-token", "apiVersion", "current-context", "not: a kubeconfig", "command: aws"}
	for _, dir := range dirs {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		res := checks.Run(f, reg, checks.Selection{Only: []string{"discovery"}})
		b, _ := json.Marshal(res.Findings)
		for _, s := range forbidden {
			if strings.Contains(string(b), s) {
				t.Errorf("%s: a finding quotes %q: %s", dir, s, b)
			}
		}
	}
}

// TestIstiodReplicasAreNamed: when replicas of one istiod disagree, or one
// cannot be read, the finding names the replica (its pod), so that the
// person reading it knows which pod to look at.
func TestIstiodReplicasAreNamed(t *testing.T) {
	for dir, want := range map[string][]string{
		"fail-replicas-disagree":  {"istio-system/istiod-7d9c-a", "istio-system/istiod-7d9c-b"},
		"fail-replica-unreadable": {"istiod-7d9c-b"},
	} {
		f, err := fleet.LoadDir(filepath.Join("../all/testdata/MF4011", dir), "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF4011"}})
		if len(res.Findings) != 1 {
			t.Fatalf("%s: want one MF4011 finding, got %+v", dir, res.Findings)
		}
		for _, w := range want {
			if !strings.Contains(res.Findings[0].Message, w) {
				t.Errorf("%s: the finding does not name replica %s: %s", dir, w, res.Findings[0].Message)
			}
		}
		t.Logf("%s: %s", dir, res.Findings[0].Message)
	}
}

// TestMF4011CauseFollowsTheEvidence: when the credentials work from here
// and istiod has not synced the peer, MF4011 does not blame the network
// for a peer whose CRDs do not serve what istiod lists: that is MF4035's
// finding, which names the CRD, the served versions and the listed one.
// Where the CRDs are fine, the cause is unknown from here, and the
// finding says what was seen and what is left.
func TestMF4011CauseFollowsTheEvidence(t *testing.T) {
	skew, err := fleet.LoadDir("../all/testdata/MF4035/fail-v1-not-served", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(skew, all.Registry(), checks.Selection{Only: []string{"MF4011", "MF4035"}})
	var got []string
	for _, f := range res.Findings {
		got = append(got, string(f.Check))
		if f.Check == "MF4035" {
			for _, w := range []string{"workloadentries.networking.istio.io", "v1alpha3, v1beta1", "networking.istio.io/v1", "never syncs"} {
				if !strings.Contains(f.Message, w) {
					t.Errorf("MF4035 does not say %q: %s", w, f.Message)
				}
			}
		}
	}
	if strings.Join(got, ",") != "MF4035" {
		t.Errorf("findings %v, want MF4035 alone (MF4011 reported under it)", got)
	}
	for _, c := range res.Checks {
		if c.ID == "MF4011" && (c.Status != checks.StatusReportedElsewhere || len(c.ReportedUnder) != 1 || c.ReportedUnder[0] != "MF4035") {
			t.Errorf("MF4011 is %s under %v, want reported under MF4035", c.Status, c.ReportedUnder)
		}
	}

	cut, err := fleet.LoadDir("../all/testdata/MF4011/fail-cut-path", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res = checks.Run(cut, all.Registry(), checks.Selection{Only: []string{"MF4011"}})
	if len(res.Findings) != 1 {
		t.Fatalf("want one MF4011 finding on the cut path, got %+v", res.Findings)
	}
	msg := res.Findings[0].Message
	for _, w := range []string{"cause unknown", "credentials are good", "path from east's istiod", "west serves every Istio CRD version istiod lists"} {
		if !strings.Contains(msg, w) {
			t.Errorf("MF4011 on the cut path does not say %q: %s", w, msg)
		}
	}

	// With istiod's log read, the cause is the one the log names.
	logged, err := fleet.LoadDir("../all/testdata/MF4011/fail-cut-path-logged", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res = checks.Run(logged, all.Registry(), checks.Selection{Only: []string{"MF4011"}})
	if len(res.Findings) != 1 {
		t.Fatalf("want one MF4011 finding on the logged cut path, got %+v", res.Findings)
	}
	msg = res.Findings[0].Message
	for _, w := range []string{`istiod's log says "dial tcp 10.0.2.2:6443: i/o timeout"`, "path from east's istiod to https://10.0.2.2:6443 is broken"} {
		if !strings.Contains(msg, w) {
			t.Errorf("MF4011 with the log does not say %q: %s", w, msg)
		}
	}
	if strings.Contains(msg, "cause unknown") {
		t.Errorf("MF4011 says the cause is unknown although the log names it: %s", msg)
	}
}

// TestMF4025NamesTheCause: a sidecar sent nothing for another network's
// endpoints is explained by what istiod lacks: with no remote secret for
// that cluster, MF4001 reports it (MF4025 reported under it, not a second
// error); with the secret and the peer synced, the gateway without an
// address is the cause.
func TestMF4025NamesTheCause(t *testing.T) {
	f, err := fleet.LoadDir("../all/testdata/MF4025/pass-no-remote-secret-reported-under-mf4001", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF4025"}})
	if len(res.Findings) != 0 || len(res.Checks) != 1 || !slices.Equal(res.Checks[0].ReportedUnder, []checks.ID{"MF4001"}) {
		t.Errorf("no remote secret: want MF4025 reported under MF4001 and no finding, got %+v %+v", res.Checks, res.Findings)
	}
	f, err = fleet.LoadDir("../all/testdata/MF4025/fail-gateway-without-address", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res = checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF4025"}})
	if len(res.Findings) == 0 {
		t.Fatal("gateway without address: no MF4025 finding")
	}
	for _, fd := range res.Findings {
		if !strings.Contains(fd.Message, "east-west gateway has no address") {
			t.Errorf("the finding does not name the gateway: %s", fd.Message)
		}
	}
}

// TestMF4026NamesTheGateway: istiod sends another network's pods as they
// are when that network's gateway has no address, so MF3002 (which says
// why) reports it, not MF4026.
func TestMF4026NamesTheGateway(t *testing.T) {
	f, err := fleet.LoadDir("../all/testdata/MF4026/pass-gateway-without-address-reported-under-mf3002", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF4026"}})
	if len(res.Findings) != 0 || len(res.Checks) != 1 || !slices.Equal(res.Checks[0].ReportedUnder, []checks.ID{"MF3002"}) {
		t.Errorf("gateway without address: want MF4026 reported under MF3002 and no finding, got %+v %+v", res.Checks, res.Findings)
	}
}

// TestMF4021LeavesDiscoverySelectorsToMF4032: when every endpoint istiod
// lacks is in a namespace its discoverySelectors drop in the peer (and keep
// at home), MF4032 reports it, naming the selectors and the labels.
func TestMF4021LeavesDiscoverySelectorsToMF4032(t *testing.T) {
	f, err := fleet.LoadDir("../all/testdata/MF4021/pass-discovery-selectors-reported-under-mf4032", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF4021", "MF4032"}})
	var under []checks.ID
	for _, c := range res.Checks {
		if c.ID == "MF4021" {
			under = c.ReportedUnder
		}
	}
	if !slices.Equal(under, []checks.ID{"MF4032"}) {
		t.Errorf("MF4021 reported under %v, want MF4032", under)
	}
	if len(res.Findings) == 0 {
		t.Fatal("no finding: the dropped namespace is reported by nobody")
	}
	for _, fd := range res.Findings {
		if fd.Check != "MF4032" {
			t.Errorf("finding %s beside MF4032: %s", fd.Check, fd.Message)
		}
	}
}

// TestMF4025LeavesDiscoverySelectorsToMF4032: a sidecar sent nothing of a
// namespace east's istiod drops in west is MF4032's to report.
func TestMF4025LeavesDiscoverySelectorsToMF4032(t *testing.T) {
	f, err := fleet.LoadDir("../all/testdata/MF4025/pass-discovery-selectors-reported-under-mf4032", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF4025", "MF4032"}})
	for _, c := range res.Checks {
		if c.ID == "MF4025" && !slices.Equal(c.ReportedUnder, []checks.ID{"MF4032"}) {
			t.Errorf("MF4025 reported under %v, want MF4032", c.ReportedUnder)
		}
	}
	if len(res.Findings) == 0 {
		t.Fatal("no finding: the dropped namespace is reported by nobody")
	}
	for _, fd := range res.Findings {
		if fd.Check != "MF4032" {
			t.Errorf("finding %s beside MF4032: %s", fd.Check, fd.Message)
		}
	}
}

// TestMF3030LeavesDiscoverySelectorsToMF4032: east's istiod cannot list
// west's gateway because its discoverySelectors drop the gateway's
// namespace in west; MF4032 says so (with the gateway), MF3030 does not
// repeat it (test/istiod TestDiscoverySelectorsOnLiveLab).
func TestMF3030LeavesDiscoverySelectorsToMF4032(t *testing.T) {
	f, err := fleet.LoadDir("../all/testdata/MF3030/pass-discovery-selectors-reported-under-mf4032", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF3030", "MF4032"}})
	for _, c := range res.Checks {
		if c.ID == "MF3030" && !slices.Equal(c.ReportedUnder, []checks.ID{"MF4032"}) {
			t.Errorf("MF3030 reported under %v (status %s), want MF4032", c.ReportedUnder, c.Status)
		}
	}
	var mf4032 int
	for _, fd := range res.Findings {
		if fd.Check != "MF4032" {
			t.Errorf("finding %s beside MF4032: %s", fd.Check, fd.Message)
			continue
		}
		mf4032++
		if !strings.Contains(fd.Message, "istio-eastwestgateway") {
			t.Errorf("MF4032 does not name the gateway it drops: %s", fd.Message)
		}
	}
	if mf4032 == 0 {
		t.Fatal("no MF4032: the dropped gateway namespace is reported by nobody")
	}
}

// TestMF5007LeavesMissingOutlierDetectionToMF5002: istiod applies no
// failover without outlierDetection, which MF5002 reports.
func TestMF5007LeavesMissingOutlierDetectionToMF5002(t *testing.T) {
	f, err := fleet.LoadDir("../all/testdata/MF5007/pass-no-outlier-detection-reported-under-mf5002", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF5002", "MF5007"}})
	for _, c := range res.Checks {
		if c.ID == "MF5007" && !slices.Equal(c.ReportedUnder, []checks.ID{"MF5002"}) {
			t.Errorf("MF5007 %s, reported under %v, want MF5002", c.Status, c.ReportedUnder)
		}
	}
	if len(res.Findings) == 0 {
		t.Error("no MF5002 finding: the missing outlierDetection is reported by nobody")
	}
	for _, fd := range res.Findings {
		if fd.Check != "MF5002" {
			t.Errorf("finding %s beside MF5002: %s", fd.Check, fd.Message)
		}
	}
}

package discovery_test

import (
	"encoding/json"
	"path/filepath"
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

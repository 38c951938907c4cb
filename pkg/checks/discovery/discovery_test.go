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

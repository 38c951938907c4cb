package diagnosis

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// TestRegistryReadOnlyForItsChecks: istiod's registry (tens of megabytes
// per replica on a large mesh) is read only when a check that judges it
// runs.
func TestRegistryReadOnlyForItsChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		sel  *checks.Selection
		want bool
	}{
		{"topology: no checks", nil, false},
		{"every check", &checks.Selection{}, true},
		{"the discovery area", &checks.Selection{Only: []string{"discovery"}}, true},
		{"one of them", &checks.Selection{Only: []string{"MF4021"}}, true},
		{"both skipped", &checks.Selection{Skip: []string{"MF4020", "MF4021"}}, false},
		{"other checks only", &checks.Selection{Only: []string{"trust", "MF4011"}}, false},
	} {
		if got := judges(tc.sel, checks.MF4020, checks.MF4021); got != tc.want {
			t.Errorf("%s: reads the registry %v, want %v", tc.name, got, tc.want)
		}
	}
}

package e2e

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// onlyAreas keeps the findings of the topology (MF1), connectivity (MF3)
// and locality (MF5) checks: the scenarios below are about those.
func onlyAreas(fs []finding) []finding {
	var out []finding
	for _, f := range fs {
		if strings.HasPrefix(f.Check, "MF1") || strings.HasPrefix(f.Check, "MF3") || strings.HasPrefix(f.Check, "MF5") {
			out = append(out, f)
		}
	}
	return out
}

// connectivityCase runs doctor on a lab of the scenario and compares the
// MF1/MF3/MF5 findings with want (check@contexts, sorted).
func connectivityCase(t *testing.T, scenario string, clusters int, want []string, args ...string) {
	t.Helper()
	l := labtest.Start(t, scenario, clusters)
	all := append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, args...)
	out, stderr, _ := labtest.Run(t, l, all...)
	r := parseReport(t, out)
	if got := keys(onlyAreas(r.Findings)); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: findings %v, want %v\nstderr: %s", scenario, got, want, stderr)
		for _, f := range onlyAreas(r.Findings) {
			t.Logf("  %s %s: %s", f.Check, f.Severity, f.Message)
		}
	}
}

func TestConnectivitySeveralNetworksHealthy(t *testing.T) {
	connectivityCase(t, "multi-primary", 3, nil)
}

func TestConnectivitySingleNetworkHealthy(t *testing.T) {
	connectivityCase(t, "single-network", 2, nil)
}

func TestConnectivityPrimaryRemoteHealthy(t *testing.T) {
	connectivityCase(t, "primary-remote", 2, nil)
}

func TestConnectivityGatewayPending(t *testing.T) {
	connectivityCase(t, "gateway-pending", 2, []string{"MF3002@west"})
}

func TestLocalityFailoverWithoutOutlierDetection(t *testing.T) {
	connectivityCase(t, "no-outlier-detection", 2, []string{"MF5002@east", "MF5002@west"})
}

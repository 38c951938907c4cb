package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// expectFindings runs doctor (probes on) on every context of the lab and
// compares the MF1/MF3/MF5 findings with want (labtest.ExpectFindings).
func expectFindings(t *testing.T, l *lab.Lab, want []string, args ...string) report {
	t.Helper()
	return labtest.ExpectFindings(t, l, want, args...)
}

func connectivityCase(t *testing.T, scenario string, clusters int, want []string) {
	t.Helper()
	expectFindings(t, labtest.Start(t, scenario, clusters), want)
}

func TestConnectivitySeveralNetworksHealthy(t *testing.T) {
	expectFindings(t, labtest.Shared(t, "multi-primary", 3), nil)
}

func TestConnectivityPrimaryRemoteHealthy(t *testing.T) {
	expectFindings(t, labtest.Shared(t, "primary-remote", 2), nil)
}

func TestConnectivitySingleNetworkHealthy(t *testing.T) {
	connectivityCase(t, "single-network", 2, nil)
}

func TestConnectivityGatewayPending(t *testing.T) {
	connectivityCase(t, "gateway-pending", 2, []string{"MF3002@west"})
}

func TestConnectivityNoGateway(t *testing.T) {
	connectivityCase(t, "no-gateway", 2, []string{"MF3001@west"})
}

func TestConnectivityGatewayRefusing(t *testing.T) {
	connectivityCase(t, "gateway-refusing", 2, []string{"MF3012@west"})
}

func TestConnectivityWrongCertificateAtGateway(t *testing.T) {
	connectivityCase(t, "gateway-wrong-cert", 2, []string{"MF3013@west"})
}

func TestConnectivityDuplicateGateway(t *testing.T) {
	connectivityCase(t, "duplicate-gateway", 2, []string{"MF3007@west"})
}

func TestConnectivityOverlappingCIDRsOnOneNetwork(t *testing.T) {
	connectivityCase(t, "overlapping-cidrs", 2, []string{"MF3011@east,west"})
}

func TestLocalityFailoverWithoutOutlierDetection(t *testing.T) {
	connectivityCase(t, "no-outlier-detection", 2, []string{"MF5002@east", "MF5002@west"})
}

// A gateway that accepts and never answers: the probe times out (a warning,
// since only this machine's path was tried) and the doctor still ends
// within --timeout + --probe-timeout (by default --timeout again) + 1s.
func TestConnectivityGatewayHanging(t *testing.T) {
	const timeout = 2 * time.Second
	l := labtest.Start(t, "gateway-hanging", 2)
	labtest.Plugin(t) // built before the clock starts
	start := time.Now()
	r := expectFindings(t, l, []string{"MF3012@west"}, "--timeout", timeout.String())
	if took := time.Since(start); took > 2*timeout+time.Second {
		t.Errorf("doctor took %s with --timeout %s (and --probe-timeout as much) and a hanging gateway", took, timeout)
	}
	for _, f := range r.Findings {
		if f.Check == "MF3012" && (f.Severity != "warning" || !strings.Contains(f.Message, "this machine")) {
			t.Errorf("MF3012 %s: %s (want a warning saying where the probe ran)", f.Severity, f.Message)
		}
	}
}

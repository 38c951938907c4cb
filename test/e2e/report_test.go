package e2e

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// The report of `doctor -o json` as the tests read it (internal/reporttest,
// shared with test/istiod).
type (
	report      = reporttest.Report
	finding     = reporttest.Finding
	trustReport = reporttest.TrustReport
)

func parseReport(t *testing.T, out string) report {
	t.Helper()
	return reporttest.Parse(t, out)
}

func requireSchema(t *testing.T, out string) {
	t.Helper()
	reporttest.RequireSchema(t, out)
}

// keys identifies findings as check@contexts, sorted, for comparison.
func keys(fs []finding) []string { return reporttest.Keys(fs) }

func without(fs []finding, check string) []finding { return reporttest.Without(fs, check) }

// checkStatus returns the status of a check in the report.
func checkStatus(t testing.TB, out, id string) string {
	t.Helper()
	return reporttest.CheckStatus(t, out, id)
}

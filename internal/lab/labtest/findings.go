package labtest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// ExpectFindings runs doctor (probes on) on every context of the lab and
// compares its topology (MF1), connectivity (MF3) and locality (MF5)
// findings with want (check@contexts, sorted): the areas the connectivity
// scenarios and their fixes are about.
func ExpectFindings(t *testing.T, l *lab.Lab, want []string, args ...string) reporttest.Report {
	t.Helper()
	all := append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, args...)
	out, stderr, _ := Run(t, l, all...)
	r := reporttest.Parse(t, out)
	if got := reporttest.Keys(connectivityAreas(r.Findings)); !reflect.DeepEqual(got, want) {
		t.Errorf("findings %v, want %v\nstderr: %s", got, want, stderr)
		for _, f := range connectivityAreas(r.Findings) {
			t.Logf("  %s %s: %s", f.Check, f.Severity, f.Message)
		}
	}
	return r
}

func connectivityAreas(fs []reporttest.Finding) []reporttest.Finding {
	var out []reporttest.Finding
	for _, f := range fs {
		if strings.HasPrefix(f.Check, "MF1") || strings.HasPrefix(f.Check, "MF3") || strings.HasPrefix(f.Check, "MF5") {
			out = append(out, f)
		}
	}
	return out
}

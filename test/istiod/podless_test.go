package istiod

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// TestPodlessEndpointsOnLiveLab: on the podless-endpoints lab the doctor
// reports, of everything it checks, only MF4016 for east's Service legacy
// (a hand-written endpoint with no pod, which istiod never sends through
// east's gateway) called from west; the WorkloadEntry of west's VM, which
// istiod sends through west's gateway (test/xds), gives no finding. The
// healthy scenarios, whose endpoints all have pods, give no MF4016.
func TestPodlessEndpointsOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "podless-endpoints", 2)
	labtest.RequireIsolation(t, l)
	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
	r := reporttest.Parse(t, out)
	if got, want := reporttest.Keys(r.Findings), []string{"MF4016@east,west"}; !reflect.DeepEqual(got, want) {
		t.Errorf("findings %v, want %v\nstderr: %s", got, want, stderr)
	}
	for _, f := range reporttest.Of(r.Findings, "MF4016") {
		t.Logf("%s %s: %s %v", f.Check, f.Severity, f.Message, f.Evidence)
		if f.Object == nil || f.Object.Namespace != "sample" || f.Object.Name != "legacy" || f.Severity != "warning" {
			t.Errorf("MF4016 about %+v (%s), want a warning about Service sample/legacy", f.Object, f.Severity)
		}
	}

	for _, sc := range []struct {
		name     string
		clusters int
	}{{"multi-primary", 3}, {"primary-remote", 2}} {
		t.Run("healthy "+sc.name, func(t *testing.T) {
			l := labtest.Shared(t, sc.name, sc.clusters)
			out, _, _ := labtest.Run(t, l, "doctor", "-o", "json", "--no-probes", "--checks", "MF4016", "--contexts", strings.Join(l.Contexts(), ","))
			if fs := reporttest.Of(reporttest.Parse(t, out).Findings, "MF4016"); len(fs) != 0 {
				t.Errorf("MF4016 on healthy %s: %v", sc.name, reporttest.Keys(fs))
			}
		})
	}
}

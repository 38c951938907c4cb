package all

import (
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// TestProbeChecksUnknownWhereUnread: the checks that judge probe results
// need the kinds that say what was probed. Where one of them could not be
// read, the check is "unknown" for that cluster, with the reason, and says
// nothing about it, instead of passing silently.
func TestProbeChecksUnknownWhereUnread(t *testing.T) {
	cases := []struct {
		fixture string
		unread  model.Kind
		ids     []checks.ID
	}{
		{"testdata/MF4011/fail-bad-token", model.KindSecrets, []checks.ID{"MF4007", "MF4008", "MF4009", "MF4010", "MF4011"}},
		{"testdata/MF3012/fail-refused", model.KindConfigMaps, []checks.ID{"MF3012", "MF3013"}},
		{"testdata/MF4020/fail-stale-peer", model.KindPods, []checks.ID{"MF4020", "MF4021"}},
		{"testdata/MF4021/fail-missing-endpoints", model.KindEndpointSlices, []checks.ID{"MF4021"}},
	}
	reg := Registry()
	for _, tc := range cases {
		f, err := fleet.LoadDir(tc.fixture, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Clusters {
			if c.Failures == nil {
				c.Failures = map[model.Kind]string{}
			}
			c.Failures[tc.unread] = "forbidden (403)"
		}
		var only []string
		for _, id := range tc.ids {
			only = append(only, string(id))
		}
		res := checks.Run(f, reg, checks.Selection{Only: only})
		if len(res.Findings) != 0 {
			t.Errorf("%s: findings about clusters that could not be read: %+v", tc.fixture, res.Findings)
		}
		for _, r := range res.Checks {
			if r.Status != checks.StatusUnknown {
				t.Errorf("%s: %s is %s, want unknown", tc.fixture, r.ID, r.Status)
			}
			if len(r.Unknown) != len(f.Clusters) {
				t.Errorf("%s: %s says why for %d of %d clusters: %+v", tc.fixture, r.ID, len(r.Unknown), len(f.Clusters), r.Unknown)
			}
			for _, u := range r.Unknown {
				if !strings.Contains(u.Reason, string(tc.unread)) {
					t.Errorf("%s: %s: %s's reason %q does not name %s", tc.fixture, r.ID, u.Context, u.Reason, tc.unread)
				}
			}
		}
		if len(res.Checks) != len(tc.ids) {
			t.Errorf("%s: %d results for %d checks", tc.fixture, len(res.Checks), len(tc.ids))
		}
	}
}

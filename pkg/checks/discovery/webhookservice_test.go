package discovery_test

import (
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// TestWebhookServiceCauses: a remote's injection webhook that calls a
// Service the API server cannot use is reported once, by the check that
// names the cause (MF4040: no such Service, with what exists instead and
// the failure policy's effect; MF4041: an ExternalName, with the port the
// API server really calls), and MF3015, which follows the same call,
// leaves it to that check instead of passing or blaming the address.
func TestWebhookServiceCauses(t *testing.T) {
	for _, tc := range []struct {
		dir, check string
		say        []string
	}{
		{"../all/testdata/MF4040/fail-revision-service-named-istiod", "MF4040", []string{
			"istio-sidecar-injector-canary", "istio-system/istiod-canary, which does not exist", "rejected (failurePolicy Fail)",
			`service "istiod-canary" not found`, "Service istio-system/istiod (no selector; endpoints 192.0.2.1:15012 (tcp-istiod), 192.0.2.1:15017 (tcp-webhook))"}},
		{"../all/testdata/MF4040/fail-tag-ignore-warning", "MF4040", []string{"created without a sidecar (failurePolicy Ignore)", `revision tag "prod"`}},
		{"../all/testdata/MF4041/fail-externalname-gateway-hostname", "MF4041", []string{
			"ExternalName Service istio-system/istiod", "east-gw.elb.example.com:443", "--enable-aggregator-routing",
			"the load balancer of Service istio-gateways/istio-eastwestgateway in east, ports 15012, 15017, 15021, 15443"}},
	} {
		f, err := fleet.LoadDir(tc.dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"MF3015", "MF4040", "MF4041"}})
		if len(res.Findings) != 1 || string(res.Findings[0].Check) != tc.check {
			t.Fatalf("%s: findings %+v, want one %s", tc.dir, res.Findings, tc.check)
		}
		text := res.Findings[0].Message + "\n" + strings.Join(res.Findings[0].Evidence, "\n")
		for _, w := range tc.say {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %s does not say %q:\n%s", tc.dir, tc.check, w, text)
			}
		}
		for _, c := range res.Checks {
			if c.ID == "MF3015" && (c.Status != checks.StatusReportedElsewhere || len(c.ReportedUnder) != 1 || string(c.ReportedUnder[0]) != tc.check) {
				t.Errorf("%s: MF3015 is %s under %v, want reported under %s", tc.dir, c.Status, c.ReportedUnder, tc.check)
			}
		}
		t.Logf("%s: %s", tc.dir, text)
	}
}

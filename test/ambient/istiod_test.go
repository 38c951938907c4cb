package ambient

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// ambientFindings runs doctor on every context of l and returns the data
// plane of each cluster and its MF7 findings as check@contexts, sorted.
func ambientFindings(t *testing.T, l *lab.Lab) (map[string]string, []string) {
	t.Helper()
	out, stderr, _ := labtest.Run(t, l, append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, l.IstiodDebugFlags()...)...)
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json: %v\n%s\n%s", err, out, stderr)
	}
	modes := map[string]string{}
	for _, c := range r.Clusters {
		modes[c.Context] = c.DataPlane
	}
	var got []string
	for _, f := range r.Findings {
		if strings.HasPrefix(f.Check, "MF7") {
			got = append(got, f.Check+"@"+strings.Join(f.Contexts, ","))
			t.Logf("%s@%v: %s", f.Check, f.Contexts, f.Message)
		}
	}
	sort.Strings(got)
	return modes, got
}

// The real istiod, run with the ambient profile's PILOT_ENABLE_AMBIENT and
// the guide's AMBIENT_ENABLE_MULTI_NETWORK (ambient-istiod), in clusters
// where nothing else of ambient multi-network is installed: each network
// lacks its istio-east-west Gateway, each cluster the GatewayClass.
func TestAmbientIstiodWithoutEastWestGateways(t *testing.T) {
	l := labtest.Start(t, "ambient-istiod", 2)
	modes, got := ambientFindings(t, l)
	if want := map[string]string{"east": "mixed", "west": "mixed"}; !reflect.DeepEqual(modes, want) {
		t.Errorf("data planes %v, want %v", modes, want)
	}
	if want := []string{"MF7010@east", "MF7010@west", "MF7013@east", "MF7013@west"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ambient findings %v, want %v", got, want)
	}
}

// One primary without AMBIENT_ENABLE_MULTI_NETWORK (ambient-multi-network-off):
// MF7001 names it, and only the other network is held to a gateway.
func TestAmbientMultiNetworkOffOnOnePrimary(t *testing.T) {
	l := labtest.Start(t, "ambient-multi-network-off", 2)
	_, got := ambientFindings(t, l)
	if want := []string{"MF7001@west", "MF7010@east", "MF7013@east"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ambient findings %v, want %v", got, want)
	}
}

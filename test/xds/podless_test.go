package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/xdstest"
)

// TestPodlessEndpointsView: on the podless-endpoints lab (two networks),
// what istiod really sends matches what the doctor says of it (MF4016).
// east's Service legacy has only a hand-written endpoint, with no pod
// behind it: east's istiod holds it with TLSMode disabled and no locality,
// sends it to east's sidecars directly, and sends west's sidecars nothing
// for it (it never routes a non-mTLS endpoint through a gateway); the
// doctor reports exactly that pair (legacy in east, called from west). A
// VM in west registered as a WorkloadEntry (network, locality,
// tlsMode istio) is sent to east's sidecars through west's gateway on
// 15443 with its locality, as a pod would be, and the doctor says nothing
// of it.
func TestPodlessEndpointsView(t *testing.T) {
	l := labtest.Start(t, "podless-endpoints", 2)
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	legacyAddr := podPrefix(l, "east") + ".1.250"
	vmAddr := podPrefix(l, "west") + ".1.251"
	want := map[string]map[string][]string{ // sidecar of → service → EDS lines
		"east": {
			"legacy": {viewLine(legacyAddr+":8080", 1, "//", true)},
			"vm":     {viewLine(l.GatewayAddress("west")+":15443", 1, "us-west-2/us-west-2a/", true)},
		},
		"west": {
			"legacy": {},
			"vm":     {viewLine(vmAddr+":9080", 1, "us-west-2/us-west-2a/", true)},
		},
	}
	ports := map[string]int32{"legacy": 8080, "vm": 9080}
	for _, p := range []string{"east", "west"} {
		me, ok := sidecarOf(ctx, t, l, p)
		if !ok {
			t.Fatalf("%s: no injected sample pod to be a sidecar of", p)
		}
		var problems []string
		for deadline := time.Now().Add(viewSettle); ; time.Sleep(500 * time.Millisecond) {
			problems = nil
			got := edsOf(ctx, t, l, p, me, ports)
			for svc, w := range want[p] {
				if !slices.Equal(got[svc], w) {
					problems = append(problems, fmt.Sprintf("EDS of %s for a sidecar of %s:\n got  %q\n want %q", svc, p, got[svc], w))
				}
			}
			if len(problems) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, pr := range problems {
			t.Error(pr)
		}
	}
	// What east's istiod holds of the hand-written endpoint: no pod, so
	// TLS mode disabled (and no locality: the EDS line above).
	if mode := shardTLSMode(ctx, t, l, "east", "legacy", legacyAddr); mode != "disabled" {
		t.Errorf("east's istiod holds legacy's endpoint %s with TLSMode %q, want disabled", legacyAddr, mode)
	}

	// The doctor says the same: MF4016 for legacy in east, west calling it,
	// and nothing for the WorkloadEntry.
	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--no-probes", "--checks", "MF4016", "--contexts", "east,west")
	var rep struct {
		Findings []struct {
			Check    string
			Contexts []string
			Message  string
			Object   *struct{ Kind, Namespace, Name string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor -o json: %v\n%s\n%s", err, out, stderr)
	}
	var got []string
	for _, f := range rep.Findings {
		if f.Check != "MF4016" {
			continue
		}
		got = append(got, fmt.Sprintf("%s %s/%s %v", f.Check, f.Object.Namespace, f.Object.Name, f.Contexts))
		t.Logf("%s: %s", f.Check, f.Message)
		if !strings.Contains(f.Message, "sidecars in west are sent nothing") {
			t.Errorf("MF4016 says %q, want that west's sidecars are sent nothing (as istiod does above)", f.Message)
		}
	}
	if w := []string{"MF4016 sample/legacy [east west]"}; !slices.Equal(got, w) {
		t.Errorf("doctor findings %q, want %q", got, w)
	}
}

// edsOf asks p's istiod, as sidecar me, for the sample services' endpoints
// (service → port), one line per endpoint as viewLine writes it.
func edsOf(ctx context.Context, t *testing.T, l *lab.Lab, p string, me xdstest.Sidecar, ports map[string]int32) map[string][]string {
	t.Helper()
	client, err := xdstest.Dial(ctx, l.IstiodXDSAddress(p), me)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rctx, rcancel := context.WithTimeout(ctx, xdstest.DefaultTimeout)
	defer rcancel()
	if _, err := client.Clusters(rctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	bySvc := map[string]string{}
	for svc, port := range ports {
		n := fmt.Sprintf("outbound|%d||%s.sample.svc.cluster.local", port, svc)
		names = append(names, n)
		bySvc[svc] = n
	}
	cla, err := client.Endpoints(rctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for svc, n := range bySvc {
		out[svc] = []string{}
		for _, e := range xdstest.Flatten(cla[n]) {
			out[svc] = append(out[svc], viewLine(e.Address, e.Weight, e.Locality, e.Healthy))
		}
		t.Logf("EDS %s for a sidecar of %s: %q", n, p, out[svc])
	}
	return out
}

// podPrefix is the first two octets of cluster c's pod addresses
// (172.<16+index>), as the lab's nodes' pod CIDRs give them.
func podPrefix(l *lab.Lab, c string) string {
	for i, name := range l.Contexts() {
		if name == c {
			return fmt.Sprintf("172.%d", 17+i)
		}
	}
	return ""
}

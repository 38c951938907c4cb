package e2e

import (
	"context"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// onlyDiscovery keeps the discovery findings (MF4).
func onlyDiscovery(fs []finding) []finding { return reporttest.Discovery(fs) }

type discoveryCase struct {
	scenario  string
	isolation bool
	// clusterz is what east's istiod must report of west once the fault has
	// settled ("" when west must be absent).
	clusterz string
	// want are the MF4 findings (check@contexts, sorted); say is a phrase
	// the first of them must contain.
	want []string
	say  string
	// mf4011 is MF4011's status the report must give ("" unchecked);
	// notSay a phrase no finding may contain.
	mf4011 string
	notSay string
	// istiodUnready: east's istiod never finishes its start, so /ready
	// answers 503 and no xDS port listens (the scenario's istiodUnready),
	// and the first finding says it is unready.
	istiodUnready bool
}

var discoveryCases = []discoveryCase{
	{scenario: "multi-primary", clusterz: lab.Synced},
	{scenario: "primary-remote", clusterz: lab.Synced},
	// The token is rejected: istiod times out, and the probe says why.
	{scenario: "bad-remote-secret", clusterz: lab.Timeout, want: []string{"MF4011@east,west"}, say: "401"},
	// No secret at all: istiod does not list west.
	{scenario: "missing-remote-secret", clusterz: "", want: []string{"MF4001@east,west"}},
	// This machine reaches west with east's secret; east's istiod cannot.
	{scenario: "cut-path", isolation: true, clusterz: lab.Timeout, want: []string{"MF4011@east,west"}, say: "path from east's istiod"},
	// west kept an older Istio's WorkloadEntry CRD (no v1): east's istiod
	// never syncs it although secret and path are good. MF4035 names the
	// CRD and the versions; MF4011 leaves the cause to it, and nothing
	// sends the reader to the network.
	{scenario: "crd-version-skew", clusterz: lab.Timeout, want: []string{"MF4035@east,west"}, say: "workloadentries.networking.istio.io serves only v1alpha3, v1beta1",
		mf4011: "reported-elsewhere", notSay: "firewall", istiodUnready: true},
}

// TestDiscoveryAgreesWithIstiod runs the doctor, with the probes and
// istiod's debug addresses, on a lab per discovery fault, and checks that
// its findings agree with what east's istiod itself reports of west at
// /debug/clusterz: a peer istiod has synced gives no error, one it has not
// gives exactly one finding that says why.
func TestDiscoveryAgreesWithIstiod(t *testing.T) {
	for _, tc := range discoveryCases {
		t.Run(tc.scenario, func(t *testing.T) {
			l := labtest.Start(t, tc.scenario, 2)
			if tc.isolation {
				labtest.RequireIsolation(t, l)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			clusterz, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool {
				return m["west"] == tc.clusterz && m["east"] == lab.Synced
			})
			if err != nil {
				t.Fatalf("east's clusterz never showed west %q: %v (last %v)", tc.clusterz, err, clusterz)
			}

			if tc.istiodUnready {
				requireIstiodUnready(t, l, "east")
			}

			args := append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, l.IstiodDebugFlags()...)
			out, stderr, _ := labtest.Run(t, l, args...)
			r := parseReport(t, out)
			got := onlyDiscovery(r.Findings)
			if k := keys(got); !reflect.DeepEqual(k, tc.want) {
				t.Errorf("findings %v, want %v (east's clusterz %v)\nstderr: %s", k, tc.want, clusterz, stderr)
				for _, f := range got {
					t.Logf("  %s %s: %s", f.Check, f.Severity, f.Message)
				}
			}
			for _, f := range got {
				t.Logf("%s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
			}
			if tc.say != "" && len(got) > 0 && !strings.Contains(got[0].Message, tc.say) {
				t.Errorf("%s does not say %q: %s", got[0].Check, tc.say, got[0].Message)
			}
			if tc.istiodUnready && len(got) > 0 && !strings.Contains(got[0].Message, "unready") {
				t.Errorf("%s does not say east's istiod is unready: %s", got[0].Check, got[0].Message)
			}
			if tc.mf4011 != "" {
				if st := checkStatus(t, out, "MF4011"); st != tc.mf4011 {
					t.Errorf("MF4011 is %q, want %q", st, tc.mf4011)
				}
			}
			for _, f := range r.Findings {
				if tc.notSay != "" && strings.Contains(f.Message, tc.notSay) {
					t.Errorf("%s says %q: %s", f.Check, tc.notSay, f.Message)
				}
			}
			// Agreement with istiod: no error about east→west when istiod has
			// it synced; an error when it has not.
			var errorEastWest bool
			for _, f := range got {
				if f.Severity == "error" && strings.Join(f.Contexts, ",") == "east,west" {
					errorEastWest = true
				}
			}
			if errorEastWest != (clusterz["west"] != lab.Synced) {
				t.Errorf("istiod of east reports west %q, but the doctor's error about it: %v", clusterz["west"], errorEastWest)
			}
			for _, s := range labSecrets(t, l) {
				if len(s) > 8 && (strings.Contains(out, s) || strings.Contains(stderr, s)) {
					t.Errorf("the report quotes secret material (%d bytes)", len(s))
				}
			}
		})
	}
}

// TestDiscoveryFaultsOnLiveLab breaks east's remote secret for west one way
// at a time on a healthy lab, waits for east's istiod to show it, and checks
// that the doctor's discovery findings name the fault and agree with
// istiod's /debug/clusterz; then restores the secret.
func TestDiscoveryFaultsOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	ctx := context.Background()
	servers := labtest.ContextServers(t, l)
	for _, tc := range labtest.SecretFaults {
		t.Run(tc.Name, func(t *testing.T) {
			wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			clusterz := labtest.BreakRemoteSecret(t, wctx, l, tc, servers)

			args := append([]string{"doctor", "-o", "json", "--contexts", "east,west"}, l.IstiodDebugFlags()...)
			out, stderr, _ := labtest.Run(t, l, args...)
			got := onlyDiscovery(parseReport(t, out).Findings)
			for _, f := range got {
				t.Logf("%s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
			}
			if k := keys(got); !reflect.DeepEqual(k, tc.Want) {
				t.Errorf("findings %v, want %v (east's clusterz %v)\nstderr: %s", k, tc.Want, clusterz, stderr)
			}
			if tc.Say != "" && len(got) > 0 && !strings.Contains(got[0].Message, tc.Say) {
				t.Errorf("%s does not say %q", got[0].Check, tc.Say)
			}
			var errorEastWest bool
			for _, f := range got {
				errorEastWest = errorEastWest || (f.Severity == "error" && strings.Join(f.Contexts, ",") == "east,west")
			}
			if errorEastWest != (clusterz["west"] != lab.Synced) {
				t.Errorf("istiod of east reports west %q, but the doctor's error about it: %v", clusterz["west"], errorEastWest)
			}
			for _, s := range labSecrets(t, l) {
				if len(s) > 8 && (strings.Contains(out, s) || strings.Contains(stderr, s)) {
					t.Errorf("the report quotes secret material (%d bytes)", len(s))
				}
			}
		})
	}
}

// BenchmarkDoctorWithProbes times `doctor` with every probe (gateways,
// remote credentials with the reader's access reviews, istiod's clusterz)
// on 3 healthy clusters, warm: the first run is not timed. istiod's view is
// read through a port-forward to each istiod pod (API server → node agent
// → istiod), as against a real cluster, and at the debug addresses.
//
//	go test ./test/e2e -run '^$' -bench DoctorWithProbes -benchtime 5x
func BenchmarkDoctorWithProbes(b *testing.B) {
	l := labtest.Start(b, "multi-primary", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, p := range l.Primaries() {
		if _, err := l.WaitClusterz(ctx, p, func(m map[string]string) bool {
			return len(m) == 3 && m["east"] == lab.Synced && m["west"] == lab.Synced && m["central"] == lab.Synced
		}); err != nil {
			b.Fatal(err)
		}
	}
	doctor := []string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}
	for _, path := range []struct {
		name string
		args []string
	}{
		{"port-forward", doctor},
		{"debug-address", append(append([]string(nil), doctor...), l.IstiodDebugFlags()...)},
	} {
		b.Run(path.name, func(b *testing.B) {
			out, stderr, code := labtest.Run(b, l, path.args...)
			if code != 0 {
				b.Fatalf("a healthy lab: exit %d\n%s\n%s", code, out, stderr)
			}
			if st := checkStatus(b, out, "MF4011"); st != "pass" {
				b.Fatalf("MF4011 %q: istiod's view was not read", st)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				labtest.Run(b, l, path.args...)
			}
		})
	}
}

// requireIstiodUnready checks what istiod's source says of a registry that
// never syncs (pilot/pkg/bootstrap/server.go Start: waitForCacheSync comes
// before the xDS and webhook listeners and before the discovery readiness
// flag): the context's istiod answers /ready with 503 and does not listen
// for plaintext xDS (15010; 15012 and 15017 open in the same step).
func requireIstiodUnready(t *testing.T, l *lab.Lab, context string) {
	t.Helper()
	resp, err := http.Get(l.IstiodDebugURL(context) + "/ready")
	if err != nil {
		t.Fatalf("istiod of %s: /ready: %v", context, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("istiod of %s: /ready answers %d, want 503", context, resp.StatusCode)
	}
	conn, err := net.DialTimeout("tcp", l.IstiodXDSAddress(context), 2*time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("istiod of %s listens for xDS on %s", context, l.IstiodXDSAddress(context))
	} else {
		t.Logf("istiod of %s after %s: /ready %d, xDS %s: %v", context, l.ReadyAfter(), resp.StatusCode, l.IstiodXDSAddress(context), err)
	}
}

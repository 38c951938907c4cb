package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// fixedLeaves are the discovery findings a fault leaves once fix has
// applied its plan: fix deletes nothing, so a stray copy or a wrong key
// stays, with a note saying what to remove. Faults not named leave none.
var fixedLeaves = map[string][]string{
	// The stray copy in default is only stale now (warning).
	"wrong namespace": {"MF4002@east,west"},
	// The own-key entry beside the new west entry does nothing (warning).
	"key is east's own ID": {"MF4003@east,west"},
	// The west-1 entry still makes istiod read west a second time, as
	// "west-1": fix says to remove it, and the doctor keeps saying so.
	"key is not west's ID": {"MF4007@east,west"},
}

// fixFaults are the doctor's secret faults after which east's istiod lists
// no cluster west at all. Faults that leave west registered but failing
// (a server back at east or where nothing listens, a reader without
// nodes) are not repaired on this shared lab: after fix had repaired one,
// the lab's restore (delete the secret, write it anew) once left east's
// istiod without west for good, which would break the faults after it. A
// rejected token, the same kind of fault, is repaired on its own lab
// (TestFixDiscoveryRejectedToken).
func fixFaults() []secretFault {
	var out []secretFault
	for _, f := range secretFaults {
		if f.clusterz == "" {
			out = append(out, f)
		}
	}
	return out
}

// TestFixDiscoveryOnLiveLab breaks east's remote secret for west one way at
// a time and repairs it as a user would: the doctor reports the fault,
// `fix --apply` applies its plan, east's istiod itself (/debug/clusterz)
// then has west synced, the doctor reports no discovery error, and fix run
// again plans nothing and, applied, changes nothing. No token appears in
// anything fix prints.
func TestFixDiscoveryOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	labtest.RequireIsolation(t, l) // fix refuses the loopback servers of a lab without its own networks
	servers := contextServers(t, l)
	for _, tc := range fixFaults() {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			breakRemoteSecret(t, ctx, l, tc, servers)
			before := discoveryFindings(t, l)
			if k := keys(before); !reflect.DeepEqual(k, tc.want) {
				t.Fatalf("before fix: findings %v, want %v", k, tc.want)
			}

			out := runDiscoveryFix(t, l, 0, "--apply")
			waitWestSynced(t, ctx, l)
			after := discoveryFindings(t, l)
			if k, want := keys(after), fixedLeaves[tc.name]; !reflect.DeepEqual(k, want) && !(len(k) == 0 && len(want) == 0) {
				t.Errorf("after fix: findings %v, want %v", k, want)
			}
			if len(fixedLeaves[tc.name]) > 0 && !strings.Contains(out, "kubectl --context east") {
				t.Errorf("fix leaves %v but its plan says nothing to run:\n%s", fixedLeaves[tc.name], out)
			}
			requireConverged(t, ctx, l)
		})
	}
}

// TestFixDiscoveryRejectedToken repairs the bad-remote-secret scenario:
// west's API server rejects the token of east's secret, so east's istiod
// has west registered but timed out; fix rewrites the secret in place and
// istiod swaps in the working cluster.
func TestFixDiscoveryRejectedToken(t *testing.T) {
	l := labtest.Start(t, "bad-remote-secret", 2)
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if m, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool { return m["west"] == lab.Timeout }); err != nil {
		t.Fatalf("east's istiod never timed west out: %v (%v)", err, m)
	}
	if k := keys(discoveryFindings(t, l)); !reflect.DeepEqual(k, []string{"MF4011@east,west"}) {
		t.Fatalf("before fix: %v", k)
	}
	runDiscoveryFix(t, l, 0, "--apply")
	waitWestSynced(t, ctx, l)
	if after := discoveryFindings(t, l); len(after) != 0 {
		t.Errorf("after fix: %v", keys(after))
	}
	requireConverged(t, ctx, l)
}

// TestFixDiscoveryTokenDuration: with --token-duration the new secret holds
// a TokenRequest token of that lifetime, not the token secret's.
func TestFixDiscoveryTokenDuration(t *testing.T) {
	l := labtest.Start(t, "missing-remote-secret", 2)
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	before := discoveryFindings(t, l)
	if k := keys(before); !reflect.DeepEqual(k, []string{"MF4001@east,west"}) {
		t.Fatalf("before fix: %v", k)
	}
	start := time.Now()
	runDiscoveryFix(t, l, 0, "--apply", "--token-duration", "720h")
	waitWestSynced(t, ctx, l)
	if after := discoveryFindings(t, l); len(after) != 0 {
		t.Errorf("after fix: %v", keys(after))
	}
	s, err := l.Client("east").CoreV1().Secrets("istio-system").Get(ctx, "istio-remote-secret-west", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := tokensIn(string(s.Data["west"]))
	if len(tokens) != 1 {
		t.Fatalf("the new secret holds %d tokens", len(tokens))
	}
	reader, err := l.Client("west").CoreV1().Secrets("istio-system").Get(ctx, "istio-reader-service-account-istio-remote-secret-token", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tokens[0] == string(reader.Data["token"]) {
		t.Error("--token-duration used the token secret's token, not a TokenRequest")
	}
	exp := jwtExpiry(t, tokens[0])
	if d := exp.Sub(start); d < 719*time.Hour || d > 721*time.Hour {
		t.Errorf("the token expires %s after the fix, want 720h", d)
	}
	requireConverged(t, ctx, l)
}

// runDiscoveryFix runs fix against east and west with istiod's debug addresses,
// wants exit code want, and checks that no token of the lab appears in its
// output.
func runDiscoveryFix(t *testing.T, l *lab.Lab, want int, args ...string) string {
	t.Helper()
	all := append(append([]string{"fix", "--contexts", "east,west"}, l.IstiodDebugFlags()...), args...)
	out, stderr, code := labtest.Run(t, l, all...)
	if code != want {
		t.Fatalf("fix %v: exit %d, want %d\n%s\n%s", args, code, want, out, stderr)
	}
	for _, s := range labSecrets(t, l) {
		if len(s) > 8 && (strings.Contains(out, s) || strings.Contains(stderr, s)) {
			t.Errorf("fix %v prints secret material (%d bytes)", args, len(s))
		}
	}
	return out + stderr
}

// requireConverged: fix run again plans nothing, and applied, changes no
// object (the remote secrets, the reader's identity).
func requireConverged(t *testing.T, ctx context.Context, l *lab.Lab) {
	t.Helper()
	if out := runDiscoveryFix(t, l, 0); !strings.HasPrefix(out, "# nothing to do") {
		t.Errorf("fix after fix plans something:\n%s", out)
	}
	rv := discoveryVersions(t, ctx, l)
	runDiscoveryFix(t, l, 0, "--apply")
	if again := discoveryVersions(t, ctx, l); !reflect.DeepEqual(rv, again) {
		t.Errorf("fix --apply after fix changed objects: %v → %v", rv, again)
	}
}

// discoveryVersions are the resourceVersions of what the discovery fixer writes.
func discoveryVersions(t *testing.T, ctx context.Context, l *lab.Lab) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range l.Contexts() {
		k := l.Client(c)
		for _, ns := range []string{"istio-system", "default"} {
			list, err := k.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range list.Items {
				out[c+" secret "+ns+"/"+s.Name] = s.ResourceVersion
			}
		}
		if sa, err := k.CoreV1().ServiceAccounts("istio-system").Get(ctx, "istio-reader-service-account", metav1.GetOptions{}); err == nil {
			out[c+" serviceaccount"] = sa.ResourceVersion
		}
		if r, err := k.RbacV1().ClusterRoles().Get(ctx, "istio-reader-clusterrole-istio-system", metav1.GetOptions{}); err == nil {
			out[c+" clusterrole"] = r.ResourceVersion
		}
		if b, err := k.RbacV1().ClusterRoleBindings().Get(ctx, "istio-reader-clusterrole-istio-system", metav1.GetOptions{}); err == nil {
			out[c+" clusterrolebinding"] = b.ResourceVersion
		}
	}
	return out
}

func discoveryFindings(t *testing.T, l *lab.Lab) []finding {
	t.Helper()
	args := append([]string{"doctor", "-o", "json", "--contexts", "east,west"}, l.IstiodDebugFlags()...)
	out, _, _ := labtest.Run(t, l, args...)
	got := onlyDiscovery(parseReport(t, out).Findings)
	for _, f := range got {
		t.Logf("%s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
	}
	return got
}

// waitWestSynced polls east's istiod until it reports west synced.
func waitWestSynced(t *testing.T, ctx context.Context, l *lab.Lab) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if m, err := l.WaitClusterz(wctx, "east", func(m map[string]string) bool { return m["west"] == lab.Synced }); err != nil {
		t.Fatalf("east's istiod never had west synced after fix: %v (last %v)", err, m)
	}
}

// jwtExpiry reads a JWT's exp claim (unverified: the API server checks it).
func jwtExpiry(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatal("the token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal("the token's claims do not decode")
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.Exp == 0 {
		t.Fatal("the token has no exp claim")
	}
	return time.Unix(claims.Exp, 0)
}

package e2e

import (
	"context"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

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

// secretFault changes east's remote secret for west (or west's reader
// role) on a running healthy lab.
type secretFault struct {
	name string
	// edit returns the secrets to write instead of the original (nil: none,
	// the secret is deleted); server is east's and west's API server URLs.
	edit func(t *testing.T, orig *corev1.Secret, servers map[string]string) []*corev1.Secret
	// role edits west's reader ClusterRole (nil: untouched).
	role func(r *rbacv1.ClusterRole)
	// clusterz is what east's istiod must then report of west ("" absent).
	clusterz string
	want     []string
	say      string
}

func withKubeconfig(t *testing.T, s *corev1.Secret, key string, edit func(c *clientcmdapi.Config)) {
	t.Helper()
	for k, v := range s.Data {
		cfg, err := clientcmd.Load(v)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(cfg)
		}
		b, err := clientcmd.Write(*cfg)
		if err != nil {
			t.Fatal(err)
		}
		delete(s.Data, k)
		s.Data[key] = b
	}
}

func setServer(server string) func(c *clientcmdapi.Config) {
	return func(c *clientcmdapi.Config) {
		for _, cl := range c.Clusters {
			cl.Server = server
		}
	}
}

var secretFaults = []secretFault{
	{name: "key is east's own ID", clusterz: "", want: []string{"MF4003@east,west"},
		edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			withKubeconfig(t, s, "east", nil)
			return []*corev1.Secret{s}
		}},
	{name: "key is not west's ID", clusterz: "", want: []string{"MF4007@east,west"}, say: `registers west's services as cluster "west-1"`,
		edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			withKubeconfig(t, s, "west-1", nil) // istioctl create-remote-secret --name=west-1
			s.Annotations["networking.istio.io/cluster"] = "west-1"
			return []*corev1.Secret{s}
		}},
	{name: "wrong namespace", clusterz: "", want: []string{"MF4002@east,west"},
		edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			s.Namespace = "default"
			return []*corev1.Secret{s}
		}},
	{name: "missing label", clusterz: "", want: []string{"MF4002@east,west"},
		edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			delete(s.Labels, "istio/multiCluster")
			return []*corev1.Secret{s}
		}},
	{name: "malformed kubeconfig", clusterz: "", want: []string{"MF4005@east,west"},
		edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			s.Data = map[string][]byte{"west": []byte("{{ this is not a kubeconfig")}
			return []*corev1.Secret{s}
		}},
	{name: "secret deleted", clusterz: "", want: []string{"MF4001@east,west"},
		edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret { return nil }},
	{name: "server points back at east", clusterz: lab.Timeout, want: []string{"MF4007@east,west"}, say: "points back at east",
		edit: func(t *testing.T, s *corev1.Secret, servers map[string]string) []*corev1.Secret {
			withKubeconfig(t, s, "west", setServer(servers["east"]))
			return []*corev1.Secret{s}
		}},
	{name: "server where nothing listens", clusterz: lab.Timeout, want: []string{"MF4011@east,west"}, say: "either",
		edit: func(t *testing.T, s *corev1.Secret, servers map[string]string) []*corev1.Secret {
			u := strings.Replace(servers["west"], ":6443", ":6449", 1)
			withKubeconfig(t, s, "west", setServer(u))
			return []*corev1.Secret{s}
		}},
	{name: "reader may not read nodes", clusterz: lab.Timeout, want: []string{"MF4010@east,west"}, say: "core/nodes",
		role: func(r *rbacv1.ClusterRole) {
			for i := range r.Rules {
				var keep []string
				for _, res := range r.Rules[i].Resources {
					if res != "nodes" {
						keep = append(keep, res)
					}
				}
				r.Rules[i].Resources = keep
			}
		}},
}

// TestDiscoveryFaultsOnLiveLab breaks east's remote secret for west one way
// at a time on a healthy lab, waits for east's istiod to show it, and checks
// that the doctor's discovery findings name the fault and agree with
// istiod's /debug/clusterz; then restores the secret.
func TestDiscoveryFaultsOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	ctx := context.Background()
	servers := contextServers(t, l)
	for _, tc := range secretFaults {
		t.Run(tc.name, func(t *testing.T) {
			wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			clusterz := breakRemoteSecret(t, wctx, l, tc, servers)

			args := append([]string{"doctor", "-o", "json", "--contexts", "east,west"}, l.IstiodDebugFlags()...)
			out, stderr, _ := labtest.Run(t, l, args...)
			got := onlyDiscovery(parseReport(t, out).Findings)
			for _, f := range got {
				t.Logf("%s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
			}
			if k := keys(got); !reflect.DeepEqual(k, tc.want) {
				t.Errorf("findings %v, want %v (east's clusterz %v)\nstderr: %s", k, tc.want, clusterz, stderr)
			}
			if tc.say != "" && len(got) > 0 && !strings.Contains(got[0].Message, tc.say) {
				t.Errorf("%s does not say %q", got[0].Check, tc.say)
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

// contextServers maps each context of the lab's kubeconfig to its API server URL.
func contextServers(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(l.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]string{}
	for n, c := range raw.Contexts {
		servers[n] = raw.Clusters[c.Cluster].Server
	}
	return servers
}

// breakRemoteSecret applies one fault to east's remote secret for west (or
// west's reader role), waits until east's istiod shows it and returns
// east's clusterz then; when the test ends it restores the role, removes
// stray copies and re-adds the secret as the lab wrote it, until east has
// west synced again.
func breakRemoteSecret(t *testing.T, ctx context.Context, l *lab.Lab, tc secretFault, servers map[string]string) map[string]string {
	t.Helper()
	east, west := l.Client("east"), l.Client("west")
	const name, roleName = "istio-remote-secret-west", "istio-reader-clusterrole-istio-system"
	orig, err := east.CoreV1().Secrets("istio-system").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	origRole, err := west.RbacV1().ClusterRoles().Get(ctx, roleName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer rcancel()
		if tc.role != nil {
			cur, err := west.RbacV1().ClusterRoles().Get(rctx, roleName, metav1.GetOptions{})
			if err == nil {
				cur.Rules = origRole.Rules
				_, err = west.RbacV1().ClusterRoles().Update(rctx, cur, metav1.UpdateOptions{})
			}
			if err != nil {
				t.Errorf("restoring the reader role: %v", err)
				return
			}
		}
		_ = east.CoreV1().Secrets("default").Delete(rctx, name, metav1.DeleteOptions{})
		// The restored secret can reach istiod while it is still tearing
		// down the faulty cluster after its sync timeout; istiod then drops
		// west for good (seen in its log: "Deleting cluster_id=west" racing
		// "remote cluster west failed to sync", then nothing). That is
		// istiod's, not the doctor's: give the secret again, as a user would,
		// so that the next fault starts from a healthy mesh.
		var last map[string]string
		for attempt := 1; attempt <= 3; attempt++ {
			if err := l.ReaddRemoteSecret(rctx, "east", "west"); err != nil {
				t.Errorf("restoring the remote secret: %v", err)
				return
			}
			wctx, wcancel := context.WithTimeout(rctx, 25*time.Second)
			m, err := l.WaitClusterz(wctx, "east", func(m map[string]string) bool { return m["west"] == lab.Synced && len(m) == 2 })
			wcancel()
			if err == nil {
				if attempt > 1 {
					t.Logf("east synced west again after %d restores of its remote secret", attempt)
				}
				return
			}
			last = m
		}
		t.Errorf("east never synced west again after 3 restores of its remote secret (%v)", last)
	})

	if tc.role != nil {
		r := origRole.DeepCopy()
		tc.role(r)
		if _, err := west.RbacV1().ClusterRoles().Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// istiod's open watches outlive an RBAC change; connect anew.
		if err := l.ReaddRemoteSecret(ctx, "east", "west"); err != nil {
			t.Fatal(err)
		}
	}
	if tc.edit != nil {
		if err := east.CoreV1().Secrets("istio-system").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		s := orig.DeepCopy()
		s.ResourceVersion, s.UID, s.CreationTimestamp, s.ManagedFields = "", "", metav1.Time{}, nil
		for _, n := range tc.edit(t, s, servers) {
			if _, err := east.CoreV1().Secrets(n.Namespace).Create(ctx, n, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	clusterz, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool {
		_, has := m["west"]
		return m["west"] == tc.clusterz || (tc.clusterz == "" && !has)
	})
	if err != nil {
		t.Fatalf("east's clusterz never showed west %q: %v (last %v)", tc.clusterz, err, clusterz)
	}
	return clusterz
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

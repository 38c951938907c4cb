package istiod

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
)

// What istiod itself says, beside clusterz, read through the port-forward
// to its pod as a user's doctor reads it (no --istiod-debug-address: the
// lab's debug address is istiod's http port, which serves no /metrics):
// its list of cross-network gateways (/debug/networkz) and its history
// (/metrics).

var historyChecks = []string{"MF3030", "MF3031", "MF4045", "MF4046"}

// doctorThroughPortForward runs doctor -o json on the lab's contexts,
// istiod read through port-forwards, and returns the report.
func doctorThroughPortForward(t *testing.T, l *lab.Lab, extra ...string) (string, []reporttest.Finding) {
	t.Helper()
	args := append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, extra...)
	out, stderr, _ := labtest.Run(t, l, args...)
	if out == "" {
		t.Fatalf("doctor wrote no report: %s", stderr)
	}
	return out, reporttest.Parse(t, out).Findings
}

func logFindings(t *testing.T, fs []reporttest.Finding) {
	t.Helper()
	for _, f := range fs {
		t.Logf("%s %s %v %v: %s\n  %s", f.Check, f.Severity, f.Contexts, f.Object, f.Message, strings.Join(f.Evidence, "\n  "))
	}
}

// TestIstiodHistoryAndGatewaysOnLiveLab, on a healthy two-network lab:
//   - healthy: MF3030, MF3031, MF4045 and MF4046 are judged (networkz and
//     metrics read from every istiod pod) and pass;
//   - east's remote secret for west is pointed at a dead address (port 1 of
//     west's API server host, as a mistyped server or a moved endpoint
//     gives), east's istiod times out syncing west, then the secret is
//     written again as istioctl create-remote-secret writes it: clusterz
//     says synced, and MF4045 reports the timeout istiod counted, with
//     the counter, istiod's start and its secret events;
//   - the network label is moved from west's gateway Service to its
//     Deployment only: istiod lists no gateway for west's network, and
//     MF3030 says so from both sides, naming the label on the workload;
//     putting it back silences it.
func TestIstiodHistoryAndGatewaysOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, p := range [][2]string{{"east", "west"}, {"west", "east"}} {
		if _, err := l.WaitClusterz(ctx, p[0], func(m map[string]string) bool { return m[p[1]] == lab.Synced }); err != nil {
			t.Fatalf("%s's istiod never synced %s: %v", p[0], p[1], err)
		}
	}

	// The lab's istiods run with PILOT_REMOTE_CLUSTER_TIMEOUT=5s: on a
	// loaded machine one may time a peer out while the lab starts, and
	// then MF4045 rightly says so. What istiod counted, read straight from
	// its monitoring port, decides what the doctor must report.
	startTimeouts := map[string]bool{} // "primary→peer"
	for _, p := range l.Primaries() {
		for peer := range istiodSyncTimeouts(t, l, p) {
			startTimeouts[p+"→"+peer] = true
		}
	}
	t.Run("healthy", func(t *testing.T) {
		out, fs := doctorThroughPortForward(t, l)
		for _, id := range historyChecks {
			got, kept := only(fs, id)
			if id == "MF4045" && len(startTimeouts) > 0 {
				t.Logf("istiod timed out syncing while the lab started: %v", startTimeouts)
				logFindings(t, kept)
				if len(got) != len(startTimeouts) {
					t.Errorf("MF4045 %v, want one per timeout istiod counted: %v", got, startTimeouts)
				}
				continue
			}
			if len(got) != 0 {
				logFindings(t, kept)
				t.Errorf("%s on a healthy lab: %v", id, got)
			}
			if st := reporttest.CheckStatus(t, out, id); st != "pass" && (id != "MF4045" || len(startTimeouts) == 0) {
				t.Errorf("%s is %q on a healthy lab, want pass (judged on what istiod said)", id, st)
			}
		}
	})

	// What reading networkz and metrics adds to a doctor's run: the same
	// doctor with and without the four checks (without them neither is
	// read), alternated, warm. Logged, never asserted: timing under load is
	// noise.
	t.Run("probe time", func(t *testing.T) {
		const runs = 7
		var with, without []time.Duration
		for i := 0; i < runs; i++ {
			for _, skip := range []bool{false, true} {
				args := []string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}
				if skip {
					args = append(args, "--skip", strings.Join(historyChecks, ","))
				}
				start := time.Now()
				labtest.Run(t, l, args...)
				if skip {
					without = append(without, time.Since(start))
				} else {
					with = append(with, time.Since(start))
				}
			}
		}
		median := func(ds []time.Duration) time.Duration {
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			return ds[len(ds)/2].Round(time.Millisecond)
		}
		t.Logf("doctor with networkz and metrics: median %s of %v", median(with), with)
		t.Logf("doctor with --skip %s: median %s of %v", strings.Join(historyChecks, ","), median(without), without)
	})

	t.Run("sync timed out, then fixed", func(t *testing.T) {
		secrets := l.Client("east").CoreV1().Secrets("istio-system")
		s, err := secrets.Get(ctx, "istio-remote-secret-west", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kc, err := clientcmd.Load(s.Data[l.ClusterID("west")])
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range kc.Clusters {
			host := strings.TrimPrefix(c.Server, "https://")
			if i := strings.LastIndexByte(host, ':'); i >= 0 {
				host = host[:i]
			}
			c.Server = "https://" + host + ":1" // nothing listens there
		}
		b, err := clientcmd.Write(*kc)
		if err != nil {
			t.Fatal(err)
		}
		s.Data[l.ClusterID("west")] = b
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if m, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool { return m["west"] == lab.Timeout }); err != nil {
			t.Fatalf("east's istiod never timed out syncing west at a dead address: %v (last %v)", err, m)
		}
		if err := l.ReaddRemoteSecret(ctx, "east", "west"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool { return m["west"] == lab.Synced }); err != nil {
			t.Fatalf("east's istiod never synced west again: %v", err)
		}

		out, fs := doctorThroughPortForward(t, l)
		_, kept := only(fs, "MF4045")
		logFindings(t, kept)
		var east []reporttest.Finding
		for _, f := range kept {
			if f.Object != nil && f.Object.Name == "istio-remote-secret-west" {
				east = append(east, f)
			}
		}
		// Besides east's, only what istiod counted at the lab's start.
		if len(east) != 1 || len(kept)-1 != len(startTimeouts)-btoi(startTimeouts["east→west"]) {
			t.Fatalf("MF4045 findings %v, want one for east's secret for west (and those istiod counted at the start: %v)", reporttest.Keys(kept), startTimeouts)
		}
		f := east[0]
		text := f.Message + "\n" + strings.Join(f.Evidence, "\n")
		for _, say := range []string{`remote_cluster_sync_timeouts_total{cluster="west"} = 1`, "since it started at", "west synced", "remote secret events", "changed since it started"} {
			if !strings.Contains(text, say) {
				t.Errorf("MF4045 does not say %q: %s", say, text)
			}
		}
		// The secret was changed since istiod started: for the record.
		if f.Severity != "info" {
			t.Errorf("MF4045 severity %s, want info (the secret changed since, the likely cause)", f.Severity)
		}
		// clusterz says synced: MF4011 has nothing to say.
		if st := reporttest.CheckStatus(t, out, "MF4011"); st != "pass" {
			t.Errorf("MF4011 is %q after the secret was fixed, want pass", st)
		}
	})

	t.Run("network label on the gateway's Deployment only", func(t *testing.T) {
		svcs, err := l.Client("west").CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: mesh.NetworkLabel})
		if err != nil {
			t.Fatal(err)
		}
		var gw *types.NamespacedName
		network := ""
		for _, s := range svcs.Items {
			for _, p := range s.Spec.Ports {
				if p.Port == mesh.CrossNetworkPort && s.Spec.Type == "LoadBalancer" {
					gw = &types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
					network = s.Labels[mesh.NetworkLabel]
				}
			}
		}
		if gw == nil {
			t.Fatalf("no labelled east-west gateway Service in west: %v", svcs.Items)
		}
		// The Deployment keeps (or gets) the label on its pods, as a user
		// who labelled the wrong object has it.
		deps, err := l.Client("west").AppsV1().Deployments(gw.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		labelled := false
		for _, d := range deps.Items {
			if d.Spec.Template.Labels[mesh.NetworkLabel] == network {
				labelled = true
			}
		}
		if !labelled {
			t.Fatalf("no Deployment in %s carries %s=%s on its pods, as Istio's gateway chart writes it", gw.Namespace, mesh.NetworkLabel, network)
		}
		label := func(value string) {
			t.Helper()
			patch := `{"metadata":{"labels":{"` + mesh.NetworkLabel + `":null}}}`
			if value != "" {
				patch = `{"metadata":{"labels":{"` + mesh.NetworkLabel + `":"` + value + `"}}}`
			}
			if _, err := l.Client("west").CoreV1().Services(gw.Namespace).Patch(ctx, gw.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		label("")
		var fs []reporttest.Finding
		var got []string
		var kept []reporttest.Finding
		// istiod takes the change within moments; ask until it has.
		for i := 0; i < 10; i++ {
			_, fs = doctorThroughPortForward(t, l)
			if got, kept = only(fs, "MF3030"); len(got) > 0 {
				break
			}
			time.Sleep(time.Second)
		}
		logFindings(t, kept)
		want := "MF3030@east,west:Service/" + gw.Namespace + "/" + gw.Name
		if !contains(got, want) {
			t.Fatalf("MF3030 findings %v, want %s", got, want)
		}
		for _, f := range kept {
			if strings.Join(f.Contexts, ",") != "east,west" {
				continue // west's own istiod lacks its own network's gateway too (a warning)
			}
			text := f.Message + "\n" + strings.Join(f.Evidence, "\n")
			for _, say := range []string{"not on the Service", "/debug/networkz lists for network \"" + network + "\": nothing", "Deployment " + gw.Namespace + "/"} {
				if !strings.Contains(text, say) {
					t.Errorf("MF3030 does not say %q: %s", say, text)
				}
			}
			if f.Severity != "error" {
				t.Errorf("MF3030 for east severity %s, want error (east's proxies cannot reach %s)", f.Severity, network)
			}
		}
		if got, _ := only(fs, "MF3031"); len(got) != 0 {
			t.Errorf("MF3031 findings %v: istiod lists nothing the doctor does not find", got)
		}

		label(network)
		for i := 0; i < 10; i++ {
			_, fs = doctorThroughPortForward(t, l)
			if got, _ = only(fs, "MF3030"); len(got) == 0 {
				break
			}
			time.Sleep(time.Second)
		}
		if len(got) != 0 {
			t.Errorf("MF3030 after the label is back on the Service: %v", got)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// syncTimeoutSample is a sample of istiod's remote_cluster_sync_timeouts_total
// (istio.io/istio pkg/kube/multicluster/secretcontroller.go), as its
// exporter writes it.
var syncTimeoutSample = regexp.MustCompile(`(?m)^remote_cluster_sync_timeouts_total\{cluster="([^"]+)"\} ([0-9.e+]+)$`)

// istiodSyncTimeouts reads primary's istiod's /metrics on its monitoring
// port (which this machine reaches through the lab's router) and returns
// the peers it counted sync timeouts for.
func istiodSyncTimeouts(t *testing.T, l *lab.Lab, primary string) map[string]bool {
	t.Helper()
	host, _, _ := strings.Cut(l.IstiodXDSAddress(primary), ":")
	resp, err := http.Get("http://" + host + ":15014/metrics")
	if err != nil {
		t.Fatalf("%s's istiod /metrics: %v", primary, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range syncTimeoutSample.FindAllStringSubmatch(string(b), -1) {
		if m[2] != "0" {
			out[m[1]] = true
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	i := sort.SearchStrings(xs, x)
	return i < len(xs) && xs[i] == x
}

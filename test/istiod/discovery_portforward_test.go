package istiod

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
	"github.com/meshfed/kubectl-meshfed/pkg/topology"
)

// These tests give the doctor no --istiod-debug-address: it reads istiod's
// /debug/clusterz the way istioctl does, through pods/portforward of each
// istiod pod, and the lab's API servers proxy that to the node agents
// standing in for kubelets, which forward to the cluster's real istiod.

// topologyThroughPortForward runs `topology -o json` without debug
// addresses: each edge's istiod state is what the reader's istiod pods
// reported through the port-forward.
func topologyThroughPortForward(t *testing.T, l *lab.Lab, contexts ...string) *topology.Topology {
	t.Helper()
	out, stderr, code := labtest.Run(t, l, "topology", "-o", "json", "--contexts", strings.Join(contexts, ","))
	if code != 0 {
		t.Fatalf("topology: exit %d\n%s", code, stderr)
	}
	var topo topology.Topology
	if err := json.Unmarshal([]byte(out), &topo); err != nil {
		t.Fatalf("topology -o json: %v\n%s", err, out)
	}
	return &topo
}

func TestIstiodViewThroughPortForwardOnAHealthyLab(t *testing.T) {
	l := labtest.Shared(t, "multi-primary", 3)
	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
	r := reporttest.Parse(t, out)
	if got := reporttest.Discovery(r.Findings); len(got) != 0 {
		t.Errorf("discovery findings on a healthy lab: %v\nstderr: %s", reporttest.Keys(got), stderr)
		for _, f := range got {
			t.Logf("  %s %s: %s", f.Check, f.Severity, f.Message)
		}
	}
	// MF4011 judged (istiod's view was read), and passed.
	if st := reporttest.CheckStatus(t, out, "MF4011"); st != "pass" {
		t.Errorf("MF4011 is %q, want pass: istiod's view through the port-forward was not judged", st)
	}
	topo := topologyThroughPortForward(t, l, l.Contexts()...)
	if len(topo.Edges) != 6 {
		t.Errorf("edges %+v, want 6", topo.Edges)
	}
	for _, e := range topo.Edges {
		if e.Istiod != lab.Synced {
			t.Errorf("edge %s → %s: istiod reports %q through the port-forward, want synced", e.From, e.To, e.Istiod)
		}
	}
}

// TestIstiodViewThroughPortForwardWithFaults: on a lab where east's remote
// secret for west carries a rejected token, the port-forward view shows west
// not synced and MF4011 says why; then east gets a second istiod pod on its
// other node, whose node agent hangs and then goes down: that replica's view
// is unknown within --timeout, while the first still reports.
func TestIstiodViewThroughPortForwardWithFaults(t *testing.T) {
	l := labtest.Start(t, "bad-remote-secret", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if m, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool { return m["west"] == lab.Timeout }); err != nil {
		t.Fatalf("east's clusterz never showed west timing out: %v (last %v)", err, m)
	}
	doctor := func(t *testing.T, extra ...string) []reporttest.Finding {
		t.Helper()
		args := append([]string{"doctor", "-o", "json", "--contexts", "east,west"}, extra...)
		start := time.Now()
		out, stderr, _ := labtest.Run(t, l, args...)
		t.Logf("doctor %s took %s", strings.Join(extra, " "), time.Since(start).Round(time.Millisecond))
		got := reporttest.Discovery(reporttest.Parse(t, out).Findings)
		for _, f := range got {
			t.Logf("%s %s %v %v: %s", f.Check, f.Severity, f.Contexts, f.Object, f.Message)
		}
		// Progress and chosen contexts only: client-go's own complaints
		// about a stream that failed must not leak onto the user's terminal.
		for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
			if strings.Contains(line, "panic") || strings.Contains(line, "Unhandled Error") || strings.HasPrefix(line, "E1") || strings.HasPrefix(line, "W1") {
				t.Errorf("stderr: %s", line)
			}
		}
		return got
	}

	t.Run("bad token", func(t *testing.T) {
		topo := topologyThroughPortForward(t, l, "east", "west")
		for _, e := range topo.Edges {
			want := lab.Synced
			if e.From == "east" {
				want = lab.Timeout
			}
			if e.Istiod != want {
				t.Errorf("edge %s → %s: istiod %q through the port-forward, want %q", e.From, e.To, e.Istiod, want)
			}
		}
		got := doctor(t)
		if k := reporttest.Keys(got); !reflect.DeepEqual(k, []string{"MF4011@east,west"}) {
			t.Fatalf("findings %v, want MF4011@east,west", k)
		}
		if f := got[0]; f.Severity != "error" || !strings.Contains(f.Message, "401") {
			t.Errorf("MF4011 does not explain the timeout with the probe's 401: %s", f.Message)
		}
		pods, err := l.IstiodPods(ctx, "east")
		if err != nil || len(pods) != 1 {
			t.Fatalf("east's istiod pods %v: %v", pods, err)
		}
		for pod := range pods {
			if !strings.Contains(strings.Join(got[0].Evidence, " "), pod) {
				t.Errorf("the evidence does not name the replica read (%s): %v", pod, got[0].Evidence)
			}
		}
	})

	second, err := l.AddIstiodPod(ctx, "east", "east-node-b")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("two replicas agree", func(t *testing.T) {
		got := doctor(t)
		if k := reporttest.Keys(got); !reflect.DeepEqual(k, []string{"MF4011@east,west"}) {
			t.Fatalf("findings %v, want one MF4011@east,west for both replicas", k)
		}
		if !strings.Contains(got[0].Message, second) {
			t.Errorf("the finding does not name replica %s: %s", second, got[0].Message)
		}
	})

	for _, mode := range []struct {
		name string
		mode lab.NodeAgentMode
	}{{"hangs", lab.NodeAgentHangs}, {"is down", lab.NodeAgentDown}} {
		t.Run("node agent "+mode.name, func(t *testing.T) {
			if err := l.SetNodeAgent("east", "east-node-b", mode.mode); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := l.SetNodeAgent("east", "east-node-b", lab.NodeAgentServes); err != nil {
					t.Error(err)
				}
			}()
			// The doctor's promise, as with a hanging gateway: done within
			// --timeout + --probe-timeout (by default --timeout) + 1 s.
			const timeout = 3 * time.Second
			start := time.Now()
			got := doctor(t, "--timeout", timeout.String())
			if took := time.Since(start); took > 2*timeout+time.Second {
				t.Errorf("doctor took %s with a node agent that %s, --timeout %s", took, mode.name, timeout)
			}
			var unknown, eastWest, rejects bool
			for _, f := range got {
				switch {
				case f.Check == "MF4011" && f.Severity == "unknown" && f.Object != nil && f.Object.Kind == "Pod" && f.Object.Name == second:
					unknown = true
				case f.Check == "MF4046" && f.Severity == "unknown" && f.Object != nil && f.Object.Kind == "Pod" && f.Object.Name == second:
					// As MF4020 and MF4021, MF4046 says for itself that it
					// cannot judge the replica: its /metrics is read through
					// the same port-forward, so the on-call engineer sees
					// every check the dead node agent leaves undecided.
					rejects = true
				case f.Check == "MF4011" && f.Severity == "error" && strings.Join(f.Contexts, ",") == "east,west":
					eastWest = true
				case (f.Check == "MF4020" || f.Check == "MF4021") && f.Severity == "unknown" && f.Object != nil && f.Object.Name == second:
					// the registry checks cannot judge that replica either
				default:
					t.Errorf("unexpected finding %s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
				}
			}
			if !unknown {
				t.Errorf("no unknown MF4011 for replica %s behind a node agent that %s", second, mode.name)
			}
			if !eastWest {
				t.Errorf("the replica that answers no longer reports west not synced")
			}
			if !rejects {
				t.Errorf("no unknown MF4046 for replica %s behind a node agent that %s: its rejected xDS count was not read", second, mode.name)
			}
		})
	}
}

// TestIstiodReplicasDisagree: two real istiod processes for east, each
// behind its own pod and node agent. After the path from east to west's
// API server is cut, the first replica still reports west synced (its
// informers were filled before), while a second replica started after the
// cut cannot reach west. The doctor reads both through port-forwards and
// says that the replicas disagree, naming both, with the probe's
// explanation: this machine reaches west with the same credentials.
func TestIstiodReplicasDisagree(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := l.IstiodPods(ctx, "east")
	if err != nil || len(pods) != 1 {
		t.Fatalf("east's istiod pods %v: %v", pods, err)
	}
	var first string
	for p := range pods {
		first = p
	}
	if err := l.CutPath("east", "west"); err != nil {
		t.Fatal(err)
	}
	second, err := l.StartIstiodReplica(ctx, "east", "east-node-b")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := l.ClusterzMap(ctx, "east"); err != nil || m["west"] != lab.Synced {
		t.Fatalf("the first replica's clusterz %v (%v): west should still be synced", m, err)
	}

	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", "east,west")
	got := reporttest.Discovery(reporttest.Parse(t, out).Findings)
	for _, f := range got {
		t.Logf("%s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
	}
	if k := reporttest.Keys(got); !reflect.DeepEqual(k, []string{"MF4011@east,west"}) {
		t.Fatalf("findings %v, want MF4011@east,west\nstderr: %s", k, stderr)
	}
	f := got[0]
	if f.Severity != "error" {
		t.Errorf("severity %s", f.Severity)
	}
	for _, pod := range []string{first, second} {
		if !strings.Contains(f.Message, pod) {
			t.Errorf("the finding does not name replica %s: %s", pod, f.Message)
		}
	}
	if !strings.Contains(f.Message, "path from east's istiod") {
		t.Errorf("the finding does not say the path from east's istiod is broken: %s", f.Message)
	}
	topo := topologyThroughPortForward(t, l, "east", "west")
	for _, e := range topo.Edges {
		if e.From == "east" && e.Istiod == lab.Synced {
			t.Errorf("edge east → west shows %q: the replica behind the cut is hidden", e.Istiod)
		}
	}
}

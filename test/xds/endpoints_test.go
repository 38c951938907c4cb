package xds

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/xdstest"
	"github.com/meshfed/kubectl-meshfed/pkg/xds"
)

// endpointsDoc is the part of `kubectl meshfed endpoints -o json` the
// tests read.
type endpointsDoc struct {
	Kind  string `json:"kind"`
	Views []struct {
		Context   string `json:"context"`
		ClusterID string `json:"clusterID"`
		Network   string `json:"network"`
		Namespace string `json:"namespace"`
		Proxy     string `json:"proxy"`
		Cluster   string `json:"cluster"`
		NotRun    string `json:"notRun"`
		Error     string `json:"error"`
		Endpoints []struct {
			Address  string `json:"address"`
			Port     uint32 `json:"port"`
			Locality string `json:"locality"`
			Priority uint32 `json:"priority"`
			Weight   uint32 `json:"weight"`
			Health   string `json:"health"`
			From     struct {
				Kind, Context, Network, Name string
			} `json:"from"`
		} `json:"endpoints"`
	} `json:"views"`
}

// runEndpoints runs the built plugin's endpoints command on the lab.
func runEndpoints(t *testing.T, l *lab.Lab, args ...string) endpointsDoc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, labtest.Plugin(t), append([]string{"endpoints", "--kubeconfig", l.Kubeconfig(), "-o", "json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl-meshfed endpoints %v: %v\nstderr: %s", args, err, stderr.String())
	}
	var doc endpointsDoc
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("endpoints -o json is not JSON: %v\n%s", err, stdout.String())
	}
	return doc
}

// TestEndpointsEqualsIstiod: on multi-network, single-network and
// primary-remote labs, `kubectl meshfed endpoints SERVICE.NAMESPACE
// --context C`, which reaches istiod's 15010 through a port-forward to its
// pod, shows exactly what the same istiod sends the same sidecar when
// asked directly at its xDS address (internal/xdstest), and says where
// each endpoint came from: a pod of the sidecar's network, or another
// network's gateway on 15443.
func TestEndpointsEqualsIstiod(t *testing.T) {
	for _, sc := range []struct {
		scenario string
		clusters int
	}{{"multi-primary", 3}, {"single-network", 2}, {"primary-remote", 2}} {
		t.Run(sc.scenario, func(t *testing.T) {
			l := labtest.Start(t, sc.scenario, sc.clusters)
			labtest.RequireIsolation(t, l)
			for _, p := range l.Primaries() {
				for _, svc := range sampleServices {
					checkEndpointsView(t, l, p, svc.name, svc.port)
				}
			}
		})
	}
}

func checkEndpointsView(t *testing.T, l *lab.Lab, p, service string, port int32) {
	t.Helper()
	var problems []string
	// istiod's registry follows the API a moment behind: ask again until
	// the command and istiod agree and every endpoint is explained.
	for deadline := time.Now().Add(viewSettle); ; time.Sleep(time.Second) {
		problems = endpointsProblems(t, l, p, service, port)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, pr := range problems {
		t.Error(pr)
	}
}

func endpointsProblems(t *testing.T, l *lab.Lab, p, service string, port int32) []string {
	doc := runEndpoints(t, l, fmt.Sprintf("%s.sample", service), "--context", p, "--port", fmt.Sprint(port))
	if doc.Kind != "SidecarViews" || len(doc.Views) != 1 {
		return []string{fmt.Sprintf("%s: endpoints gave %d views of kind %q, want one SidecarViews view", p, len(doc.Views), doc.Kind)}
	}
	v := doc.Views[0]
	if v.NotRun != "" || v.Error != "" {
		return []string{fmt.Sprintf("%s: endpoints could not ask istiod: %s%s", p, v.NotRun, v.Error)}
	}
	if v.Proxy == "" {
		return []string{fmt.Sprintf("%s: endpoints presented a sidecar with no pod, though sample has injected pods", p)}
	}
	var got []string
	for _, e := range v.Endpoints {
		got = append(got, fmt.Sprintf("%s:%d %s priority %d weight %d %s", e.Address, e.Port, e.Locality, e.Priority, e.Weight, e.Health))
	}
	sort.Strings(got)
	want := askDirectly(t, l, p, v.Proxy, v.Cluster)
	var problems []string
	if !slices.Equal(got, want) {
		problems = append(problems, fmt.Sprintf("%s %s: endpoints shows\n  %q\nistiod sends\n  %q", p, v.Cluster, got, want))
	}
	for _, e := range v.Endpoints {
		switch {
		case e.From.Kind == "pod" && l.Network(e.From.Context) != l.Network(p):
			problems = append(problems, fmt.Sprintf("%s: %s:%d is a pod of %s, on another network", p, e.Address, e.Port, e.From.Context))
		case e.From.Kind == "pod" && e.Port == 15443:
			problems = append(problems, fmt.Sprintf("%s: pod %s at %s:%d", p, e.From.Name, e.Address, e.Port))
		case e.From.Kind == "gateway" && (e.Port != 15443 || e.From.Network == l.Network(p) || e.Address != l.GatewayAddress(e.From.Context)):
			problems = append(problems, fmt.Sprintf("%s: gateway endpoint %s:%d of network %q (%s in %s), want another network's gateway %s on 15443",
				p, e.Address, e.Port, e.From.Network, e.From.Name, e.From.Context, l.GatewayAddress(e.From.Context)))
		case e.From.Kind == "pod" && !strings.HasPrefix(e.From.Name, "sample/"+service):
			problems = append(problems, fmt.Sprintf("%s: %s:%d named %q, not a pod of %s", p, e.Address, e.Port, e.From.Name, service))
		case e.From.Kind != "pod" && e.From.Kind != "gateway":
			problems = append(problems, fmt.Sprintf("%s: %s:%d has no origin (%q)", p, e.Address, e.Port, e.From.Kind))
		}
	}
	return problems
}

// askDirectly asks p's istiod at its xDS address, as the sidecar of pod
// (namespace/name) the command presented, for the endpoints of cluster.
func askDirectly(t *testing.T, l *lab.Lab, p, pod, cluster string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), xdstest.DefaultTimeout)
	defer cancel()
	ns, name, _ := strings.Cut(pod, "/")
	po, err := l.Client(p).CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: pod %s: %v", p, pod, err)
	}
	me := xdstest.Sidecar{Cluster: l.ClusterID(p), Network: l.Network(p), MeshID: l.Scenario().MeshID,
		Namespace: ns, Pod: name, IP: po.Status.PodIP, ServiceAccount: po.Spec.ServiceAccountName,
		Workload: po.Labels["app"] + "-" + po.Labels["version"], Labels: po.Labels, IstioVersion: proxyVersion(po.Spec)}
	client, err := xdstest.Dial(ctx, l.IstiodXDSAddress(p), me)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cla, err := client.Endpoints(ctx, cluster)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range xds.Flatten(cla[cluster]) {
		out = append(out, fmt.Sprintf("%s %s priority %d weight %d %s", e.HostPort(), e.Locality, e.Priority, e.Weight, e.Health))
	}
	sort.Strings(out)
	return out
}

// doctorFindings runs doctor -o json with only the sidecar-view checks
// and returns their findings as "CHECK cluster→peer" and the checks'
// statuses ("reported-elsewhere under MF4011" for a check that saw a
// problem another check reports).
func doctorFindings(t *testing.T, l *lab.Lab) (findings []string, status map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, labtest.Plugin(t), "doctor", "--kubeconfig", l.Kubeconfig(), "--contexts", strings.Join(l.Contexts(), ","),
		"--checks", "MF4025,MF4026", "-o", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // exit 2 with findings
	var report struct {
		Findings []struct {
			Check    string `json:"check"`
			Message  string `json:"message"`
			Subjects []struct{ Role, Context string }
		} `json:"findings"`
		Checks []struct {
			ID, Status    string
			ReportedUnder []string `json:"reportedUnder"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("doctor -o json: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	status = map[string]string{}
	for _, c := range report.Checks {
		status[c.ID] = c.Status
		if len(c.ReportedUnder) > 0 {
			status[c.ID] += " under " + strings.Join(c.ReportedUnder, ",")
		}
	}
	for _, f := range report.Findings {
		var cluster, peer string
		for _, s := range f.Subjects {
			switch s.Role {
			case "cluster":
				cluster = s.Context
			case "peer":
				peer = s.Context
			}
		}
		findings = append(findings, fmt.Sprintf("%s %s→%s", f.Check, cluster, peer))
		t.Logf("%s: %s", f.Check, f.Message)
	}
	sort.Strings(findings)
	return findings, status
}

// TestSidecarViewChecks: the doctor's checks on what istiod sends sidecars
// pass on a healthy multi-network mesh and see what a sidecar is sent
// wrong, reporting it under the check of its cause: a network whose
// gateway has no address (west's pod addresses sent to east's sidecars),
// and a path cut between east's istiod and west's API server (east's
// istiod holds nothing of west).
func TestSidecarViewChecks(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		l := labtest.Start(t, "multi-primary", 2)
		labtest.RequireIsolation(t, l)
		got, status := doctorFindings(t, l)
		if len(got) != 0 {
			t.Errorf("findings on a healthy mesh: %q", got)
		}
		for _, id := range []string{"MF4025", "MF4026"} {
			if status[id] != "pass" {
				t.Errorf("%s: status %q, want pass", id, status[id])
			}
		}
	})
	// Both faults are seen in east's sidecar view and reported under the
	// check that names their cause (the check's status says so).
	// gateway-pending: istiod sends east's sidecar west's pod addresses
	// (seen on this lab), which MF4026 leaves to MF3002 since west's
	// gateway Service has no address (istiod sends a network's pods as
	// they are when it knows no gateway for it). cut-path: nothing of
	// west, which MF4025 leaves to MF4011 since east's istiod does not
	// hold west synced (pkg/checks/discovery).
	for sc, want := range map[string]struct{ check, status string }{
		"gateway-pending": {"MF4026", "reported-elsewhere under MF3002"},
		"cut-path":        {"MF4025", "reported-elsewhere under MF4011"},
	} {
		t.Run(sc, func(t *testing.T) {
			l := labtest.Start(t, sc, 2)
			labtest.RequireIsolation(t, l)
			var got []string
			var status map[string]string
			seen := func() bool { return status[want.check] == want.status }
			// istiod changes what it sends a moment after the fault.
			for deadline := time.Now().Add(viewSettle); ; time.Sleep(time.Second) {
				if got, status = doctorFindings(t, l); seen() || time.Now().After(deadline) {
					break
				}
			}
			if !seen() {
				t.Errorf("findings %q, %s %q; want %s %s", got, want.check, status[want.check], want.check, want.status)
			}
		})
	}
}

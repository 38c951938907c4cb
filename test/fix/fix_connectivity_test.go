package fix

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/fixtest"
)

type plannedChange = reporttest.PlannedChange

func planChanges(t *testing.T, out string) map[string]plannedChange {
	return reporttest.PlanChanges(t, out)
}

// expectPlan runs `fix` (print only) and checks that it plans at least the
// changes in want, each answering the given check.
func expectPlan(t *testing.T, l *lab.Lab, want map[string]string, args ...string) string {
	t.Helper()
	out, stderr, code := labtest.Run(t, l, append([]string{"fix", "--contexts", strings.Join(l.Contexts(), ",")}, args...)...)
	if code != 0 {
		t.Fatalf("fix exited %d\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	got := planChanges(t, out)
	for key, id := range want {
		c, ok := got[key]
		if !ok {
			t.Errorf("the plan has no change %s; it has %v", key, sortedKeys(got))
			continue
		}
		if !slices.Contains(c.Answers, id) {
			t.Errorf("%s answers %v, want %s", key, c.Answers, id)
		}
	}
	if t.Failed() {
		t.Logf("plan:\n%s", out)
	}
	return out
}

// applyFix runs `fix --apply` and fails unless every change was applied.
func applyFix(t *testing.T, l *lab.Lab) {
	t.Helper()
	if out, code := runFix(t, l, "--apply"); code != 0 {
		t.Fatalf("fix --apply exited %d\n%s", code, out)
	}
}

var (
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	servicesGVR    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gatewaysGVR    = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
	vsGVR          = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
)

// provision does what the cloud and the kubelet would after the apply.
func provision(t *testing.T, l *lab.Lab, want ...string) []lab.Provisioned {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := l.ProvisionGateways(ctx)
	if err != nil {
		t.Fatalf("provision gateways: %v", err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Context+" "+p.Service)
	}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("provisioned %v, want %v", names, want)
	}
	return got
}

// reachability runs doctor (probes on) and returns its network × network
// probe outcomes, [source][destination].
func reachability(t *testing.T, l *lab.Lab) map[string]map[string]string {
	t.Helper()
	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
	var r struct {
		Reachability *struct {
			Cells map[string]map[string]struct {
				Outcome string `json:"outcome"`
			} `json:"cells"`
		} `json:"reachability"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor json: %v\n%s", err, stderr)
	}
	if r.Reachability == nil {
		t.Fatalf("doctor ran no gateway probe\nstderr: %s", stderr)
	}
	cells := map[string]map[string]string{}
	for src, row := range r.Reachability.Cells {
		cells[src] = map[string]string{}
		for dst, c := range row {
			cells[src][dst] = c.Outcome
		}
	}
	return cells
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A network without an east-west gateway: fix plans Istio's gateway and the
// cross-network Gateway in west, applies them, and once the lab has done what
// the cloud and the kubelet would, doctor is clean, the probe crosses into
// west, and fix has nothing more to do.
func TestFixConnectivityNoGateway(t *testing.T) {
	l := labtest.Start(t, "no-gateway", 2)
	labtest.ExpectFindings(t, l, []string{"MF3001@west"})

	ns := "istio-system"
	gw := "istio-eastwestgateway"
	expectPlan(t, l, map[string]string{
		"west ServiceAccount " + ns + "/" + gw:          "MF3001",
		"west Role " + ns + "/" + gw:                    "MF3001",
		"west RoleBinding " + ns + "/" + gw:             "MF3001",
		"west Deployment " + ns + "/" + gw:              "MF3001",
		"west Service " + ns + "/" + gw:                 "MF3001",
		"west Gateway " + ns + "/cross-network-gateway": "MF3001",
	})
	aws := expectPlan(t, l, map[string]string{"west Service " + ns + "/" + gw: "MF3001"}, "--aws-lb", "internal")
	fixtest.Golden(t, filepath.Join("testdata", "fix-no-gateway-aws-internal.yaml"), aws)

	applyFix(t, l)
	provision(t, l, "west "+ns+"/"+gw)

	labtest.ExpectFindings(t, l, nil)
	cells := reachability(t, l)
	east, west := l.Network("east"), l.Network("west")
	if got := cells[east][west]; got != "ok" {
		t.Errorf("probe from network %s into %s: %q, want ok (cells %v)", east, west, got, cells)
	}

	expectNothingToDo(t, l, []objectRef{
		{Context: "west", GVR: deploymentsGVR, Namespace: ns, Name: gw}, {Context: "west", GVR: servicesGVR, Namespace: ns, Name: gw}, {Context: "west", GVR: gatewaysGVR, Namespace: ns, Name: "cross-network-gateway"},
	})
}

// A primary that does not expose istiod to its remote: fix installs the
// gateway in east with istiod's ports and expose-istiod.yaml's Gateway and
// VirtualService; afterwards the remote's webhook URL and istiod address are
// served (MF3015, MF3016), doctor is clean, and istiod answers TLS through
// the gateway's address. Until then the remote's injection webhook fails
// every pod, so its sample Deployments have none and helloworld's failover
// target (west's region) has no endpoints (MF5006); once the gateway
// serves, the Deployments are restarted, as an operator would.
func TestFixConnectivityPrimaryRemote(t *testing.T) {
	l := labtest.Start(t, "primary-remote-unexposed", 2)
	labtest.ExpectFindings(t, l, []string{"MF3010@east,west", "MF3015@west", "MF3016@west", "MF3016@west", "MF5006@east", "MF5006@west"})

	ns := "istio-system"
	gw := "istio-eastwestgateway"
	expectPlan(t, l, map[string]string{
		"east Deployment " + ns + "/" + gw:         "MF3010",
		"east Service " + ns + "/" + gw:            "MF3010",
		"east Gateway " + ns + "/istiod-gateway":   "MF3010",
		"east VirtualService " + ns + "/istiod-vs": "MF3010",
		"east ServiceAccount " + ns + "/" + gw:     "MF3010",
	})
	applyFix(t, l)
	got := provision(t, l, "east "+ns+"/"+gw)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.RestartWorkloads(ctx, "west"); err != nil {
		t.Fatalf("west's sample pods once the webhook is served: %v", err)
	}

	labtest.ExpectFindings(t, l, nil)
	// The remote's proxies reach istiod's xDS port through the gateway.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", net.JoinHostPort(got[0].Address, "15012"),
		&tls.Config{InsecureSkipVerify: true, ServerName: "istiod.istio-system.svc"}) //nolint:gosec // only who answers matters here
	if err != nil {
		t.Fatalf("TLS to istiod through east's gateway %s:15012: %v", got[0].Address, err)
	}
	certs := conn.ConnectionState().PeerCertificates
	conn.Close()
	if len(certs) == 0 || !slices.Contains(certs[0].DNSNames, "istiod.istio-system.svc") {
		t.Errorf("the gateway's 15012 answered with %v, want istiod's certificate", certs)
	}

	expectNothingToDo(t, l, []objectRef{
		{Context: "east", GVR: deploymentsGVR, Namespace: ns, Name: gw}, {Context: "east", GVR: servicesGVR, Namespace: ns, Name: gw},
		{Context: "east", GVR: gatewaysGVR, Namespace: ns, Name: "istiod-gateway"}, {Context: "east", GVR: vsGVR, Namespace: ns, Name: "istiod-vs"},
	})
}

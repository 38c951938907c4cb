package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

var workloadEntries = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "workloadentries"}

// vmEntry is what the test applies in west: a Service of a VM app in
// sample (in every cluster, as a user defines it for DNS), and in west the
// VM as a WorkloadEntry the Service selects. identity adds the
// serviceAccount and the tlsMode label istio; network names spec.network.
func vmEntry(addr, network string, identity bool) string {
	spec := fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-app-1, namespace: sample}
spec:
  address: %q
  locality: vm-region/vm-zone
  weight: 2
`, addr)
	if network != "" {
		spec += "  network: " + network + "\n"
	}
	if identity {
		spec += "  serviceAccount: vm-app\n  labels: {app: vm-app, security.istio.io/tlsMode: istio}\n"
	} else {
		spec += "  labels: {app: vm-app}\n"
	}
	return spec
}

const vmService = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: vm-app, namespace: sample}
---
apiVersion: v1
kind: Service
metadata: {name: vm-app, namespace: sample, labels: {app: vm-app}}
spec:
  selector: {app: vm-app}
  ports:
  - {name: http, port: 9080, protocol: TCP}
`

// TestWorkloadEntryAcrossNetworks: on the multi-primary lab (two
// networks), a VM registered as a user registers it — a Service with a
// selector in both clusters, a WorkloadEntry in west it selects — is sent
// by the real istiods as the doctor says (MF4050, MF4051):
//  1. with spec.network and an identity (serviceAccount, tlsMode istio):
//     east's sidecar is sent west's gateway on 15443, weighted and placed
//     as the entry says; west's sidecar the VM's address. No finding.
//  2. without the identity: east's sidecar is sent nothing of it (istiod
//     never sends a non-mTLS endpoint through a gateway); west's still the
//     address. The doctor reports MF4050 for the entry in west, east
//     calling.
//  3. with the identity and no network: east's sidecar is sent the VM's
//     address as it is, no gateway. The doctor reports MF4051.
func TestWorkloadEntryAcrossNetworks(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	labtest.RequireIsolation(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, c := range []string{"east", "west"} {
		if err := l.Apply(ctx, c, vmService); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { removeVM(t, l) })
	vmAddr := podPrefix(l, "west") + ".1.252"
	ports := map[string]int32{"vm-app": 9080}
	gateway := viewLine(l.GatewayAddress("west")+":15443", 2, "vm-region/vm-zone/", true)
	direct := viewLine(vmAddr+":9080", 2, "vm-region/vm-zone/", true)

	steps := []struct {
		name     string
		entry    string
		east     []string // what a sidecar of east is sent for vm-app
		findings []string
	}{
		{"network and identity", vmEntry(vmAddr, l.Network("west"), true), []string{gateway}, nil},
		{"no identity", vmEntry(vmAddr, l.Network("west"), false), []string{}, []string{"MF4050 sample/vm-app-1 cluster=west members=[east]"}},
		{"no network", vmEntry(vmAddr, "", true), []string{direct}, []string{"MF4051 sample/vm-app-1 cluster=west members=[east]"}},
	}
	me := map[string]func(*testing.T) map[string][]string{}
	for _, p := range []string{"east", "west"} {
		sc, ok := sidecarOf(ctx, t, l, p)
		if !ok {
			t.Fatalf("%s: no injected sample pod to be a sidecar of", p)
		}
		me[p] = func(t *testing.T) map[string][]string { return edsOf(ctx, t, l, p, sc, ports) }
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := l.Apply(ctx, "west", st.entry); err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{"east": st.east, "west": {direct}}
			for _, p := range []string{"east", "west"} {
				var got []string
				for deadline := time.Now().Add(viewSettle); ; time.Sleep(500 * time.Millisecond) {
					if got = me[p](t)["vm-app"]; slices.Equal(got, want[p]) || time.Now().After(deadline) {
						break
					}
				}
				if slices.Equal(got, want[p]) {
					// Not a moment between two updates: istiod keeps sending it.
					time.Sleep(time.Second)
					got = me[p](t)["vm-app"]
				}
				if !slices.Equal(got, want[p]) {
					t.Errorf("EDS of vm-app for a sidecar of %s:\n got  %q\n want %q", p, got, want[p])
				}
			}
			if got := workloadEntryFindings(t, l); !slices.Equal(got, st.findings) {
				t.Errorf("doctor: findings %q, want %q", got, st.findings)
			}
		})
	}
}

// workloadEntryFindings runs the doctor's WorkloadEntry checks on the lab
// and returns each finding as "ID namespace/name cluster=C members=[...]".
func workloadEntryFindings(t *testing.T, l *lab.Lab) []string {
	t.Helper()
	out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--no-probes", "--checks", "MF4050,MF4051", "--contexts", strings.Join(l.Contexts(), ","))
	var rep struct {
		Findings []struct {
			Check    string
			Message  string
			Evidence []string
			Object   *struct{ Kind, Namespace, Name string }
			Subjects []struct{ Role, Context string }
		}
		Checks []struct{ ID, Status string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor -o json: %v\n%s\n%s", err, out, stderr)
	}
	for _, c := range rep.Checks {
		if c.Status == "unknown" || c.Status == "not-run" {
			t.Errorf("%s: %s, want a verdict", c.ID, c.Status)
		}
	}
	got := []string{}
	for _, f := range rep.Findings {
		var cluster string
		var members []string
		for _, s := range f.Subjects {
			switch s.Role {
			case "cluster":
				cluster = s.Context
			case "member":
				members = append(members, s.Context)
			}
		}
		got = append(got, fmt.Sprintf("%s %s/%s cluster=%s members=%v", f.Check, f.Object.Namespace, f.Object.Name, cluster, members))
		t.Logf("%s: %s\n  %s", f.Check, f.Message, strings.Join(f.Evidence, "\n  "))
	}
	if len(got) == 0 {
		return nil
	}
	return got
}

// removeVM deletes what TestWorkloadEntryAcrossNetworks applied, so the
// lab is as the scenario made it.
func removeVM(t *testing.T, l *lab.Lab) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ignore := func(err error) error {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	for _, c := range []string{"east", "west"} {
		dyn, err := dynamic.NewForConfig(l.RESTConfig(c))
		if err != nil {
			t.Error(err)
			continue
		}
		cs := l.Client(c)
		for _, err := range []error{
			dyn.Resource(workloadEntries).Namespace("sample").Delete(ctx, "vm-app-1", metav1.DeleteOptions{}),
			cs.CoreV1().Services("sample").Delete(ctx, "vm-app", metav1.DeleteOptions{}),
			cs.CoreV1().ServiceAccounts("sample").Delete(ctx, "vm-app", metav1.DeleteOptions{}),
		} {
			if err := ignore(err); err != nil {
				t.Errorf("%s: cleanup: %v", c, err)
			}
		}
	}
}

package istiod

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
)

// Failures users hit in the field (issue 26), on labs made the way users
// make them; test/xds shows on the real istiod that each is what istiod does.

// doctorFindings runs doctor (JSON, with istiod's debug addresses) on every
// context of the lab and returns every finding.
func doctorFindings(t *testing.T, l *lab.Lab) []reporttest.Finding {
	t.Helper()
	args := append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, l.IstiodDebugFlags()...)
	out, stderr, _ := labtest.Run(t, l, args...)
	if out == "" {
		t.Fatalf("doctor wrote no report: %s", stderr)
	}
	return reporttest.Parse(t, out).Findings
}

// only keeps the findings of one check, as check@contexts:object, sorted.
func only(fs []reporttest.Finding, check string) (out []string, kept []reporttest.Finding) {
	for _, f := range fs {
		if f.Check != check {
			continue
		}
		k := f.Check + "@" + strings.Join(f.Contexts, ",")
		if f.Object != nil {
			k += ":" + f.Object.Kind + "/" + strings.TrimPrefix(f.Object.Namespace+"/", "/") + f.Object.Name
		}
		out = append(out, k)
		kept = append(kept, f)
	}
	sort.Strings(out)
	return out, kept
}

// TestDiscoverySelectorsOnLiveLab: east's meshConfig discoverySelectors
// select env=prod, east's namespaces carry it, west's do not. The doctor
// names both of west's namespaces east's istiod drops, with the selector
// and the services lost (west's east-west gateway among istio-system's);
// labelling west's sample by hand silences that finding, and fix --apply
// labels istio-system, after which MF4032 is silent. Nothing else is
// reported that the healthy lab does not report.
func TestDiscoverySelectorsOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "discovery-selectors", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool { return m["west"] == lab.Synced }); err != nil {
		t.Fatalf("east's istiod never synced west: %v", err)
	}

	fs := doctorFindings(t, l)
	got, kept := only(fs, "MF4032")
	want := []string{"MF4032@east,west:Namespace/istio-system", "MF4032@east,west:Namespace/sample"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MF4032 findings %v, want %v", got, want)
	}
	for _, f := range kept {
		t.Logf("%s %s: %s\n  %s", f.Check, f.Severity, f.Message, strings.Join(f.Evidence, "\n  "))
		text := f.Message + " " + strings.Join(f.Evidence, " ")
		for _, say := range []string{"discoverySelectors[0] env=prod", "namespace " + f.Object.Name + " in west"} {
			if !strings.Contains(text, say) {
				t.Errorf("%s about %s does not say %q", f.Check, f.Object.Name, say)
			}
		}
		if f.Severity != "error" {
			t.Errorf("%s about %s is %s, want error", f.Check, f.Object.Name, f.Severity)
		}
		switch f.Object.Name {
		case "sample":
			if !strings.Contains(f.Message, "helloworld, httpbin") {
				t.Errorf("MF4032 about sample does not name the services lost: %s", f.Message)
			}
		case "istio-system":
			if !strings.Contains(f.Message, "istio-eastwestgateway") || !strings.Contains(f.Message, "network-west") {
				t.Errorf("MF4032 about istio-system does not name west's gateway: %s", f.Message)
			}
		}
	}
	for _, f := range fs {
		if f.Check != "MF4032" {
			t.Errorf("another finding on a lab healthy but for the selectors: %s@%v: %s", f.Check, f.Contexts, f.Message)
		}
	}

	// Labelled by hand, as a user does once told.
	patch := []byte(`{"metadata":{"labels":{"env":"prod"}}}`)
	if _, err := l.Client("west").CoreV1().Namespaces().Patch(ctx, "sample", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := only(doctorFindings(t, l), "MF4032"); !reflect.DeepEqual(got, []string{"MF4032@east,west:Namespace/istio-system"}) {
		t.Errorf("after labelling west's sample: MF4032 findings %v, want istio-system's only", got)
	}

	// The rest through fix: it plans the label, never the mesh config.
	out, code := labtest.Fix(t, l, "--only", "MF4032")
	if code != 0 || !strings.Contains(out, "istio-system") || !strings.Contains(out, "env: prod") || strings.Contains(out, "discoverySelectors:") {
		t.Errorf("fix --only MF4032: exit %d, want a plan labelling istio-system env=prod in west\n%s", code, out)
	}
	if out, code := labtest.Fix(t, l, "--apply", "--only", "MF4032"); code != 0 {
		t.Fatalf("fix --apply --only MF4032: exit %d\n%s", code, out)
	}
	ns, err := l.Client("west").CoreV1().Namespaces().Get(ctx, "istio-system", metav1.GetOptions{})
	if err != nil || ns.Labels["env"] != "prod" || ns.Labels["topology.istio.io/network"] != "network-west" {
		t.Fatalf("west's istio-system after fix: labels %v (%v), want env=prod beside the network label", ns.GetLabels(), err)
	}
	if got, _ := only(doctorFindings(t, l), "MF4032"); len(got) != 0 {
		t.Errorf("after labelling west's namespaces: MF4032 findings %v, want none", got)
	}
	if cm, err := l.Client("east").CoreV1().ConfigMaps("istio-system").Get(ctx, "istio", metav1.GetOptions{}); err != nil {
		t.Error(err)
	} else if !strings.Contains(cm.Data["mesh"], "env: prod") {
		t.Errorf("east's mesh config no longer selects env=prod: %s", cm.Data["mesh"])
	}
}

// TestHeadlessAcrossNetworksOnLiveLab: the headless Service db is in both
// clusters, its pod only in west. The doctor reports east, whose sidecars
// get an ORIGINAL_DST cluster for db and cannot route west's pod IP, and
// not west, whose pod is on its own network. Nothing else is reported.
func TestHeadlessAcrossNetworksOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "headless-across-networks", 2)
	fs := doctorFindings(t, l)
	got, kept := only(fs, "MF3020")
	if want := []string{"MF3020@east:Service/sample/db"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("MF3020 findings %v, want %v", got, want)
	}
	f := kept[0]
	t.Logf("%s %s: %s\n  %s", f.Check, f.Severity, f.Message, strings.Join(f.Evidence, "\n  "))
	for _, say := range []string{"network-west", "network-east", "ORIGINAL_DST"} {
		if !strings.Contains(f.Message, say) {
			t.Errorf("MF3020 does not say %q: %s", say, f.Message)
		}
	}
	if f.Severity != "error" {
		t.Errorf("MF3020 is %s, want error (no pod of db on east's network)", f.Severity)
	}
	for _, f := range fs {
		if f.Check != "MF3020" {
			t.Errorf("another finding on a lab healthy but for db: %s@%v: %s", f.Check, f.Contexts, f.Message)
		}
	}
}

// TestDuplicateSubsetsOnLiveLab: east's DestinationRule httpbin-by-cluster
// names subset "east" twice (duplicate-subsets, istio/istio#50353). The
// doctor names the rule in east, the repeated subset, the server name two
// filter chains of east's east-west gateway would match and the gateway;
// nothing else is reported. Renaming the copy silences it. test/xds shows
// what east's istiod sends the gateway.
func TestDuplicateSubsetsOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "duplicate-subsets", 2)
	fs := doctorFindings(t, l)
	got, kept := only(fs, "MF3021")
	if want := []string{"MF3021@east:DestinationRule/sample/httpbin-by-cluster"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("MF3021 findings %v, want %v", got, want)
	}
	f := kept[0]
	t.Logf("%s %s: %s\n  %s", f.Check, f.Severity, f.Message, strings.Join(f.Evidence, "\n  "))
	text := f.Message + " " + strings.Join(f.Evidence, " ")
	for _, say := range []string{`"east" (2 times)`, "outbound_.8000_.east_.httpbin.sample.svc.cluster.local", "istio-system/istio-eastwestgateway of network network-east in east"} {
		if !strings.Contains(text, say) {
			t.Errorf("MF3021 does not say %q", say)
		}
	}
	if f.Severity != "error" {
		t.Errorf("MF3021 is %s, want error", f.Severity)
	}
	for _, f := range fs {
		if f.Check != "MF3021" {
			t.Errorf("another finding on a lab healthy but for the subsets: %s@%v: %s", f.Check, f.Contexts, f.Message)
		}
	}

	// The copy renamed, as the user meant it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	patch := []byte(`[{"op": "replace", "path": "/spec/subsets/1/name", "value": "west"}]`)
	dyn, err := dynamic.NewForConfig(l.RESTConfig("east"))
	if err != nil {
		t.Fatal(err)
	}
	drs := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	if _, err := dyn.Resource(drs).Namespace("sample").Patch(ctx, "httpbin-by-cluster", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := only(doctorFindings(t, l), "MF3021"); len(got) != 0 {
		t.Errorf("after renaming the copy: MF3021 findings %v, want none", got)
	}
}

// TestDistributeWithoutZoneOnLiveLab: no node of west has a zone label, and
// both primaries' DestinationRule httpbin distributes by locality, naming
// west's zone us-west-2a (distribute-without-zone). The doctor reports the
// rule in each primary, naming west's httpbin endpoint on a node without a
// zone, as a warning (east's endpoint is still sent). Besides it only the
// missing labels themselves (MF5001) and the to-locality no node is in
// (MF5004) are reported: the same cause seen from the nodes and the rule.
// istiod itself leaves west's endpoint out of what east's and west's
// sidecars are sent (the doctor's xDS view): MF4025 sees it and leaves it
// to MF5010 instead of blaming the remote secret or the sidecar.
func TestDistributeWithoutZoneOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "distribute-without-zone", 2)
	fs := doctorFindings(t, l)
	got, kept := only(fs, "MF5010")
	want := []string{"MF5010@east:DestinationRule/sample/httpbin", "MF5010@west:DestinationRule/sample/httpbin"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MF5010 findings %v, want %v", got, want)
	}
	for _, f := range kept {
		t.Logf("%s %s: %s\n  %s", f.Check, f.Severity, f.Message, strings.Join(f.Evidence, "\n  "))
		text := f.Message + " " + strings.Join(f.Evidence, " ")
		for _, say := range []string{"httpbin.sample", "have no zone", "on node west-node-", "no topology.kubernetes.io/zone label", "us-west-2/us-west-2a=20"} {
			if !strings.Contains(text, say) && !(say == "us-west-2/us-west-2a=20" && strings.Contains(text, "us-west-2/us-west-2a=80")) {
				t.Errorf("MF5010 in %v does not say %q", f.Contexts, say)
			}
		}
		if f.Severity != "warning" {
			t.Errorf("MF5010 in %v is %s, want warning (east's endpoint is still sent)", f.Contexts, f.Severity)
		}
	}
	out, _, _ := labtest.Run(t, l, append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, l.IstiodDebugFlags()...)...)
	var report struct {
		Checks []struct {
			ID            string   `json:"id"`
			Status        string   `json:"status"`
			ReportedUnder []string `json:"reportedUnder"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	for _, c := range report.Checks {
		if c.ID == "MF4025" && (c.Status != "reported-elsewhere" || !slices.Contains(c.ReportedUnder, "MF5010")) {
			t.Errorf("MF4025 is %s (reported under %v), want reported under MF5010: istiod's view lacks west's endpoint for the rule's sake", c.Status, c.ReportedUnder)
		}
	}
	for _, f := range fs {
		switch f.Check {
		case "MF5010", "MF5001", "MF5004":
		default:
			t.Errorf("another finding on a lab healthy but for west's zones: %s@%v: %s", f.Check, f.Contexts, f.Message)
		}
	}
}

// TestRemoteGatewayClassOnLiveLab: east's istiod runs with
// PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API=false (remote-gateway-class).
// The user installs Gateway API's CRDs (the release the pinned Istio is
// built against) in east and declares west's network gateway there as a
// Gateway of class istio-remote. The doctor names that Gateway and the
// switch; with no such Gateway nothing is reported, nor without the CRDs.
func TestRemoteGatewayClassOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "remote-gateway-class", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if fs := doctorFindings(t, l); len(fs) != 0 {
		for _, f := range fs {
			t.Errorf("before any Gateway API Gateway (no CRDs): %s@%v: %s", f.Check, f.Contexts, f.Message)
		}
	}

	dyn, err := dynamic.NewForConfig(l.RESTConfig("east"))
	if err != nil {
		t.Fatal(err)
	}
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dyn.Resource(crds).Create(ctx, gatewayAPICRD(t, "gateway.networking.k8s.io_gateways.yaml"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gw := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": "remote-gateway-network-west", "namespace": "istio-system",
			"labels": map[string]any{"topology.istio.io/network": l.Network("west")}},
		"spec": map[string]any{
			"gatewayClassName": "istio-remote",
			"addresses":        []any{map[string]any{"value": l.GatewayAddress("west")}},
			"listeners": []any{map[string]any{"name": "cross-network", "port": int64(15443), "protocol": "TLS",
				"tls": map[string]any{"mode": "Passthrough", "options": map[string]any{"gateway.istio.io/listener-protocol": "auto-passthrough"}}}},
		},
	}}
	res := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
	for {
		_, err = dyn.Resource(res).Namespace("istio-system").Create(ctx, gw, metav1.CreateOptions{})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second) // until the CRD is established
	}
	if err != nil {
		t.Fatal(err)
	}

	fs := doctorFindings(t, l)
	got, kept := only(fs, "MF3022")
	if want := []string{"MF3022@east:Gateway/istio-system/remote-gateway-network-west"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("MF3022 findings %v, want %v", got, want)
	}
	f := kept[0]
	t.Logf("%s %s: %s\n  %s", f.Check, f.Severity, f.Message, strings.Join(f.Evidence, "\n  "))
	for _, say := range []string{"PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API=false", l.Network("west"), l.GatewayAddress("west"), "istio-remote"} {
		if !strings.Contains(f.Message, say) {
			t.Errorf("MF3022 does not say %q: %s", say, f.Message)
		}
	}
	for _, f := range fs {
		if f.Check != "MF3022" {
			t.Errorf("another finding on a lab healthy but for the switch: %s@%v: %s", f.Check, f.Contexts, f.Message)
		}
	}
}

// gatewayAPICRD reads a CRD of the Gateway API release the pinned Istio
// requires, from the module cache.
func gatewayAPICRD(t *testing.T, file string) *unstructured.Unstructured {
	t.Helper()
	dir, err := lab.IstioModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/gateway-api (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("the pinned Istio requires no sigs.k8s.io/gateway-api")
	}
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(cache)), "sigs.k8s.io", "gateway-api@"+string(m[1]), "config", "crd", "standard", file))
	if err != nil {
		t.Skipf("Gateway API %s is not in the module cache: %v", m[1], err)
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &crd.Object); err != nil {
		t.Fatal(err)
	}
	return crd
}

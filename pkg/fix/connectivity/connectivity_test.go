package connectivity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/fixtest"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/render/fixplan"
)

// fixtureCase is a fleet fixture (DIR/<context>/*.yaml) and the options to
// plan it with.
type fixtureCase struct {
	name string
	dir  string
	opts fix.Options
	// stays lists the findings meant to survive the fix: those the plan
	// only notes or refuses.
	stays []checks.ID
	// changes are the changes the plan must hold, "context Kind ns/name".
	changes []string
}

func cases() []fixtureCase {
	checksDir := filepath.Join("..", "..", "checks", "all", "testdata")
	return []fixtureCase{
		// The checks' own failing fixtures: each must be answered.
		{name: "MF3001-no-gateway", dir: filepath.Join(checksDir, "MF3001", "fail-no-gateway"), changes: []string{
			"west Service istio-gateways/istio-eastwestgateway", "west Deployment istio-gateways/istio-eastwestgateway",
			"west ServiceAccount istio-gateways/istio-eastwestgateway", "west Gateway istio-system/cross-network-gateway"}},
		{name: "MF3003-named-tcp", dir: filepath.Join(checksDir, "MF3003", "fail-named-tcp")},
		{name: "MF3004-pods-on-other-network", dir: filepath.Join(checksDir, "MF3004", "fail-pods-on-other-network")},
		{name: "MF3004-service-for-other-network", dir: filepath.Join(checksDir, "MF3004", "fail-service-for-other-network")},
		{name: "MF3005-view-missing", dir: filepath.Join(checksDir, "MF3005", "fail-view-missing")},
		{name: "MF3006-no-gateway-object", dir: filepath.Join(checksDir, "MF3006", "fail-no-gateway-object")},
		{name: "MF3006-passthrough-mode", dir: filepath.Join(checksDir, "MF3006", "fail-passthrough-mode"), stays: []checks.ID{noCrossNetworkGateway}},
		{name: "MF3007-duplicate", dir: filepath.Join(checksDir, "MF3007", "fail-duplicate"), stays: []checks.ID{duplicateGateway}},
		{name: "MF3010-no-istiod-gateway", dir: filepath.Join(checksDir, "MF3010", "fail-no-istiod-gateway")},
		{name: "MF3010-ports-missing", dir: filepath.Join(checksDir, "MF3010", "fail-ports-missing")},
		// This package's own.
		{name: "new-gateway", dir: filepath.Join("testdata", "no-gateway"), changes: []string{
			"west ServiceAccount istio-system/istio-eastwestgateway", "west Role istio-system/istio-eastwestgateway",
			"west RoleBinding istio-system/istio-eastwestgateway", "west Deployment istio-system/istio-eastwestgateway",
			"west Service istio-system/istio-eastwestgateway", "west Gateway istio-system/cross-network-gateway"}},
		{name: "new-gateway-aws-internal", dir: filepath.Join("testdata", "no-gateway"), opts: fix.Options{AWSLoadBalancer: "internal"}},
		{name: "broken-gateway", dir: filepath.Join("testdata", "broken-gateway"), changes: []string{
			"east Service istio-system/istio-eastwestgateway", "east Deployment istio-system/istio-eastwestgateway",
			"east Gateway istio-system/cross-network-gateway"}},
		{name: "remote-gateway", dir: filepath.Join("testdata", "remote-gateway"), changes: []string{
			"east Gateway istio-system/cross-network-gateway-net-west"}},
		{name: "primary-remote-unexposed", dir: filepath.Join("testdata", "primary-remote-unexposed"), changes: []string{
			"east Deployment istio-system/istio-eastwestgateway", "east Service istio-system/istio-eastwestgateway",
			"east Gateway istio-system/istiod-gateway", "east VirtualService istio-system/istiod-vs"}},
	}
}

// TestPlans plans each fixture, compares the plan with its golden file,
// applies it to the fixture the way server-side apply merges it (and gives
// new load balancers an address, as the cloud would), and checks that the
// answered findings are gone and that a second plan changes nothing.
func TestPlans(t *testing.T) {
	reg := all.Registry()
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			f, err := fleet.LoadDir(tc.dir, "istio-system")
			if err != nil {
				t.Fatal(err)
			}
			before := findings(f, reg)
			if len(before) == 0 {
				t.Fatal("the fixture gives no finding to fix")
			}
			plan, err := Fixer{}.Plan(fix.Input{Fleet: f, Findings: before, Options: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Empty() && len(tc.stays) == 0 {
				t.Fatalf("no change planned for %v", ids(before))
			}
			fixtest.Golden(t, filepath.Join("testdata", "golden", tc.name+".yaml"), render(plan))
			have := map[string]bool{}
			for _, c := range plan.Changes {
				have[fmt.Sprintf("%s %s %s/%s", c.Context, c.Object.GetKind(), c.Object.GetNamespace(), c.Object.GetName())] = true
				if c.Reason == "" || len(c.Answers) == 0 {
					t.Errorf("%s %s has no reason or answers nothing", c.Context, c.Object.GetName())
				}
			}
			for _, want := range tc.changes {
				if !have[want] {
					t.Errorf("no change for %s; have %v", want, keysOf(have))
				}
			}

			applied, err := fleet.LoadDir(applyPlan(t, tc.dir, plan), "istio-system")
			if err != nil {
				t.Fatal(err)
			}
			after := findings(applied, reg)
			seen := map[string]bool{}
			for _, fd := range before {
				seen[identity(fd)] = true
			}
			var left []checks.ID
			for _, fd := range after {
				answered := containsID(Fixer{}.Answers(), fd.Check) && fd.Severity >= checks.SeverityWarning && !containsID(tc.stays, fd.Check)
				if answered || !seen[identity(fd)] {
					left = append(left, fd.Check)
					t.Logf("left: %s %s %v %s", fd.Check, fd.Severity, fd.Contexts, fd.Message)
				}
			}
			if len(left) > 0 {
				t.Errorf("after applying the plan: %v remain", left)
			}
			again, err := Fixer{}.Plan(fix.Input{Fleet: applied, Findings: after, Options: tc.opts})
			if err != nil {
				t.Fatal(err)
			}
			if !again.Empty() {
				t.Errorf("a second plan changes %d objects:\n%s", len(again.Changes), render(again))
			}
		})
	}
}

func TestRefusesUnknownAWSScheme(t *testing.T) {
	f, err := fleet.LoadDir(filepath.Join("testdata", "no-gateway"), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Fixer{}).Plan(fix.Input{Fleet: f, Options: fix.Options{AWSLoadBalancer: "external"}}); err == nil {
		t.Error("an unknown scheme was accepted")
	}
}

// TestNotesAndRefusals: duplicates are explained and left alone; a Gateway
// server on 15443 in the wrong mode is not shadowed by a second one.
func TestNotesAndRefusals(t *testing.T) {
	reg := all.Registry()
	for _, tc := range []struct {
		dir      string
		id       checks.ID
		refusal  bool
		noChange bool
	}{
		{filepath.Join("..", "..", "checks", "all", "testdata", "MF3007", "fail-duplicate"), duplicateGateway, false, true},
		{filepath.Join("..", "..", "checks", "all", "testdata", "MF3006", "fail-passthrough-mode"), noCrossNetworkGateway, true, true},
	} {
		f, err := fleet.LoadDir(tc.dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		plan, err := Fixer{}.Plan(fix.Input{Fleet: f, Findings: findings(f, reg)})
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, n := range plan.Notes {
			got = got || (!tc.refusal && containsID(n.Answers, tc.id))
		}
		for _, r := range plan.Refused {
			got = got || (tc.refusal && containsID(r.Answers, tc.id))
		}
		if !got {
			t.Errorf("%s: no %s for %s: %+v", tc.dir, map[bool]string{true: "refusal", false: "note"}[tc.refusal], tc.id, plan)
		}
		for _, c := range plan.Changes {
			if tc.noChange && containsID(c.Answers, tc.id) {
				t.Errorf("%s: a change answers %s: %s %s", tc.dir, tc.id, c.Object.GetKind(), c.Object.GetName())
			}
		}
	}
}

// TestOneChangePerObject: the findings about one gateway Deployment
// (network label and network view) make one change that answers both.
func TestOneChangePerObject(t *testing.T) {
	f, err := fleet.LoadDir(filepath.Join("testdata", "broken-gateway"), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Fixer{}.Plan(fix.Input{Fleet: f, Findings: findings(f, all.Registry())})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range plan.Changes {
		if c.Object.GetKind() == "Deployment" {
			n++
			if !containsID(c.Answers, networkLabels) || !containsID(c.Answers, networkView) {
				t.Errorf("the Deployment's change answers %v, want MF3004 and MF3005", c.Answers)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d changes of the gateway Deployment, want 1", n)
	}
}

// findings runs the checks this fixer answers, and MF3002 (a gateway
// without address, which the simulated cloud must clear).
func findings(f *model.Fleet, reg *checks.Registry) []checks.Finding {
	only := []string{"MF3002"}
	for _, id := range (Fixer{}).Answers() {
		only = append(only, string(id))
	}
	return checks.Run(f, reg, checks.Selection{Only: only}).Findings
}

// identity is what tells findings apart: check, contexts and object.
func identity(fd checks.Finding) string {
	return fmt.Sprintf("%s %v %s", fd.Check, fd.Contexts, fd.Object)
}

func ids(fs []checks.Finding) []checks.ID {
	var out []checks.ID
	for _, f := range fs {
		out = append(out, f.Check)
	}
	return out
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// render prints a plan as `kubectl meshfed fix` does, after fix.Build
// put it in its stable order.
func render(p fix.Plan) string {
	built, err := fix.Build([]fix.Fixer{planOf{p}}, fix.Input{Findings: []checks.Finding{{Check: networkWithoutGateway}}})
	if err != nil {
		panic(err)
	}
	var b strings.Builder
	if err := fixplan.Plan(&b, &built, all.Registry().Catalog); err != nil {
		panic(err)
	}
	return b.String()
}

// planOf hands fix.Build a plan already made.
type planOf struct{ p fix.Plan }

func (planOf) Answers() []checks.ID               { return []checks.ID{networkWithoutGateway} }
func (x planOf) Plan(fix.Input) (fix.Plan, error) { return x.p, nil }

// readable are the kinds a fleet fixture can hold (what the doctor reads).
var readable = map[string]bool{
	"Namespace": true, "Node": true, "Service": true, "EndpointSlice": true, "Deployment": true, "Pod": true,
	"ConfigMap": true, "Secret": true, "MutatingWebhookConfiguration": true, "Gateway": true, "DestinationRule": true,
}

// applyPlan writes a copy of the fixture with the plan applied: each
// change merged into the object it names (as server-side apply merges the
// fields meshfed sets) or added, and every LoadBalancer Service without an
// address given one, as the cloud's load balancer controller would. Kinds the doctor
// does not read are left out.
func applyPlan(t *testing.T, dir string, plan fix.Plan) string {
	t.Helper()
	out := t.TempDir()
	ctxDirs, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	lb := 100
	for _, cd := range ctxDirs {
		st, err := os.Stat(cd)
		if err != nil || !st.IsDir() {
			continue
		}
		ctx := filepath.Base(cd)
		var docs []map[string]any
		files, _ := filepath.Glob(filepath.Join(cd, "*.yaml"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(file) == fleet.StateFile {
				if err := os.MkdirAll(filepath.Join(out, ctx), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, ctx, fleet.StateFile), b, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
				var m map[string]any
				if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
					t.Fatal(err)
				}
				if len(m) > 0 {
					docs = append(docs, m)
				}
			}
		}
		for _, c := range plan.Changes {
			if c.Context != ctx {
				continue
			}
			obj := runtime.DeepCopyJSON(c.Object.Object)
			if existing := find(docs, obj); existing != nil {
				mergeObject(existing, obj)
				continue
			}
			docs = append(docs, obj)
		}
		for _, d := range docs {
			if d["kind"] != "Service" {
				continue
			}
			spec, _ := d["spec"].(map[string]any)
			status, _ := d["status"].(map[string]any)
			if lbs, _ := status["loadBalancer"].(map[string]any); spec["type"] == "LoadBalancer" && lbs["ingress"] == nil {
				lb++
				d["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]any{"ip": fmt.Sprintf("192.0.2.%d", lb)}}}}
			}
		}
		var buf bytes.Buffer
		for _, d := range docs {
			if kind, _ := d["kind"].(string); !readable[kind] {
				continue
			}
			j, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(j)
			buf.WriteString("\n---\n")
		}
		if err := os.MkdirAll(filepath.Join(out, ctx), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, ctx, "objects.yaml"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func find(docs []map[string]any, obj map[string]any) map[string]any {
	md := func(m map[string]any) (string, string) {
		meta, _ := m["metadata"].(map[string]any)
		ns, _ := meta["namespace"].(string)
		name, _ := meta["name"].(string)
		return ns, name
	}
	ns, name := md(obj)
	for _, d := range docs {
		dns, dname := md(d)
		if d["kind"] == obj["kind"] && dns == ns && dname == name {
			return d
		}
	}
	return nil
}

// TestRenamedContexts: the plan follows the finding's roles, not the order
// of its contexts. The runner sorts a finding's contexts; with the primary
// renamed to sort last ("z-east") and the remote first ("a-west"), MF3010
// must still give the primary the same changes, notes and refusals.
func TestRenamedContexts(t *testing.T) {
	reg := all.Registry()
	rename := map[string]string{"east": "z-east", "west": "a-west"}
	for _, dir := range []string{
		filepath.Join("..", "..", "checks", "all", "testdata", "MF3010", "fail-no-istiod-gateway"),
		filepath.Join("..", "..", "checks", "all", "testdata", "MF3010", "fail-ports-missing"),
		filepath.Join("testdata", "primary-remote-unexposed"),
	} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			plan := func(dir string) (fix.Plan, []checks.Finding) {
				f, err := fleet.LoadDir(dir, "istio-system")
				if err != nil {
					t.Fatal(err)
				}
				fds := findings(f, reg)
				p, err := Fixer{}.Plan(fix.Input{Fleet: f, Findings: fds})
				if err != nil {
					t.Fatal(err)
				}
				return p, fds
			}
			want, _ := plan(dir)
			renamed := t.TempDir()
			for from, to := range rename {
				copyDir(t, filepath.Join(dir, from), filepath.Join(renamed, to))
			}
			got, fds := plan(renamed)
			for _, fd := range fds {
				if fd.Check == istiodNotExposed && (len(fd.Contexts) < 2 || fd.Contexts[0] != "a-west" || fd.Subject(checks.RolePrimary) != "z-east") {
					t.Fatalf("the fixture no longer puts the remote first: contexts %v, subjects %v", fd.Contexts, fd.Subjects)
				}
			}
			if want.Empty() || got.Empty() {
				t.Fatalf("empty plan: before renaming %d changes, after %d", len(want.Changes), len(got.Changes))
			}
			for _, c := range got.Changes {
				if c.Context != "z-east" {
					t.Errorf("change of %s %s planned in %s, not in the primary", c.Object.GetKind(), c.Object.GetName(), c.Context)
				}
			}
			// Compared without line wrapping, which the longer names move.
			back := unwrapped(strings.NewReplacer("z-east", "east", "a-west", "west").Replace(render(got)))
			if back != unwrapped(render(want)) {
				t.Errorf("the plan changed with the contexts' names:\n got (names mapped back)\n%s\n want\n%s", back, render(want))
			}
		})
	}
}

var wrap = regexp.MustCompile(`\s*\n#\s+|\s+`)

func unwrapped(s string) string { return wrap.ReplaceAllString(s, " ") }

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

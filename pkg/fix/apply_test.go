package fix

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// The apply engine against real API servers: two lab clusters.

func configMap(ns, name string, data map[string]any) *unstructured.Unstructured {
	u := object("v1", "ConfigMap", ns, name, nil)
	u.Object["data"] = data
	return u
}

func labClients(l *lab.Lab, timeout time.Duration) *kube.Clients {
	return NewRESTClients(func(ctx string) (*rest.Config, error) {
		if cfg := l.RESTConfig(ctx); cfg != nil {
			return cfg, nil
		}
		return nil, fmt.Errorf("no context %q", ctx)
	}, timeout)
}

func actions(r Result) string {
	var out []string
	for _, o := range r.Outcomes {
		s := o.Key.Context + " " + o.Key.Object() + " " + string(o.Action)
		if o.DryRun {
			s += " (dry run)"
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

func resourceVersion(t *testing.T, l *lab.Lab, ctx, ns, name string) string {
	t.Helper()
	cm, err := l.Client(ctx).CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "absent"
	}
	return cm.ResourceVersion
}

// One lab for every case (a lab takes half a minute to start); the cases
// touch objects of their own names.
func TestApplyOnLab(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	t.Run("apply, re-apply, dry run, conflicts", func(t *testing.T) { testApply(t, l) })
	t.Run("one cluster rejects a change", func(t *testing.T) { testPartialFailure(t, l) })
	t.Run("one cluster hangs", func(t *testing.T) { testHungCluster(t, l) })
	t.Run("a change completed at apply time", func(t *testing.T) { testComplete(t, l) })
}

// A Secret whose value comes from an object an earlier phase creates: the
// dry run validates it without (and says so), the apply completes it.
func testComplete(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	east := l.Contexts()[0]
	secret := object("v1", "Secret", "istio-system", "completed", nil)
	secret.Object["data"] = map[string]any{"token": ""}
	plan := Plan{Changes: []Change{
		{Context: east, Phase: PhaseIdentity, Object: configMap("istio-system", "source", map[string]any{"token": "s3cr3t-value"})},
		{Context: east, Phase: PhaseConfigure, Object: secret, Pending: "the source's token",
			Complete: func(ctx context.Context, c Clients) (*unstructured.Unstructured, error) {
				kc, err := c.Client(east)
				if err != nil {
					return nil, err
				}
				var cm corev1.ConfigMap
				if err := kc.Core().Get().Namespace("istio-system").Resource("configmaps").Name("source").Do(ctx).Into(&cm); err != nil {
					return nil, err
				}
				done := secret.DeepCopy()
				done.Object["data"] = map[string]any{"token": base64.StdEncoding.EncodeToString([]byte(cm.Data["token"]))}
				return done, nil
			}},
	}}
	r := Apply(ctx, plan, labClients(l, 10*time.Second), ApplyOptions{DryRun: true})
	if o := r.Outcomes[1]; o.Action != Created || !strings.Contains(o.Detail, "validated without what is filled in at apply") {
		t.Errorf("dry run: %+v", o)
	}
	r = Apply(ctx, plan, labClients(l, 10*time.Second), ApplyOptions{})
	if r.Failed() {
		t.Fatalf("apply: %s", actions(r))
	}
	s, err := l.Client(east).CoreV1().Secrets("istio-system").Get(ctx, "completed", metav1.GetOptions{})
	if err != nil || string(s.Data["token"]) != "s3cr3t-value" {
		t.Errorf("completed secret: %v", err)
	}
}

func TestOneLineHidesSecretValues(t *testing.T) {
	s := object("v1", "Secret", "ns", "s", nil)
	s.Object["data"] = map[string]any{"k": base64.StdEncoding.EncodeToString([]byte("topsecretvalue"))}
	s.Object["stringData"] = map[string]any{"p": "plainsecret"}
	msg := oneLine("Secret \"s\" is invalid:\n data[k]: topsecretvalue, "+s.Object["data"].(map[string]any)["k"].(string)+" and plainsecret", s)
	for _, leak := range []string{"topsecretvalue", "plainsecret", "dG9wc2VjcmV0dmFsdWU"} {
		if strings.Contains(msg, leak) {
			t.Errorf("%q in %q", leak, msg)
		}
	}
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "sha256 ") {
		t.Errorf("message %q", msg)
	}
}

func testApply(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	clients := labClients(l, 10*time.Second)
	east, west := l.Contexts()[0], l.Contexts()[1]
	plan := func(value string) Plan {
		p := Plan{Changes: []Change{
			{Context: east, Phase: PhaseConfigure, Object: configMap("meshfed-test", "settings", map[string]any{"k": value}), Answers: []checks.ID{"MF5002"}},
			{Context: east, Phase: PhasePrepare, Object: object("v1", "Namespace", "", "meshfed-test", map[string]string{"test": "fix"})},
			{Context: west, Phase: PhaseConfigure, Object: configMap("istio-system", "settings", map[string]any{"k": value})},
		}}
		p.Sort()
		return p
	}

	// A server dry run validates (the ConfigMap in a namespace the plan
	// creates first included) and changes nothing.
	r := Apply(ctx, plan("1"), clients, ApplyOptions{DryRun: true})
	want := east + " Namespace meshfed-test created (dry run)\n" + east + " ConfigMap meshfed-test/settings created (dry run)\n" + west + " ConfigMap istio-system/settings created (dry run)"
	if actions(r) != want || r.Failed() {
		t.Fatalf("dry run:\n%s\nwant:\n%s\n%+v", actions(r), want, r.Outcomes)
	}
	if rv := resourceVersion(t, l, west, "istio-system", "settings"); rv != "absent" {
		t.Fatalf("the dry run created the ConfigMap (resourceVersion %s)", rv)
	}

	r = Apply(ctx, plan("1"), clients, ApplyOptions{})
	want = east + " Namespace meshfed-test created\n" + east + " ConfigMap meshfed-test/settings created\n" + west + " ConfigMap istio-system/settings created"
	if actions(r) != want || r.Failed() || len(r.Changed()) != 3 {
		t.Fatalf("apply:\n%s\nwant:\n%s\n%+v", actions(r), want, r.Outcomes)
	}
	cm, err := l.Client(west).CoreV1().ConfigMaps("istio-system").Get(ctx, "settings", metav1.GetOptions{})
	if err != nil || cm.Data["k"] != "1" || cm.ManagedFields[0].Manager != FieldManager {
		t.Fatalf("applied ConfigMap: %v %+v", err, cm)
	}
	rv := cm.ResourceVersion

	// Applying the same plan again changes nothing.
	for _, dry := range []bool{true, false} {
		r = Apply(ctx, plan("1"), clients, ApplyOptions{DryRun: dry})
		for _, o := range r.Outcomes {
			if o.Action != Unchanged {
				t.Errorf("re-apply (dry run %v): %s %s, want unchanged", dry, o.Key, o.Action)
			}
		}
	}
	if got := resourceVersion(t, l, west, "istio-system", "settings"); got != rv {
		t.Errorf("re-applying moved the resourceVersion %s → %s", rv, got)
	}

	// A changed value: configured, in a dry run without writing.
	r = Apply(ctx, plan("2"), clients, ApplyOptions{DryRun: true})
	if o := r.Outcomes[2]; o.Action != Configured || !o.DryRun {
		t.Errorf("dry run of a change: %+v", o)
	}
	if got := resourceVersion(t, l, west, "istio-system", "settings"); got != rv {
		t.Errorf("a dry run wrote (resourceVersion %s → %s)", rv, got)
	}

	// Another manager owns k in west: a conflict, unless forced.
	other := configMap("istio-system", "settings", map[string]any{"k": "theirs"})
	if _, err := l.Client(west).CoreV1().RESTClient().Patch("application/apply-patch+yaml").
		AbsPath("/api/v1/namespaces/istio-system/configmaps/settings").Param("fieldManager", "someone-else").Param("force", "true").
		Body(mustJSON(t, other)).Do(ctx).Get(); err != nil {
		t.Fatal(err)
	}
	r = Apply(ctx, plan("3"), clients, ApplyOptions{})
	if o := r.Outcomes[2]; o.Action != Failed || !strings.Contains(o.Detail, "someone-else") {
		t.Errorf("conflict: %+v", o)
	}
	if o := r.Outcomes[1]; o.Action != Configured {
		t.Errorf("east, with no conflict, was not applied: %+v", o)
	}
	r = Apply(ctx, plan("3"), clients, ApplyOptions{ForceConflicts: true})
	if r.Failed() {
		t.Errorf("--force-conflicts: %s", actions(r))
	}
}

// One cluster rejecting a change stops nothing elsewhere; in that cluster
// nothing is applied.
func testPartialFailure(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	east, west := l.Contexts()[0], l.Contexts()[1]
	if _, err := l.Client(west).CoreV1().ConfigMaps("istio-system").Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "meshfed-denied", Namespace: "istio-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	undo, err := l.DenyUpdates(ctx, west, corev1.SchemeGroupVersion.WithResource("configmaps"), "istio-system", "meshfed-denied", "denied by the test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := undo(ctx); err != nil {
			t.Error(err)
		}
	}()
	plan := Plan{Changes: []Change{
		{Context: east, Phase: PhasePrepare, Object: configMap("istio-system", "first", map[string]any{"k": "v"})},
		{Context: west, Phase: PhasePrepare, Object: configMap("istio-system", "first", map[string]any{"k": "v"})},
		{Context: west, Phase: PhaseConfigure, Object: configMap("istio-system", "meshfed-denied", map[string]any{"k": "v"})},
		{Context: east, Phase: PhaseConfigure, Object: configMap("istio-system", "meshfed-denied", map[string]any{"k": "v"})},
	}}
	plan.Sort()
	r := Apply(ctx, plan, labClients(l, 10*time.Second), ApplyOptions{})
	if !r.Failed() {
		t.Fatal("a rejected change, yet the result did not fail")
	}
	got := map[string]Outcome{}
	for _, o := range r.Outcomes {
		got[o.Key.Context+"/"+o.Key.Name] = o
	}
	if o := got[west+"/meshfed-denied"]; o.Action != Failed || !strings.Contains(o.Detail, "denied by the test") {
		t.Errorf("west's denied change: %+v", o)
	}
	if o := got[west+"/first"]; o.Action != Skipped || !strings.Contains(o.Detail, "dry run") {
		t.Errorf("west's other change: %+v", o)
	}
	for _, name := range []string{"first", "meshfed-denied"} {
		if o := got[east+"/"+name]; o.Action != Created {
			t.Errorf("east %s: %+v", name, o)
		}
	}
	if rv := resourceVersion(t, l, west, "istio-system", "first"); rv != "absent" {
		t.Error("west got a change although another of its changes was rejected")
	}
}

// A cluster that accepts connections and never answers fails its changes
// within the timeout; the others are applied.
func testHungCluster(t *testing.T, l *lab.Lab) {
	east := l.Contexts()[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	clients := NewRESTClients(func(ctx string) (*rest.Config, error) {
		if ctx == "hung" {
			return &rest.Config{Host: "https://" + ln.Addr().String(), TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, nil
		}
		return l.RESTConfig(ctx), nil
	}, 2*time.Second)
	plan := Plan{Changes: []Change{
		{Context: "hung", Phase: PhasePrepare, Object: configMap("istio-system", "a", map[string]any{"k": "v"})},
		{Context: "hung", Phase: PhaseConfigure, Object: configMap("istio-system", "b", map[string]any{"k": "v"})},
		{Context: east, Phase: PhaseConfigure, Object: configMap("istio-system", "hung-test", map[string]any{"k": "v"})},
	}}
	start := time.Now()
	r := Apply(context.Background(), plan, clients, ApplyOptions{Timeout: 2 * time.Second})
	took := time.Since(start)
	if r.Outcomes[0].Action != Failed || r.Outcomes[1].Action != Skipped || !strings.Contains(r.Outcomes[1].Detail, "did not answer") {
		t.Errorf("hung cluster:\n%s\n%+v", actions(r), r.Outcomes)
	}
	if r.Outcomes[2].Action != Created {
		t.Errorf("east: %+v", r.Outcomes[2])
	}
	t.Logf("applied with a hung cluster in %s (timeout 2s per request)", took.Round(time.Millisecond))
}

func mustJSON(t *testing.T, u *unstructured.Unstructured) []byte {
	t.Helper()
	b, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSameContentSeesOwnershipChanges: a dry run that only adds our field
// manager's entry (the apply takes fields over from another tool) is a
// write, as the apply's new resourceVersion will show: not "unchanged". A
// new timestamp alone is not a change.
func TestSameContentSeesOwnershipChanges(t *testing.T) {
	obj := func(managers ...string) *unstructured.Unstructured {
		var managed []any
		for i, m := range managers {
			managed = append(managed, map[string]any{"manager": m, "operation": "Apply", "time": fmt.Sprintf("2026-12-04T00:00:0%dZ", i),
				"fieldsV1": map[string]any{"f:rules": map[string]any{}}})
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": map[string]any{"name": "istio-reader", "resourceVersion": "1", "managedFields": managed},
			"rules":    []any{map[string]any{"verbs": []any{"get"}}},
		}}
	}
	before, after := obj("helm"), obj("helm", FieldManager)
	if sameContent(before, after) {
		t.Error("a dry run that adds kubectl-meshfed's managedFields entry is unchanged; the apply will write it")
	}
	if !sameContent(obj(FieldManager), obj(FieldManager)) {
		t.Error("the same object is not the same content")
	}
	stamped := obj(FieldManager)
	m, _, _ := unstructured.NestedSlice(stamped.Object, "metadata", "managedFields")
	m[0].(map[string]any)["time"] = "2026-12-05T00:00:00Z"
	_ = unstructured.SetNestedSlice(stamped.Object, m, "metadata", "managedFields")
	_ = unstructured.SetNestedField(stamped.Object, "2", "metadata", "resourceVersion")
	if !sameContent(obj(FieldManager), stamped) {
		t.Error("a new timestamp and resourceVersion alone count as a change")
	}
}

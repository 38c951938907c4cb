package e2e

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/internal/reporttest"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
)

func ofChecks(fs []finding, ids ...string) []finding { return reporttest.Of(fs, ids...) }

// withoutRemoteControl drops the rules that grant any of what a controlling
// istiod needs beyond reading (probe.RemoteControlAccess).
func withoutRemoteControl(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		grants := false
		for _, a := range probe.RemoteControlAccess {
			grants = grants || (slices.Contains(r.APIGroups, a.Group) && slices.Contains(r.Resources, a.Resource) && slices.Contains(r.Verbs, a.Verb))
		}
		if !grants {
			out = append(out, r)
		}
	}
	return out
}

// TestPrimaryRemoteOnLiveLab: on a primary-remote lab (east primary, west
// remote, installed with the guide's istiodRemote.injectionPath), the
// doctor dials west's paths to east's istiod (its webhook through west's
// istiod Service to that Service's endpoint on 15017, the Service's
// endpoints on 15012, both forwarded by east's gateway to the real istiod) and judges the remote secret's
// identity by what west's real API server grants it.
func TestPrimaryRemoteOnLiveLab(t *testing.T) {
	l := labtest.Start(t, "primary-remote", 2)
	labtest.RequireIsolation(t, l) // the remote's istiod endpoints are the primary's gateway address only then
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if m, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool { return m["west"] == lab.Synced }); err != nil {
		t.Fatalf("east never synced west: %v (%v)", err, m)
	}
	east, west := l.Client("east"), l.Client("west")
	doctor := func(t *testing.T) []finding {
		t.Helper()
		out, stderr, _ := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", "east,west")
		fs := ofChecks(parseReport(t, out).Findings, "MF3016", "MF4015")
		for _, f := range fs {
			t.Logf("%s %s %v: %s %v", f.Check, f.Severity, f.Contexts, f.Message, f.Evidence)
		}
		if len(fs) > 0 && stderr != "" {
			t.Logf("stderr: %s", stderr)
		}
		return fs
	}

	t.Run("healthy: both paths reach istiod and the reader only reads", func(t *testing.T) {
		if fs := doctor(t); len(fs) != 0 {
			t.Errorf("findings %v, want none", keys(fs))
		}
	})

	t.Run("the webhook's Service sends it to a port where nothing listens", func(t *testing.T) {
		// Istio's remote profile with injectionPath: the webhook calls
		// west's istiod Service, whose EndpointSlice (remotePilotAddress)
		// names east's gateway on 15017. Moving that port cuts the
		// webhook's path, for the doctor and for west's API server.
		hooks, err := west.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "istio-sidecar-injector", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hooks.Webhooks {
			if h.ClientConfig.Service == nil || h.ClientConfig.URL != nil || h.ClientConfig.Service.Path == nil ||
				!strings.HasPrefix(*h.ClientConfig.Service.Path, "/inject/cluster/west/net/") {
				t.Fatalf("webhook %s calls %+v, want the istiod Service with the injection path (istiodRemote.injectionPath)", h.Name, h.ClientConfig)
			}
		}
		slices := west.DiscoveryV1().EndpointSlices("istio-system")
		orig, err := slices.Get(ctx, "istiod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		broken := orig.DeepCopy()
		moved := false
		for i, p := range broken.Ports {
			if p.Port != nil && *p.Port == 15017 {
				port := int32(15019)
				broken.Ports[i].Port = &port
				moved = true
			}
		}
		if !moved {
			t.Fatalf("west's istiod EndpointSlice has no port 15017: %+v", orig.Ports)
		}
		if _, err := slices.Update(ctx, broken, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cur, err := slices.Get(ctx, orig.Name, metav1.GetOptions{})
			if err == nil {
				cur.Ports = orig.Ports
				_, err = slices.Update(ctx, cur, metav1.UpdateOptions{})
			}
			if err != nil {
				t.Fatalf("restoring the EndpointSlice: %v", err)
			}
		}()
		fs := doctor(t)
		if k := keys(fs); !reflect.DeepEqual(k, []string{"MF3016@west"}) {
			t.Fatalf("findings %v, want MF3016@west", k)
		}
		if fs[0].Severity != "error" || fs[0].Object == nil || fs[0].Object.Kind != "MutatingWebhookConfiguration" {
			t.Errorf("want an error about the webhook, got %s about %+v", fs[0].Severity, fs[0].Object)
		}
		if !strings.Contains(fs[0].Message, "through Service istio-system/istiod:443") || !strings.Contains(fs[0].Message, ":15019") {
			t.Errorf("the finding does not follow the Service to the moved port: %s", fs[0].Message)
		}
		// West's API server is not asked to refuse a pod here: it keeps
		// the connection it already has to the webhook, as it would
		// through kube-proxy, whose conntrack entries keep established
		// connections on their endpoint; only new connections follow the
		// slice, as the doctor's dial does.
	})

	t.Run("the injection webhook injects west's pods through east's istiod", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "injected-", Namespace: "sample"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
		p, err := west.CoreV1().Pods("sample").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("west refused a pod: %v", err)
		}
		defer func() { _ = west.CoreV1().Pods("sample").Delete(ctx, p.Name, metav1.DeleteOptions{}) }()
		injected := false
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			injected = injected || c.Name == "istio-proxy"
		}
		if !injected {
			t.Errorf("west's pod %s has no istio-proxy: the webhook did not inject it", p.Name)
		}
	})

	t.Run("east controls west with a reader's identity, then with the remote's role", func(t *testing.T) {
		// east's istiod takes charge of west: EXTERNAL_ISTIOD on its
		// Deployment (which the doctor reads; the lab's istiod process is
		// not restarted) and west's Istio namespace naming east.
		deps := east.AppsV1().Deployments("istio-system")
		origDep, err := deps.Get(ctx, "istiod", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dep := origDep.DeepCopy()
		dep.Spec.Template.Spec.Containers[0].Env = append(dep.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "EXTERNAL_ISTIOD", Value: "true"})
		if _, err := deps.Update(ctx, dep, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		nss := west.CoreV1().Namespaces()
		ns, err := nss.Get(ctx, "istio-system", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ns.Annotations == nil {
			ns.Annotations = map[string]string{}
		}
		ns.Annotations["topology.istio.io/controlPlaneClusters"] = "east"
		if _, err := nss.Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		roles := west.RbacV1().ClusterRoles()
		const roleName = "istio-reader-clusterrole-istio-system"
		origRole, err := roles.Get(ctx, roleName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if cur, err := deps.Get(ctx, "istiod", metav1.GetOptions{}); err == nil {
				cur.Spec.Template.Spec.Containers = origDep.Spec.Template.Spec.Containers
				_, _ = deps.Update(ctx, cur, metav1.UpdateOptions{})
			}
			if cur, err := nss.Get(ctx, "istio-system", metav1.GetOptions{}); err == nil {
				delete(cur.Annotations, "topology.istio.io/controlPlaneClusters")
				_, _ = nss.Update(ctx, cur, metav1.UpdateOptions{})
			}
			if cur, err := roles.Get(ctx, roleName, metav1.GetOptions{}); err == nil {
				cur.Rules = origRole.Rules
				_, _ = roles.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}()

		// A primary install's reader role only reads. The lab installs
		// west with Istio's remote profile, whose role also grants what a
		// controlling istiod writes: take that away first. RBAC changes
		// reach the authorizer through its informer: ask until the
		// finding comes or a minute passes.
		readOnly := origRole.DeepCopy()
		readOnly.Rules = withoutRemoteControl(readOnly.Rules)
		readOnly, err = roles.Update(ctx, readOnly, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var fs []finding
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			fs = doctor(t)
			if len(fs) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if k := keys(fs); !reflect.DeepEqual(k, []string{"MF4015@east,west"}) {
			t.Fatalf("findings %v, want MF4015@east,west", k)
		}
		if fs[0].Severity != "error" || fs[0].Object == nil || fs[0].Object.Name != "istio-remote-secret-west" {
			t.Errorf("want an error about east's remote secret for west, got %s about %+v", fs[0].Severity, fs[0].Object)
		}

		// Grant what a remote install's reader role adds (Istio's chart).
		role := readOnly.DeepCopy()
		for _, a := range probe.RemoteControlAccess {
			role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{a.Group}, Resources: []string{a.Resource}, Verbs: []string{a.Verb}})
		}
		if _, err := roles.Update(ctx, role, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// RBAC changes reach the authorizer through its informer: give it
		// the time it takes, asking again until the finding goes or a
		// minute passes.
		deadline := time.Now().Add(time.Minute)
		for {
			fs = doctor(t)
			if len(fs) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		if len(fs) != 0 {
			t.Errorf("with the remote's role granted: findings %v, want none", keys(fs))
		}
	})
}

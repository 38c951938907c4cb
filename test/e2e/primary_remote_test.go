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
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
)

// ofChecks keeps the findings of the given checks.
func ofChecks(fs []finding, ids ...string) []finding {
	var out []finding
	for _, f := range fs {
		for _, id := range ids {
			if f.Check == id {
				out = append(out, f)
			}
		}
	}
	return out
}

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
// remote), the doctor dials west's paths to east's istiod (its webhook's
// URL on 15017, its istiod Service's endpoints on 15012, both forwarded by
// east's gateway to the real istiod) and judges the remote secret's
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

	t.Run("the webhook calls a port where nothing listens", func(t *testing.T) {
		hooks := west.AdmissionregistrationV1().MutatingWebhookConfigurations()
		orig, err := hooks.Get(ctx, "istio-sidecar-injector", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		broken := orig.DeepCopy()
		for i := range broken.Webhooks {
			u := *broken.Webhooks[i].ClientConfig.URL
			u = strings.Replace(u, ":15017/", ":15019/", 1)
			broken.Webhooks[i].ClientConfig.URL = &u
		}
		if _, err := hooks.Update(ctx, broken, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cur, err := hooks.Get(ctx, orig.Name, metav1.GetOptions{})
			if err == nil {
				cur.Webhooks = orig.Webhooks
				_, err = hooks.Update(ctx, cur, metav1.UpdateOptions{})
			}
			if err != nil {
				t.Fatalf("restoring the webhook: %v", err)
			}
		}()
		fs := doctor(t)
		if k := keys(fs); !reflect.DeepEqual(k, []string{"MF3016@west"}) {
			t.Fatalf("findings %v, want MF3016@west", k)
		}
		if fs[0].Severity != "error" || fs[0].Object == nil || fs[0].Object.Kind != "MutatingWebhookConfiguration" {
			t.Errorf("want an error about the webhook, got %s about %+v", fs[0].Severity, fs[0].Object)
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

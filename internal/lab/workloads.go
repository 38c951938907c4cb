package lab

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

//go:embed templates/workloads.yaml
var workloadsTemplate string

// kcmControllers are the controllers of the lab's kube-controller-manager:
// service-account tokens and the root CA ConfigMap, and the workload
// controllers that turn Deployments into ReplicaSets and Pods and
// selecting Services into EndpointSlices (mirroring the Endpoints of a
// selectorless Service, as a cluster does for manual endpoints).
var kcmControllers = []string{
	"serviceaccount-token-controller", "serviceaccount-controller", "root-ca-certificate-publisher-controller",
	"deployment-controller", "replicaset-controller", "endpointslice-controller", "endpointslice-mirroring-controller",
}

// adoptStandIns gives every control-plane stand-in Pod the lab wrote
// (istiod, gateways: written with their status, before any controller
// runs) the ReplicaSet its Deployment's controller would have made, and
// makes the Pod that ReplicaSet's, as in a cluster. Without it the
// deployment controller would make a ReplicaSet of its own and the
// replicaset controller a second pod beside the stand-in. Called before
// kube-controller-manager starts, so its first look finds them owned.
func (l *Lab) adoptStandIns(ctx context.Context, c *cluster) error {
	deps, err := c.client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range deps.Items {
		d := &deps.Items[i]
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return fmt.Errorf("Deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
		pods, err := c.client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return err
		}
		var orphans []corev1.Pod
		for _, p := range pods.Items {
			if metav1.GetControllerOf(&p) == nil && len(orphans) < int(replicasOf(d)) {
				orphans = append(orphans, p)
			}
		}
		if len(orphans) == 0 {
			continue
		}
		hash := standInHash(d, &orphans[0])
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: d.Name + "-" + hash, Namespace: d.Namespace,
				Labels:          withLabel(d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash),
				Annotations:     map[string]string{"deployment.kubernetes.io/desired-replicas": fmt.Sprint(replicasOf(d)), "deployment.kubernetes.io/max-replicas": fmt.Sprint(replicasOf(d) + 1), "deployment.kubernetes.io/revision": "1"},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
			},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: d.Spec.Replicas,
				Selector: &metav1.LabelSelector{
					MatchLabels:      withLabel(d.Spec.Selector.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash),
					MatchExpressions: d.Spec.Selector.MatchExpressions,
				},
				Template: *d.Spec.Template.DeepCopy(),
			},
		}
		rs.Spec.Template.Labels = withLabel(rs.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
		created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("ReplicaSet of %s/%s: %w", d.Namespace, d.Name, err)
		}
		owner := metav1.NewControllerRef(created, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
		for _, p := range orphans {
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
				"labels":          map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash},
				"ownerReferences": []metav1.OwnerReference{*owner},
			}})
			if _, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return fmt.Errorf("adopt pod %s/%s: %w", p.Namespace, p.Name, err)
			}
		}
	}
	return nil
}

// standInHash is the pod-template-hash of a stand-in Pod: its label, or
// the middle part of a name shaped <deployment>-<hash>-<suffix>.
func standInHash(d *appsv1.Deployment, p *corev1.Pod) string {
	if h := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; h != "" {
		return h
	}
	if rest, ok := strings.CutPrefix(p.Name, d.Name+"-"); ok {
		if h, _, ok := strings.Cut(rest, "-"); ok && h != "" {
			return h
		}
	}
	return podHash(fnv32(d.Namespace + "/" + d.Name))
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	out[k] = v
	return out
}

// mergeValues lays over on base, recursively for maps.
func mergeValues(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// workloadData is what samples.yaml and workloads.yaml read: the
// cluster's TemplateData and the workload faults that apply to it.
type workloadData struct {
	*TemplateData
	NoInjection bool
	// Revision: namespace sample is labelled istio.io/rev=<Revision> for
	// the cluster's revisioned injector instead of istio-injection.
	Revision string
	// OutsideDiscovery labels namespace sample OutsideDiscoveryLabel
	// (discovery-label-differs names the cluster as its peer).
	OutsideDiscovery bool
	// NoPods, NoSidecar and NotReady are keyed by sample app.
	NoPods, NoSidecar, NotReady map[string]bool
	// DBPods: this cluster runs the pods of the headless Service db (headless-db).
	DBPods bool
}

func (l *Lab) workloadData(c *cluster, d *TemplateData) workloadData {
	sc := l.scenario
	return workloadData{TemplateData: d,
		NoInjection:      sc.has(c.name, FaultNoInjection),
		Revision:         sc.value(c.name, FaultRevisionWithoutService),
		OutsideDiscovery: sc.peerOf(c.name, FaultDiscoveryLabelDiffers),
		NoPods:           sc.appFaults(c.name, FaultNoSamplePods),
		NoSidecar:        sc.appFaults(c.name, FaultNoSidecar),
		NotReady:         sc.appFaults(c.name, FaultPodNotReady),
		DBPods:           sc.has(c.name, FaultHeadlessDB),
	}
}

// startWorkloads creates the sample Deployments (templates/workloads.yaml)
// once the cluster's injector can be called, and waits until every one
// has its ready replicas and its Services their EndpointSlices.
func (l *Lab) startWorkloads(ctx context.Context, c *cluster) error {
	data, err := l.templateData(c)
	if err != nil {
		return err
	}
	objs, err := render("workloads", workloadsTemplate, l.workloadData(c, data))
	if err != nil {
		return err
	}
	if !l.net.isolated {
		// No kube-proxy stand-in on loopback (kubeproxy.go): the API server
		// could not call the injector, and with failurePolicy Fail no
		// pod would be created. Pods run without a sidecar instead.
		// Every injector webhook (the revision tag's too) carries the
		// label app=sidecar-injector, in the chart and in install.yaml.
		err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().DeleteCollection(ctx, metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: "app=sidecar-injector"})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		l.logf("  %s: injection webhooks left out on loopback (no path to the istiod Service); sample pods have no sidecar", c.name)
	}
	why := l.injectorUnreachable(c)
	if why == "" && l.net.isolated {
		// The injector serves on 15017 a moment after istiod's /ready.
		p := c
		if c.role == "remote" {
			p = l.clusters[c.primary]
		}
		if err := l.waitSecurePorts(ctx, p); err != nil {
			return err
		}
	}
	if err := l.apply(ctx, c, objs); err != nil {
		return err
	}
	if why != "" {
		// As in a cluster: the webhook fails every pod (failurePolicy
		// Fail) and the ReplicaSets report it (ReplicaFailure).
		l.logf("  %s: sample pods cannot be admitted: %s", c.name, why)
		return nil
	}
	return l.waitWorkloads(ctx, c, objs)
}

// injectorUnreachable says why the injection webhook cannot answer for a
// cluster's pods ("" when it can): its istiod exited (a CA it refused),
// a remote's primary exposes no istiod through a gateway, or the scenario
// keeps the istiod from finishing its start (Scenario.IstiodUnready).
func (l *Lab) injectorUnreachable(c *cluster) string {
	if !l.net.isolated {
		return "" // no webhook on loopback
	}
	p := c
	if c.role == "remote" {
		p = l.clusters[c.primary]
		if l.GatewayAddress(p.name) == "" {
			return "its primary " + p.name + " has no gateway address exposing istiod's webhook port 15017"
		}
	}
	if p.istiodErr != nil {
		return "the istiod of " + p.name + " exited: " + lastLines(p.istiodErr.Error(), 1)
	}
	if rev := l.scenario.value(c.name, FaultRevisionWithoutService); rev != "" {
		return "its injection webhook calls Service istiod-" + rev + ", which does not exist (the API server answers not found)"
	}
	if host := l.scenario.value(c.name, FaultRemotePilotHostname); host != "" {
		return "its injection webhook calls the istiod Service, an ExternalName of " + host + ", which the API server calls on port 443"
	}
	if l.scenario.IstiodUnready {
		return "the istiod of " + p.name + " never finishes its start, so its webhook port 15017 stays closed"
	}
	return ""
}

// RestartWorkloads restarts the sample Deployments of a cluster as
// `kubectl rollout restart` does (a new pod template annotation, so new
// ReplicaSets and pods at once) and waits until they are ready: what an
// operator does once the injector answers again, rather than waiting out
// the replicaset controller's back-off.
func (l *Lab) RestartWorkloads(ctx context.Context, context string) error {
	c := l.clusters[context]
	if c == nil {
		return fmt.Errorf("no cluster %q in the lab", context)
	}
	data, err := l.templateData(c)
	if err != nil {
		return err
	}
	objs, err := render("workloads", workloadsTemplate, l.workloadData(c, data))
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		if _, err := c.client.AppsV1().Deployments(o.GetNamespace()).Patch(ctx, o.GetName(), types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("restart %s/%s: %w", o.GetNamespace(), o.GetName(), err)
		}
	}
	return l.waitWorkloads(ctx, c, objs)
}

// waitWorkloads waits until every Deployment of objs is available with
// all its replicas ready.
func (l *Lab) waitWorkloads(ctx context.Context, c *cluster, objs []*unstructured.Unstructured) error {
	var last string
	err := poll(ctx, 60*time.Second, 100*time.Millisecond, func() (bool, error) {
		for _, o := range objs {
			if o.GetKind() != "Deployment" {
				continue
			}
			d, err := c.client.AppsV1().Deployments(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			want := replicasOf(d)
			if notReady(d) {
				want = 0 // pod-not-ready: running is all they get to
			}
			if d.Status.ObservedGeneration < d.Generation || d.Status.ReadyReplicas < want || d.Status.UpdatedReplicas < replicasOf(d) {
				last = fmt.Sprintf("Deployment %s/%s: %d of %d ready", d.Namespace, d.Name, d.Status.ReadyReplicas, replicasOf(d))
				for _, cond := range d.Status.Conditions {
					if cond.Type == appsv1.DeploymentReplicaFailure && cond.Status == corev1.ConditionTrue {
						last += ": " + cond.Message
					}
				}
				return false, nil
			}
		}
		ok, why, err := slicesCurrent(ctx, c, objs)
		last = why
		return ok, err
	})
	if err != nil {
		return fmt.Errorf("sample workloads not ready (%s): %w", last, err)
	}
	return nil
}

// notReady: the Deployment's pods carry a readiness probe that fails
// (FaultPodNotReady).
func notReady(d *appsv1.Deployment) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		if failingProbe(c.ReadinessProbe) {
			return true
		}
	}
	return false
}

// slicesCurrent reports whether every selecting Service in the namespaces
// of objs has its ready pods' addresses as ready endpoints of its
// EndpointSlices (the endpointslice controller has caught up).
func slicesCurrent(ctx context.Context, c *cluster, objs []*unstructured.Unstructured) (bool, string, error) {
	seen := map[string]bool{}
	for _, o := range objs {
		ns := o.GetNamespace()
		if seen[ns] {
			continue
		}
		seen[ns] = true
		svcs, err := c.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, svc := range svcs.Items {
			if len(svc.Spec.Selector) == 0 {
				continue
			}
			pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
			if err != nil {
				return false, err.Error(), nil
			}
			slices, err := c.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
			if err != nil {
				return false, err.Error(), nil
			}
			ready := map[string]bool{}
			for _, s := range slices.Items {
				for _, e := range s.Endpoints {
					if e.Conditions.Ready != nil && *e.Conditions.Ready {
						for _, a := range e.Addresses {
							ready[a] = true
						}
					}
				}
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && podReady(&p) && !ready[p.Status.PodIP] {
					return false, fmt.Sprintf("EndpointSlices of %s/%s lack pod %s", ns, svc.Name, p.Name), nil
				}
			}
		}
	}
	return true, "", nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && p.Status.PodIP != ""
		}
	}
	return false
}

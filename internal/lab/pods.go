package lab

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// The node stand-ins run the pods that controllers create, as a scheduler
// and kubelets do for a real cluster: a pod without a node is bound to the
// node with the fewest pods of its app (so replicas spread over the zones),
// and a bound pod gets the status a kubelet writes once its containers
// run: Running, Ready, an IP from its node's pod range (spec.podCIDR) and
// the node's address as hostIP. Nothing runs in the containers; the pods
// are what istiod and the endpointslice controller read.
//
// Only pods the lab did not write itself are run: pods a controller made
// (a controller owner reference) or that came without a node. The
// control-plane stand-ins (istiod, gateways) keep the status the lab gave
// them. A pod being deleted is removed once its grace period starts, as
// a kubelet does when the containers have stopped.

// podRunner is one cluster's scheduler and kubelets.
type podRunner struct {
	c      *cluster
	lister listerscorev1.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
	stop   chan struct{}

	mu     sync.Mutex
	nodes  []*runNode
	placed map[string]string // pod UID → node chosen, until the lister shows it
}

type runNode struct {
	name, ip string
	pods     netip.Prefix
	next     int // next host number to hand out in pods
	byUID    map[string]netip.Addr
}

// firstPodHost is the first host number a node hands out: lower ones are
// the control-plane stand-ins' addresses (istiod .4, gateway .5, the
// installers' other pods from .6).
const firstPodHost = 100

// startPodRunner starts the scheduler and kubelet stand-ins of a cluster.
func (l *Lab) startPodRunner(ctx context.Context, c *cluster) error {
	nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	r := &podRunner{c: c, stop: make(chan struct{}), placed: map[string]string{},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 2*time.Second))}
	for _, n := range nodes.Items {
		rn := &runNode{name: n.Name, next: firstPodHost, byUID: map[string]netip.Addr{}}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				rn.ip = a.Address
			}
		}
		if rn.pods, err = netip.ParsePrefix(n.Spec.PodCIDR); err != nil {
			return fmt.Errorf("node %s has no pod range: %w", n.Name, err)
		}
		r.nodes = append(r.nodes, rn)
	}
	if len(r.nodes) == 0 {
		return fmt.Errorf("no nodes to run pods on")
	}
	factory := informers.NewSharedInformerFactory(c.client, 0)
	inf := factory.Core().V1().Pods()
	r.lister = inf.Lister()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			r.queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) },
	}); err != nil {
		return err
	}
	factory.Start(r.stop)
	l.addCloser(r)
	// The runner outlives Start (and Start's ctx): pods created later, by
	// a test or a fix, run too.
	runCtx, cancel := context.WithCancel(context.Background())
	go func() { <-r.stop; cancel() }()
	go wait.Until(func() {
		for r.work(runCtx) {
		}
	}, time.Second, r.stop)
	return nil
}

// Close stops the runner.
func (r *podRunner) Close() error {
	select {
	case <-r.stop:
	default:
		close(r.stop)
		r.queue.ShutDown()
	}
	return nil
}

func (r *podRunner) work(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	if err := r.sync(ctx, key); err != nil {
		r.queue.AddRateLimited(key)
		return true
	}
	r.queue.Forget(key)
	return true
}

// sync binds or runs one pod.
func (r *podRunner) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := r.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil {
		if pod.Spec.NodeName != "" && r.ours(pod) {
			return r.finish(ctx, pod)
		}
		return nil
	}
	switch {
	case pod.Spec.NodeName == "":
		if pod.Spec.SchedulerName != "" && pod.Spec.SchedulerName != corev1.DefaultSchedulerName {
			return nil // another scheduler's
		}
		return r.bind(ctx, pod)
	case pod.Status.HostIP == "" && r.ours(pod):
		return r.run(ctx, pod)
	}
	return nil
}

// ours: a pod a controller made, or one the stand-in scheduler placed;
// never a control-plane stand-in the lab wrote with its status.
func (r *podRunner) ours(pod *corev1.Pod) bool {
	if metav1.GetControllerOf(pod) != nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, placed := r.placed[string(pod.UID)]
	return placed
}

// bind places pod on the node with the fewest pods of the same app in its
// namespace (the first such node on a tie), as the scheduler's default
// topology spreading does for a Deployment's replicas.
func (r *podRunner) bind(ctx context.Context, pod *corev1.Pod) error {
	all, err := r.lister.Pods(pod.Namespace).List(labelsOf(pod))
	if err != nil {
		return err
	}
	r.mu.Lock()
	count := map[string]int{}
	for _, p := range all {
		node := p.Spec.NodeName
		if node == "" {
			node = r.placed[string(p.UID)]
		}
		if node != "" && p.UID != pod.UID {
			count[node]++
		}
	}
	best := r.nodes[0]
	for _, n := range r.nodes[1:] {
		if count[n.name] < count[best.name] {
			best = n
		}
	}
	r.placed[string(pod.UID)] = best.name
	r.mu.Unlock()
	err = r.c.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: best.name},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsConflict(err) {
		r.mu.Lock()
		delete(r.placed, string(pod.UID))
		r.mu.Unlock()
		return err
	}
	return nil
}

// run writes the status a kubelet reports once every container of pod
// runs and is ready.
func (r *podRunner) run(ctx context.Context, pod *corev1.Pod) error {
	var node *runNode
	for _, n := range r.nodes {
		if n.name == pod.Spec.NodeName {
			node = n
		}
	}
	if node == nil {
		return nil // a node the lab has no stand-in for
	}
	ip, err := r.address(node, string(pod.UID))
	if err != nil {
		return err
	}
	now := metav1.Now()
	p := pod.DeepCopy()
	st := &p.Status
	st.Phase = corev1.PodRunning
	st.HostIP, st.HostIPs = node.ip, []corev1.HostIP{{IP: node.ip}}
	st.PodIP, st.PodIPs = ip.String(), []corev1.PodIP{{IP: ip.String()}}
	st.StartTime = &now
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		setCondition(st, t, now)
	}
	st.InitContainerStatuses = nil
	for _, ct := range p.Spec.InitContainers {
		cs := corev1.ContainerStatus{Name: ct.Name, Image: ct.Image, ImageID: ct.Image}
		if ct.RestartPolicy != nil && *ct.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			// A native sidecar (istio-proxy with native sidecars): runs on.
			cs.Ready, cs.Started = true, ptr(true)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	st.ContainerStatuses = nil
	allReady := true
	for _, ct := range p.Spec.Containers {
		ready := !failingProbe(ct.ReadinessProbe)
		allReady = allReady && ready
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: ct.Name, Image: ct.Image, ImageID: ct.Image, Ready: ready, Started: ptr(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if !allReady {
		for i := range st.Conditions {
			if t := st.Conditions[i].Type; t == corev1.PodReady || t == corev1.ContainersReady {
				st.Conditions[i].Status, st.Conditions[i].Reason = corev1.ConditionFalse, "ContainersNotReady"
			}
		}
	}
	_, err = r.c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

// finish removes a pod being deleted, as its kubelet does once the
// containers have stopped (at once here: nothing runs in them).
func (r *podRunner) finish(ctx context.Context, pod *corev1.Pod) error {
	err := r.c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr(int64(0)), Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// address is the pod's IP on node: the next free one of the node's pod
// range, kept for the pod's life.
func (r *podRunner) address(n *runNode, uid string) (netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := n.byUID[uid]; ok {
		return a, nil
	}
	a := n.pods.Addr()
	for i := 0; i < n.next; i++ {
		a = a.Next()
	}
	if !n.pods.Contains(a) || n.next > 250 {
		return netip.Addr{}, fmt.Errorf("node %s: pod range %s is full", n.name, n.pods)
	}
	n.next++
	n.byUID[uid] = a
	return a, nil
}

func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, now metav1.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			if st.Conditions[i].Status != corev1.ConditionTrue {
				st.Conditions[i].Status, st.Conditions[i].LastTransitionTime = corev1.ConditionTrue, now
				st.Conditions[i].Reason, st.Conditions[i].Message = "", ""
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
}

// failingProbe: a probe that can only fail, `exec: [false]`, the one
// probe the stand-ins evaluate (nothing runs in the containers, so every
// other probe is taken as passing).
func failingProbe(p *corev1.Probe) bool {
	if p == nil || p.Exec == nil || len(p.Exec.Command) == 0 {
		return false
	}
	cmd := p.Exec.Command[0]
	return cmd == "false" || cmd == "/bin/false"
}

// labelsOf selects the pods spread together with pod: those of its app.
func labelsOf(pod *corev1.Pod) labels.Selector {
	if app, ok := pod.Labels["app"]; ok {
		return labels.SelectorFromSet(labels.Set{"app": app})
	}
	return labels.Everything()
}

package lab

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// RestartIstiod does what the kubelet and a user do after the cluster's
// `cacerts` Secret changed and they ran `kubectl rollout restart
// deployment/istiod`: the Secret's keys become the files of istiod's CA
// directory (ROOT_CA_DIR), as a mounted secret volume projects them (no
// Secret: an empty directory, and istiod makes its own root), and istiod
// starts again. It returns once istiod serves, has settled with its remote
// clusters and has republished istio-ca-root-cert with the roots it now
// distributes in every namespace it watches; the istiod Pod and Deployment
// then show it ready. If istiod refuses its CA, the error says why (and the
// Pod shows CrashLoopBackOff, as in a real cluster).
func (l *Lab) RestartIstiod(ctx context.Context, cluster string) error {
	c, ok := l.clusters[cluster]
	if !ok {
		return fmt.Errorf("no cluster %q", cluster)
	}
	if c.role != "primary" {
		return fmt.Errorf("%s is a %s cluster: it runs no istiod", cluster, c.role)
	}
	want, err := l.projectCACerts(ctx, c)
	if err != nil {
		return err
	}
	c.istiod.stop(10 * time.Second)
	c.istiodErr = nil
	l.logf("  %s: istiod restarting with the CA of its cacerts Secret", cluster)
	if err := l.startIstiod(ctx, c); err != nil {
		return err
	}
	if err := c.istiod.exited(); err != nil {
		return fmt.Errorf("%s: istiod did not start again: %w", cluster, err)
	}
	if err := l.settle(ctx, c); err != nil {
		return fmt.Errorf("%s: %w", cluster, err)
	}
	if err := l.waitRootPublished(ctx, c, want); err != nil {
		return fmt.Errorf("%s: %w", cluster, err)
	}
	return l.reportIstiodUp(ctx, c)
}

// projectCACerts replaces the files of the CA directory with the keys of
// the cacerts Secret and returns the roots istiod will distribute from
// them (nil: none plugged in, istiod makes its own).
func (l *Lab) projectCACerts(ctx context.Context, c *cluster) ([]*x509.Certificate, error) {
	dir := filepath.Join(c.dir, "cacerts")
	s, getErr := c.client.CoreV1().Secrets("istio-system").Get(ctx, "cacerts", metav1.GetOptions{})
	if getErr != nil && !apierrors.IsNotFound(getErr) {
		return nil, fmt.Errorf("%s: reading cacerts: %w", c.name, getErr)
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range old {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return nil, err
		}
	}
	if getErr != nil {
		return nil, nil // no Secret: an empty directory
	}
	for k, v := range s.Data {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
			return nil, err
		}
	}
	rootKey := "root-cert.pem"
	if _, tls := s.Data["tls.crt"]; tls {
		rootKey = "ca.crt"
	}
	roots, err := pki.ParseCertificates(s.Data[rootKey])
	if err != nil {
		// istiod will refuse it; the restart reports istiod's reason.
		return nil, nil
	}
	l.logf("  %s: cacerts projected into the CA directory (roots %s)", c.name, describeRoots(roots))
	return roots, nil
}

// waitRootPublished waits until every istio-ca-root-cert in a namespace
// istiod watches holds want (any root, when want is nil: a self-signed
// istiod's own), and one exists in istio-system.
func (l *Lab) waitRootPublished(ctx context.Context, c *cluster, want []*x509.Certificate) error {
	var last string
	err := poll(ctx, 60*time.Second, 200*time.Millisecond, func() (bool, error) {
		if err := c.istiod.exited(); err != nil {
			return false, err
		}
		nss, err := c.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		cms, err := c.client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=istio-ca-root-cert"})
		if err != nil {
			return false, nil
		}
		outside := map[string]bool{}
		for _, ns := range nss.Items {
			if _, ok := ns.Labels[OutsideDiscoveryLabel]; ok {
				outside[ns.Name] = true
			}
		}
		inIstio := false
		for _, cm := range cms.Items {
			if outside[cm.Namespace] {
				continue
			}
			got, err := pki.ParseCertificates([]byte(cm.Data["root-cert.pem"]))
			if err != nil || (want != nil && !sameCerts(got, want)) {
				last = fmt.Sprintf("istio-ca-root-cert in %s not yet rewritten", cm.Namespace)
				return false, nil
			}
			inIstio = inIstio || cm.Namespace == "istio-system"
		}
		if !inIstio {
			last = "no istio-ca-root-cert in istio-system yet"
		}
		return inIstio, nil
	})
	if err != nil {
		return fmt.Errorf("istiod did not republish its root (%s): %w", last, err)
	}
	return nil
}

// reportIstiodUp undoes reportIstiodDown: the Pod running and ready again,
// one restart more, the Deployment available.
func (l *Lab) reportIstiodUp(ctx context.Context, c *cluster) error {
	pods, err := c.client.CoreV1().Pods("istio-system").List(ctx, metav1.ListOptions{LabelSelector: "app=istiod"})
	if err != nil {
		return err
	}
	now := metav1.Now()
	for i := range pods.Items {
		p := &pods.Items[i]
		p.Status.Phase = corev1.PodRunning
		for j := range p.Status.Conditions {
			if t := p.Status.Conditions[j].Type; t == corev1.PodReady || t == corev1.ContainersReady {
				p.Status.Conditions[j].Status, p.Status.Conditions[j].Reason = corev1.ConditionTrue, ""
			}
		}
		for j := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[j]
			cs.Ready, cs.RestartCount = true, cs.RestartCount+1
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		}
		if _, err := c.client.CoreV1().Pods("istio-system").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return setIstiodReady(ctx, c, true)
}

// setIstiodReady writes the istiod Deployment's replica counts as its pod
// now is (all ready, or none). The deployment controller writes the same
// from the pods a moment later; the lab's write makes it so at once, and
// is retried when the controller's write came between.
func setIstiodReady(ctx context.Context, c *cluster, ready bool) error {
	deployments := c.client.AppsV1().Deployments("istio-system")
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deployments.Get(ctx, "istiod", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ready {
			d.Status.ReadyReplicas, d.Status.AvailableReplicas, d.Status.UnavailableReplicas = d.Status.Replicas, d.Status.Replicas, 0
		} else {
			d.Status.ReadyReplicas, d.Status.AvailableReplicas, d.Status.UnavailableReplicas = 0, 0, d.Status.Replicas
		}
		_, err = deployments.UpdateStatus(ctx, d, metav1.UpdateOptions{})
		return err
	})
}

func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !pki.ContainsCert(b, x) {
			return false
		}
	}
	return true
}

func describeRoots(roots []*x509.Certificate) string {
	out := ""
	for i, r := range roots {
		if i > 0 {
			out += ", "
		}
		out += pki.Fingerprint(r.Raw)
	}
	return out
}

package lab

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetCACerts changes the Istio CA of a primary cluster the way an operator
// does it: the cacerts Secret in istio-system gets files (Istio's layout:
// ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem), istiod is
// restarted (RestartIstiod: it loads the new CA and republishes the root),
// and then every stand-in that presents a mesh certificate follows, as its
// pods would after `kubectl rollout restart`: the east-west gateway
// presents a workload certificate from the new CA (and so do the gateways
// of the remote clusters this primary controls). It returns once all of
// that is done. The files are kept as given; a CA istiod refuses makes
// RestartIstiod's error, and the gateways then keep what they had.
func (l *Lab) SetCACerts(ctx context.Context, cluster string, files map[string][]byte) error {
	c, ok := l.clusters[cluster]
	if !ok {
		return fmt.Errorf("no cluster %q", cluster)
	}
	if c.role != "primary" {
		return fmt.Errorf("%s is a %s cluster: its CA is its primary's", cluster, c.role)
	}
	newCA, err := caFromFiles(files)
	if err != nil {
		return fmt.Errorf("%s: cacerts: %w", cluster, err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cacerts", Namespace: "istio-system"},
		Type:       corev1.SecretTypeOpaque,
		Data:       newCA.cacertsFiles(),
	}
	secrets := c.client.CoreV1().Secrets("istio-system")
	if _, err := secrets.Update(ctx, secret, metav1.UpdateOptions{}); apierrors.IsNotFound(err) {
		_, err = secrets.Create(ctx, secret, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("%s: cacerts: %w", cluster, err)
		}
	} else if err != nil {
		return fmt.Errorf("%s: cacerts: %w", cluster, err)
	}
	if err := l.RestartIstiod(ctx, cluster); err != nil {
		return err
	}
	for _, name := range l.names {
		q := l.clusters[name]
		if q != c && q.primary != c.name {
			continue
		}
		q.meshCA = newCA
		if err := l.restartGateway(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// restartGateway gives the east-west gateway stand-in of c a workload
// certificate from c's CA as it is now, and shows its Pods restarted
// (one restart more, started now), as a rollout restart leaves them.
func (l *Lab) restartGateway(ctx context.Context, c *cluster) error {
	if c.gatewayCert.Load() == nil {
		return nil // no stand-in runs (no gateway, or its address is pending)
	}
	cert, err := l.gatewayCert(c)
	if err != nil {
		return err
	}
	c.gatewayCert.Store(&cert)
	pods, err := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	now := metav1.NewTime(time.Now())
	for i := range pods.Items {
		p := &pods.Items[i]
		if !isEastWest(p.Labels) {
			continue
		}
		for j := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[j]
			cs.RestartCount++
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		}
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("%s: gateway pod %s/%s: %w", c.name, p.Namespace, p.Name, err)
		}
	}
	l.logf("  %s: east-west gateway restarted with a certificate from the new CA", c.name)
	return nil
}

package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// makeStaleRegistry is the stale-registry fault, made as it happens to a
// user: p's remote secret for peer is rewritten with the token of an
// identity that may list peer's namespaces and nothing else of what istiod
// reads (a rotation to the wrong service account), then deleted while
// istiod reports the new credentials timed out.
//
// Why not a token peer rejects outright: istiod then blocks building the
// new controller until the namespace informer syncs, which it never does;
// the delete stops it and, racing with it, closes either the old
// controller (no stale registry) or the new one (stale), as seen both ways
// in the lab. With namespaces readable the new controller is built at once
// and the delete always closes it.
//
// Why istiod keeps the peer (istio.io/istio, pkg/kube/multicluster): the
// update starts a second controller for peer and keeps the first serving
// until the second syncs (secretcontroller.go addRemoteConfig, "make before
// break"; component.go clusterUpdated wraps both in a pendingSwap). The
// delete then calls clusterDeleted, which closes only the component in its
// map, the new one that never synced; the first, whose informers the
// swap's Complete stops, is never closed, so its registry stays in the
// aggregate controller and its shards in the endpoint index, frozen, until
// istiod restarts. The lab waits for each step in clusterz and fails to
// start when istiod does not keep the peer, so the scenario is the same on
// every run.
func (l *Lab) makeStaleRegistry(ctx context.Context, p, peer *cluster) error {
	l.logf("  %s: remote secret for %s gets a rejected token, then is deleted (fault)", p.name, peer.name)
	before, err := l.RegistryClusters(ctx, p.name)
	if err != nil || before[peer.id] == 0 {
		return fmt.Errorf("stale-registry: %s's registry holds no service of %s before the fault (%v, %v)", p.name, peer.id, before, err)
	}
	secrets := p.client.CoreV1().Secrets("istio-system")
	s, err := secrets.Get(ctx, remoteSecretName(peer.id), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("stale-registry: %w", err)
	}
	token, err := namespaceOnlyToken(ctx, peer)
	if err != nil {
		return fmt.Errorf("stale-registry: %w", err)
	}
	kc, err := remoteKubeconfig(peer, token)
	if err != nil {
		return err
	}
	s.Data = map[string][]byte{peer.id: kc}
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("stale-registry: %w", err)
	}
	// The new credentials' cluster never syncs: once clusterz shows it
	// timed out, its component has long been built (the namespace
	// informer it waits for first synced at once).
	if m, err := l.WaitClusterz(ctx, p.name, func(m map[string]string) bool { return m[peer.id] == Timeout }); err != nil {
		return fmt.Errorf("stale-registry: %s's clusterz never showed the rejected credentials for %s: %w (last %v)", p.name, peer.id, err, m)
	}
	if err := secrets.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("stale-registry: %w", err)
	}
	p.secretsGone = append(p.secretsGone, peer.name) // a restarted istiod settles without it
	if m, err := l.WaitClusterz(ctx, p.name, func(m map[string]string) bool { _, ok := m[peer.id]; return !ok }); err != nil {
		return fmt.Errorf("stale-registry: %s's clusterz still lists %s after its secret was deleted: %w (last %v)", p.name, peer.id, err, m)
	}
	after, err := l.RegistryClusters(ctx, p.name)
	if err != nil {
		return fmt.Errorf("stale-registry: %w", err)
	}
	if after[peer.id] == 0 {
		return fmt.Errorf("stale-registry: %s's istiod dropped %s's services with its secret (registry %v): it no longer keeps a stale registry, and the scenario cannot be made this way", p.name, peer.id, after)
	}
	l.logf("  %s: clusterz no longer lists %s; its registry still holds %d of its services", p.name, peer.id, after[peer.id])
	return nil
}

// namespaceOnlyToken is a token of a service account of peer that may read
// namespaces and ConfigMaps (what istiod's controller for a cluster needs
// to be built) and none of the services, endpoints or pods it must sync.
func namespaceOnlyToken(ctx context.Context, peer *cluster) (string, error) {
	const name = "meshfed-lab-namespaces-only"
	c := peer.client
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "configmaps"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system"}}
	if _, err := c.CoreV1().ServiceAccounts("istio-system").Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: "istio-system"}}}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	expiry := int64(24 * 3600)
	tr, err := c.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, name, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// RegistryClusters reads a primary's /debug/registryz: for each cluster
// ID, how many Kubernetes services have an address there.
func (l *Lab) RegistryClusters(ctx context.Context, primary string) (map[string]int, error) {
	u := l.IstiodDebugURL(primary)
	if u == "" {
		return nil, fmt.Errorf("%s runs no istiod", primary)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/debug/registryz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := debugClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("registryz: %s", resp.Status)
	}
	var services []struct {
		Attributes  struct{ ServiceRegistry string }
		ClusterVIPs struct {
			Addresses map[string][]string
		} `json:"clusterVIPs"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&services); err != nil {
		return nil, fmt.Errorf("registryz: %w", err)
	}
	out := map[string]int{}
	for _, s := range services {
		if s.Attributes.ServiceRegistry != "Kubernetes" {
			continue
		}
		for id := range s.ClusterVIPs.Addresses {
			out[id]++
		}
	}
	return out, nil
}

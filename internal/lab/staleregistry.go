package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// makeStaleRegistry is the stale-registry fault, made as it happens to a
// user: p's remote secret for peer is rewritten with a token peer rejects,
// then deleted while istiod still syncs the new credentials.
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
	kc, err := remoteKubeconfig(peer, spoilToken(peer.token))
	if err != nil {
		return err
	}
	s.Data = map[string][]byte{peer.id: kc}
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("stale-registry: %w", err)
	}
	// The update is processed once clusterz shows the new credentials'
	// cluster, which never syncs.
	if m, err := l.WaitClusterz(ctx, p.name, func(m map[string]string) bool { st, ok := m[peer.id]; return ok && st != Synced }); err != nil {
		return fmt.Errorf("stale-registry: %s's clusterz never showed the rejected credentials for %s: %w (last %v)", p.name, peer.id, err, m)
	}
	if err := secrets.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("stale-registry: %w", err)
	}
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

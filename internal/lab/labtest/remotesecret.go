package labtest

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
)

// The faults of a remote secret that the discovery and fix tests make on a
// running healthy lab (test/e2e, test/fix), and how to make and undo them.

// SecretFault changes east's remote secret for west (or west's reader
// role) on a running healthy lab.
type SecretFault struct {
	Name string
	// edit returns the secrets to write instead of the original (nil: none,
	// the secret is deleted); server is east's and west's API server URLs.
	Edit func(t *testing.T, orig *corev1.Secret, servers map[string]string) []*corev1.Secret
	// role edits west's reader ClusterRole (nil: untouched).
	Role func(r *rbacv1.ClusterRole)
	// clusterz is what east's istiod must then report of west ("" absent).
	Clusterz string
	Want     []string
	Say      string
}

func withKubeconfig(t *testing.T, s *corev1.Secret, key string, edit func(c *clientcmdapi.Config)) {
	t.Helper()
	for k, v := range s.Data {
		cfg, err := clientcmd.Load(v)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(cfg)
		}
		b, err := clientcmd.Write(*cfg)
		if err != nil {
			t.Fatal(err)
		}
		delete(s.Data, k)
		s.Data[key] = b
	}
}

func setServer(server string) func(c *clientcmdapi.Config) {
	return func(c *clientcmdapi.Config) {
		for _, cl := range c.Clusters {
			cl.Server = server
		}
	}
}

var SecretFaults = []SecretFault{
	{Name: "key is east's own ID", Clusterz: "", Want: []string{"MF4003@east,west"},
		Edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			withKubeconfig(t, s, "east", nil)
			return []*corev1.Secret{s}
		}},
	{Name: "key is not west's ID", Clusterz: "", Want: []string{"MF4007@east,west"}, Say: `registers west's services as cluster "west-1"`,
		Edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			withKubeconfig(t, s, "west-1", nil) // istioctl create-remote-secret --name=west-1
			s.Annotations["networking.istio.io/cluster"] = "west-1"
			return []*corev1.Secret{s}
		}},
	{Name: "wrong namespace", Clusterz: "", Want: []string{"MF4002@east,west"},
		Edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			s.Namespace = "default"
			return []*corev1.Secret{s}
		}},
	{Name: "missing label", Clusterz: "", Want: []string{"MF4002@east,west"},
		Edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			delete(s.Labels, "istio/multiCluster")
			return []*corev1.Secret{s}
		}},
	{Name: "malformed kubeconfig", Clusterz: "", Want: []string{"MF4005@east,west"},
		Edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret {
			s.Data = map[string][]byte{"west": []byte("{{ this is not a kubeconfig")}
			return []*corev1.Secret{s}
		}},
	{Name: "secret deleted", Clusterz: "", Want: []string{"MF4001@east,west"},
		Edit: func(t *testing.T, s *corev1.Secret, _ map[string]string) []*corev1.Secret { return nil }},
	{Name: "server points back at east", Clusterz: lab.Timeout, Want: []string{"MF4007@east,west"}, Say: "points back at east",
		Edit: func(t *testing.T, s *corev1.Secret, servers map[string]string) []*corev1.Secret {
			withKubeconfig(t, s, "west", setServer(servers["east"]))
			return []*corev1.Secret{s}
		}},
	{Name: "server where nothing listens", Clusterz: lab.Timeout, Want: []string{"MF4011@east,west"}, Say: "either",
		Edit: func(t *testing.T, s *corev1.Secret, servers map[string]string) []*corev1.Secret {
			u := strings.Replace(servers["west"], ":6443", ":6449", 1)
			withKubeconfig(t, s, "west", setServer(u))
			return []*corev1.Secret{s}
		}},
	{Name: "reader may not read nodes", Clusterz: lab.Timeout, Want: []string{"MF4010@east,west"}, Say: "core/nodes",
		Role: func(r *rbacv1.ClusterRole) {
			for i := range r.Rules {
				var keep []string
				for _, res := range r.Rules[i].Resources {
					if res != "nodes" {
						keep = append(keep, res)
					}
				}
				r.Rules[i].Resources = keep
			}
		}},
}

// ContextServers maps each context of the lab's kubeconfig to its API server URL.
func ContextServers(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(l.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]string{}
	for n, c := range raw.Contexts {
		servers[n] = raw.Clusters[c.Cluster].Server
	}
	return servers
}

// BreakRemoteSecret applies one fault to east's remote secret for west (or
// west's reader role), waits until east's istiod shows it and returns
// east's clusterz then; when the test ends it restores the role, removes
// stray copies and re-adds the secret as the lab wrote it, until east has
// west synced again.
func BreakRemoteSecret(t *testing.T, ctx context.Context, l *lab.Lab, tc SecretFault, servers map[string]string) map[string]string {
	t.Helper()
	east, west := l.Client("east"), l.Client("west")
	const name, roleName = "istio-remote-secret-west", "istio-reader-clusterrole-istio-system"
	orig, err := east.CoreV1().Secrets("istio-system").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	origRole, err := west.RbacV1().ClusterRoles().Get(ctx, roleName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer rcancel()
		if tc.Role != nil {
			cur, err := west.RbacV1().ClusterRoles().Get(rctx, roleName, metav1.GetOptions{})
			if err == nil {
				cur.Rules = origRole.Rules
				_, err = west.RbacV1().ClusterRoles().Update(rctx, cur, metav1.UpdateOptions{})
			}
			if err != nil {
				t.Errorf("restoring the reader role: %v", err)
				return
			}
		}
		_ = east.CoreV1().Secrets("default").Delete(rctx, name, metav1.DeleteOptions{})
		// The restored secret can reach istiod while it is still tearing
		// down the faulty cluster after its sync timeout; istiod then drops
		// west for good (seen in its log: "Deleting cluster_id=west" racing
		// "remote cluster west failed to sync", then nothing). That is
		// istiod's, not the doctor's: give the secret again, as a user would,
		// so that the next fault starts from a healthy mesh.
		var last map[string]string
		for attempt := 1; attempt <= 3; attempt++ {
			if err := l.ReaddRemoteSecret(rctx, "east", "west"); err != nil {
				t.Errorf("restoring the remote secret: %v", err)
				return
			}
			wctx, wcancel := context.WithTimeout(rctx, 25*time.Second)
			m, err := l.WaitClusterz(wctx, "east", func(m map[string]string) bool { return m["west"] == lab.Synced && len(m) == 2 })
			wcancel()
			if err == nil {
				if attempt > 1 {
					t.Logf("east synced west again after %d restores of its remote secret", attempt)
				}
				return
			}
			last = m
		}
		t.Errorf("east never synced west again after 3 restores of its remote secret (%v)", last)
	})

	if tc.Role != nil {
		r := origRole.DeepCopy()
		tc.Role(r)
		if _, err := west.RbacV1().ClusterRoles().Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// istiod's open watches outlive an RBAC change; connect anew.
		if err := l.ReaddRemoteSecret(ctx, "east", "west"); err != nil {
			t.Fatal(err)
		}
	}
	if tc.Edit != nil {
		if err := east.CoreV1().Secrets("istio-system").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		s := orig.DeepCopy()
		s.ResourceVersion, s.UID, s.CreationTimestamp, s.ManagedFields = "", "", metav1.Time{}, nil
		for _, n := range tc.Edit(t, s, servers) {
			if _, err := east.CoreV1().Secrets(n.Namespace).Create(ctx, n, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	clusterz, err := l.WaitClusterz(ctx, "east", func(m map[string]string) bool {
		_, has := m["west"]
		return m["west"] == tc.Clusterz || (tc.Clusterz == "" && !has)
	})
	if err != nil {
		t.Fatalf("east's clusterz never showed west %q: %v (last %v)", tc.Clusterz, err, clusterz)
	}
	return clusterz
}

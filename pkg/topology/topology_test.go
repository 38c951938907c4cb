package topology

import (
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func cluster(t *testing.T, name, doc string) *model.Cluster {
	t.Helper()
	c := &model.Cluster{Context: name, IstioNamespace: "istio-system", Reachable: true}
	if err := fleet.AddManifests(c, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigClusterAndUnreachable(t *testing.T) {
	cfg := cluster(t, "cfg", `apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: '{"global": {"configCluster": true, "multiCluster": {"clusterName": "cfg"}}}'
`)
	dead := &model.Cluster{Context: "dead", Error: "connection refused"}
	topo := Build(&model.Fleet{Clusters: []*model.Cluster{cfg, dead}})
	roles := map[string]string{}
	for _, n := range topo.Networks {
		for _, c := range n.Clusters {
			roles[c.Context] = c.Role + "/" + describeCluster(c)
		}
	}
	if roles["cfg"] != "config/config, ID cfg" || !strings.HasSuffix(roles["dead"], "/unreachable") {
		t.Errorf("roles %v", roles)
	}
	if topo.ControlPlane != NoControl || len(topo.Edges) != 0 {
		t.Errorf("%s, edges %v", topo.ControlPlane, topo.Edges)
	}
}

func TestMergeStatusOfReplicas(t *testing.T) {
	got := ""
	for _, s := range []string{"timeout", "synced", "timeout"} {
		got = mergeStatus(got, s)
	}
	if got != "synced/timeout" {
		t.Errorf("two replicas reporting timeout and one synced: %q", got)
	}
}

// TestEdgeStandsOnTheSecretIstiodUses: with two remote secrets for one
// cluster ID, the edge is the secret istiod's clusterz names, with that
// secret's credentials, whichever sorts first; the other is listed as
// ignored. Without istiod's view it is the one istiod keeps at its start.
func TestEdgeStandsOnTheSecretIstiodUses(t *testing.T) {
	const base = "../checks/all/testdata/MF4013/"
	for _, tc := range []struct {
		fixture, secret, ignored, credentials string
	}{
		{"fail-in-use-works-duplicate-rejected", "istio-system/istio-remote-secret-west", "istio-system/istio-remote-secret-west-old", "ok"},
		{"fail-in-use-rejected-duplicate-works", "istio-system/istio-remote-secret-west", "istio-system/istio-remote-secret-west-old", "unauthorized"},
		{"fail-two-secrets-for-west", "istio-system/istio-remote-secret-west", "istio-system/istio-remote-secret-west-old", ""},
	} {
		f, err := fleet.LoadDir(base+tc.fixture, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range Build(f).Edges {
			if e.From != "east" || e.To != "west" {
				continue
			}
			if e.Secret != tc.secret || strings.Join(e.Ignored, ",") != tc.ignored || e.Credentials != tc.credentials {
				t.Errorf("%s: edge on %s (ignored %v, credentials %q); want %s (ignored %s, credentials %q)", tc.fixture, e.Secret, e.Ignored, e.Credentials, tc.secret, tc.ignored, tc.credentials)
			}
		}
	}
	// istiod uses the secret that sorts last: the edge follows istiod.
	f, err := fleet.LoadDir(base+"fail-in-use-works-duplicate-rejected", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f.Probes.Istiod {
		for j, c := range v.Clusters {
			if v.Context == "east" && c.ID == "west" {
				f.Probes.Istiod[i].Clusters[j].SecretName = "istio-system/istio-remote-secret-west-old"
			}
		}
	}
	for _, e := range Build(f).Edges {
		if e.From == "east" && (e.Secret != "istio-system/istio-remote-secret-west-old" || e.Credentials != "unauthorized" || strings.Join(e.Ignored, ",") != "istio-system/istio-remote-secret-west") {
			t.Errorf("istiod uses -old: edge on %s (ignored %v, credentials %q)", e.Secret, e.Ignored, e.Credentials)
		}
	}
}

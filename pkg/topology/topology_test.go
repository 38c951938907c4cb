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

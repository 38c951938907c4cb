package members

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// primary builds a read primary with CLUSTER_ID id, a remote secret per
// peer (cluster ID → API server), and meshNetworks when given.
func primary(t *testing.T, context, id string, peers map[string]string, meshNetworks string) *model.Cluster {
	t.Helper()
	c := &model.Cluster{Context: context, IstioNamespace: "istio-system", Reachable: true,
		Server: "https://" + context + ".example:6443", KubeSystemUID: "uid-" + context}
	doc := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: istio-system, labels: {topology.istio.io/network: network-%[1]s}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system, labels: {app: istiod, istio: pilot}}
spec:
  selector: {matchLabels: {app: istiod}}
  template:
    metadata: {labels: {app: istiod, istio: pilot}}
    spec:
      containers:
      - name: discovery
        image: docker.io/istio/pilot:1.28.0
        env: [{name: CLUSTER_ID, value: %[1]s}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: "trustDomain: cluster.local"
  meshNetworks: %[2]q
`, id, meshNetworks)
	for peer, server := range peers {
		kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: %[1]s\n  cluster: {server: %[2]q}\ncontexts:\n- name: %[1]s\n  context: {cluster: %[1]s, user: %[1]s}\ncurrent-context: %[1]s\nusers:\n- name: %[1]s\n  user: {token: fixture-not-a-token}\n", peer, server)
		doc += fmt.Sprintf(`---
apiVersion: v1
kind: Secret
metadata:
  name: istio-remote-secret-%[1]s
  namespace: istio-system
  labels: {istio/multiCluster: "true"}
data:
  %[1]s: %[2]s
`, peer, base64.StdEncoding.EncodeToString([]byte(kc)))
	}
	if err := fleet.AddManifests(c, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	return c
}

func server(name string) string { return "https://" + name + ".example:6443" }

func ids(m model.Membership) []string { return m.IDs() }

func TestDeriveRemoteSecretsAndContexts(t *testing.T) {
	east := primary(t, "east", "east", map[string]string{
		"west": server("west"), "central": server("central"), "north": "https://10.0.4.2:6443", "south": server("south"),
	}, "")
	f := &model.Fleet{Clusters: []*model.Cluster{east}, Kubeconfig: []model.KubeContext{
		{Name: "east", Server: server("east")},
		{Name: "prod-west", Server: server("west") + "/"}, // matched by server, whatever its name
		{Name: "central", Server: "https://central-public.example"},
		{Name: "north", Server: "https://north-public.example"}, // server differs: matched by name
	}}
	m := Derive(f)
	if got, want := ids(m), []string{"central", "north", "south", "west"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("unread %v, want %v", got, want)
	}
	want := map[string][2]string{
		"central": {"central", "name"},
		"north":   {"north", "name"},
		"south":   {"", ""},
		"west":    {"prod-west", "server"},
	}
	for _, u := range m.Unread {
		if got := [2]string{u.Context, u.MatchedBy}; got != want[u.ClusterID] {
			t.Errorf("%s: context %v, want %v", u.ClusterID, got, want[u.ClusterID])
		}
		if len(u.SeenBy) != 1 || !strings.Contains(u.SeenBy[0], "remote secret istio-system/istio-remote-secret-"+u.ClusterID+" in east") {
			t.Errorf("%s: seen by %v", u.ClusterID, u.SeenBy)
		}
	}
}

func TestDeriveLeavesOutWhatWasRead(t *testing.T) {
	east := primary(t, "east", "east", map[string]string{"west": server("west"), "east": server("east"), "other": server("renamed")}, "")
	west := primary(t, "west", "west", map[string]string{"east": server("east")}, "")
	// "renamed" is read under another cluster ID: its API server is a
	// chosen context's, unreachable or not.
	renamed := &model.Cluster{Context: "renamed", Server: server("renamed"), Error: "timeout"}
	f := &model.Fleet{Clusters: []*model.Cluster{east, west, renamed}}
	if m := Derive(f); m.Partial() {
		t.Errorf("the whole mesh was read, but unread: %+v", m.Unread)
	}
}

func TestDeriveClusterzCredentialsAndMeshNetworks(t *testing.T) {
	nets := `networks:
  network-east: {endpoints: [{fromRegistry: east}], gateways: [{address: 192.0.2.1, port: 15443}]}
  network-central: {endpoints: [{fromRegistry: central}], gateways: [{address: 192.0.2.3, port: 15443}]}
  network-far: {endpoints: [{fromCidr: 10.9.0.0/16}], gateways: [{address: 192.0.2.9, port: 15443}]}
`
	east := primary(t, "east", "east", map[string]string{"central": server("central"), "gone": server("gone")}, nets)
	f := &model.Fleet{Clusters: []*model.Cluster{east}, Probes: &model.Probes{
		Istiod: []model.IstiodView{{Context: "east", Clusters: []model.IstiodCluster{
			{ID: "east", SyncStatus: "synced"}, {ID: "central", SyncStatus: "synced"}, {ID: "late", SyncStatus: "syncing"},
		}}},
		Credentials: []model.CredentialProbe{
			// meshNetworks names central's network: the label read through
			// the secret does not replace it.
			{Context: "east", Key: "central", Outcome: model.CredOK, KubeSystemUID: "uid-central", Regions: []string{"eu-central-1"}, Network: "label-central"},
			{Context: "east", Key: "late", Outcome: model.CredUnauthorized, Network: "not-read"},
			// the key "gone" reaches east itself: read already, not a member
			{Context: "east", Key: "gone", Outcome: model.CredOK, KubeSystemUID: "uid-east"},
		},
	}}
	m := Derive(f)
	if got, want := ids(m), []string{"central", "late"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("unread %v, want %v", got, want)
	}
	central, late := m.Unread[0], m.Unread[1]
	if central.Network != "network-central" || !reflect.DeepEqual(central.Regions, []string{"eu-central-1"}) || len(central.SeenBy) != 3 {
		t.Errorf("central: %+v", central)
	}
	if late.Network != "" || late.Regions != nil || !reflect.DeepEqual(late.SeenBy, []string{"istiod of east lists it (syncing)"}) {
		t.Errorf("late: %+v", late)
	}
	if !reflect.DeepEqual(m.UnreadNetworks, []string{"network-far"}) {
		t.Errorf("unread networks %v, want [network-far]", m.UnreadNetworks)
	}
	if got := OnNetwork(&m, "network-central"); len(got) != 2 { // central, and late (network not known: its credentials failed)
		t.Errorf("on network-central: %v", got)
	}
	if got := InRegion(&m, "eu-central-1"); len(got) != 1 || got[0].ClusterID != "central" {
		t.Errorf("in eu-central-1: %v", got)
	}
	if got := RegionsUnknown(&m); len(got) != 1 || got[0].ClusterID != "late" {
		t.Errorf("regions unknown: %v", got)
	}
}

func TestOfPrefersTheRunnersMembership(t *testing.T) {
	set := &model.Membership{Unread: []model.Member{{ClusterID: "x"}}}
	if got := Of(&model.Fleet{Members: set}); got != set {
		t.Errorf("Of derived again instead of using the fleet's membership")
	}
	if got := Of(&model.Fleet{}); got == nil || got.Partial() {
		t.Errorf("empty fleet: %+v", got)
	}
}

func TestDeriveNetworkFromTheRemoteSecretsCredentials(t *testing.T) {
	east := primary(t, "east", "east", map[string]string{"west": server("west")}, "")
	f := &model.Fleet{Clusters: []*model.Cluster{east}, Probes: &model.Probes{Credentials: []model.CredentialProbe{
		{Context: "east", Key: "west", Outcome: model.CredOK, Network: "network-west", Regions: []string{"us-west-2", "us-west-1"}},
	}}}
	m := Derive(f)
	if len(m.Unread) != 1 || m.Unread[0].Network != "network-west" || !reflect.DeepEqual(m.Unread[0].Regions, []string{"us-west-1", "us-west-2"}) {
		t.Errorf("unread: %+v", m.Unread)
	}
	if got := OnNetwork(&m, "network-east"); len(got) != 0 {
		t.Errorf("west is on network-west, but OnNetwork(network-east) = %v", got)
	}
}

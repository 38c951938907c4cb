package mesh

import (
	"slices"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// istiodWith is istiod's Deployment as the istiod chart writes it, with env.
func istiodWith(env string) string {
	return `
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
        image: docker.io/istio/pilot:1.29.0
        env: [{name: CLUSTER_ID, value: east}` + env + `]
`
}

// ztunnel's DaemonSet as the ztunnel chart labels it.
const ztunnelDS = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ztunnel, namespace: istio-system, labels: {app.kubernetes.io/name: ztunnel}}
spec:
  selector: {matchLabels: {app: ztunnel}}
  template:
    metadata: {labels: {app: ztunnel}}
    spec: {containers: [{name: istio-proxy, image: docker.io/istio/ztunnel:1.29.0}]}
`

func TestDataPlaneMode(t *testing.T) {
	const ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n"
	ambientNS := "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: sample, labels: {istio.io/dataplane-mode: ambient}}\n"
	sidecarNS := "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: legacy, labels: {istio-injection: enabled}}\n"
	ambientEnv := `, {name: PILOT_ENABLE_AMBIENT, value: "true"}, {name: AMBIENT_ENABLE_MULTI_NETWORK, value: "true"}`
	for _, tc := range []struct {
		name, objects   string
		failed          model.Kind
		want            DataPlaneMode
		multiNetwork    bool
		multiNetworkSet bool
	}{
		{name: "sidecar", objects: ns + "---" + istiodWith("") + sidecarNS, want: DataPlaneSidecar},
		{name: "ambient", objects: ns + "---" + istiodWith(ambientEnv) + "---" + ztunnelDS + ambientNS, want: DataPlaneAmbient, multiNetwork: true, multiNetworkSet: true},
		{name: "ztunnel alone", objects: ns + "---" + istiodWith("") + "---" + ztunnelDS, want: DataPlaneAmbient},
		{name: "namespace label alone", objects: ns + "---" + istiodWith("") + ambientNS, want: DataPlaneAmbient},
		// istiod ignores AMBIENT_ENABLE_MULTI_NETWORK without PILOT_ENABLE_AMBIENT.
		{name: "multi-network without ambient", objects: ns + "---" + istiodWith(`, {name: AMBIENT_ENABLE_MULTI_NETWORK, value: "true"}`) + ambientNS, want: DataPlaneAmbient, multiNetworkSet: true},
		{name: "mixed", objects: ns + "---" + istiodWith(ambientEnv) + ambientNS + sidecarNS, want: DataPlaneMixed, multiNetwork: true, multiNetworkSet: true},
		{name: "no istio", objects: "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n", want: DataPlaneNone},
		{name: "daemonsets unread", objects: ns + "---" + istiodWith(""), failed: model.KindDaemonSets, want: DataPlaneUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &model.Cluster{Context: "east", Reachable: true, IstioNamespace: "istio-system", Failures: map[model.Kind]string{}}
			if tc.failed != "" {
				c.Failures[tc.failed] = "forbidden"
			}
			if err := fleet.AddManifests(c, []byte(tc.objects)); err != nil {
				t.Fatal(err)
			}
			a := DataPlane(c)
			if a.Mode != tc.want || a.MultiNetwork != tc.multiNetwork || a.MultiNetworkSet != tc.multiNetworkSet {
				t.Errorf("mode %s, multi-network %t (set %t); want %s, %t (set %t); evidence %v", a.Mode, a.MultiNetwork, a.MultiNetworkSet, tc.want, tc.multiNetwork, tc.multiNetworkSet, a.Evidence())
			}
			if tc.want == DataPlaneAmbient && tc.name == "ambient" && !slices.Contains(a.Ztunnel, "istio-system/ztunnel") {
				t.Errorf("ztunnel %v; want istio-system/ztunnel", a.Ztunnel)
			}
		})
	}
}

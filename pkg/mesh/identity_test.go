package mesh

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// A remote installed with Istio's remote profile has no injector ConfigMap
// (omitSidecarInjectorConfigMap): its cluster ID is the one its injection
// webhook's path gives istiod's injector.
func TestRemoteClusterIDFromTheInjectionPath(t *testing.T) {
	c := &model.Cluster{Context: "west", Reachable: true, IstioNamespace: "istio-system"}
	err := fleet.AddManifests(c, []byte(`
apiVersion: v1
kind: Namespace
metadata: {name: istio-system, labels: {topology.istio.io/network: network1}}
---
apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-system}
spec: {ports: [{name: tcp-istiod, port: 15012}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks:
- name: rev.namespace.sidecar-injector.istio.io
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig: {url: "https://192.0.2.8:15017/inject/cluster/west-1/net/network1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	id := Identify(c)
	if id.Role != RoleRemote || id.ClusterID != "west-1" {
		t.Errorf("role %s, cluster ID %q (%s); want remote, west-1", id.Role, id.ClusterID, id.ClusterIDSource)
	}
}

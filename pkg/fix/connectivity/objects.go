package connectivity

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
)

// The east-west gateway as Istio's gateway Helm chart
// (manifests/charts/gateway) installs it for the multicluster guide:
// `helm install istio-eastwestgateway istio/gateway --set networkGateway=<net>`.
// Names and labels follow the chart for that release name, so a later Helm
// install or upgrade adopts the same objects instead of adding a second
// gateway.
const (
	gatewayName     = "istio-eastwestgateway"
	gatewayApp      = "istio-eastwestgateway"
	gatewayIstio    = "eastwestgateway" // the release name without "istio-", the chart's istio label
	gatewayProxy    = "istio-proxy"
	statusPort      = 15021
	crossNetworkGW  = "cross-network-gateway" // samples/multicluster/expose-services.yaml
	istiodGW        = "istiod-gateway"        // samples/multicluster/expose-istiod.yaml
	istiodVS        = "istiod-vs"
	managedByLabel  = "app.kubernetes.io/managed-by"
	managedByMeshfd = "kubectl-meshfed"
)

// AWS Load Balancer Controller annotations for a Service of type
// LoadBalancer (kubernetes-sigs/aws-load-balancer-controller, guide/service):
// "external" hands the Service to the controller instead of the in-tree
// cloud provider, "ip" targets the pods directly (no node port hop), and the
// scheme says who can reach the NLB.
const (
	awsLBType       = "service.beta.kubernetes.io/aws-load-balancer-type"
	awsLBTargetType = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
	awsLBScheme     = "service.beta.kubernetes.io/aws-load-balancer-scheme"
)

// gatewaySelector is the chart's selector labels: what the Service, the
// Deployment and the Gateway objects select the gateway pods by.
func gatewaySelector() map[string]any {
	return map[string]any{"app": gatewayApp, "istio": gatewayIstio}
}

// gatewayPort is one port of the gateway Service, named as the chart and
// gen-eastwest-gateway.sh name it.
type gatewayPort struct {
	name string
	port int64
}

var (
	portStatus  = gatewayPort{"status-port", statusPort}
	portTLS     = gatewayPort{"tls", mesh.CrossNetworkPort}
	portIstiod  = gatewayPort{"tls-istiod", mesh.IstiodXDSPort}
	portWebhook = gatewayPort{"tls-webhook", mesh.IstiodWebhookPort}
)

func (p gatewayPort) servicePort() map[string]any {
	return map[string]any{"name": p.name, "port": p.port, "targetPort": p.port, "protocol": "TCP"}
}

// object starts an apply configuration: apiVersion, kind, name, namespace.
func object(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetName(name)
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	return u
}

func chartLabels(extra map[string]any) map[string]any {
	l := map[string]any{
		"app.kubernetes.io/name": gatewayName,
		managedByLabel:           managedByMeshfd,
	}
	for k, v := range gatewaySelector() {
		l[k] = v
	}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// gatewayServiceAccount is the identity the gateway pods run as (their SPIFFE
// ID in the mesh).
func gatewayServiceAccount(ns string) *unstructured.Unstructured {
	u := object("v1", "ServiceAccount", ns, gatewayName)
	u.Object["metadata"].(map[string]any)["labels"] = chartLabels(nil)
	return u
}

// gatewayRole and its binding are the chart's: the gateway reads the TLS
// secrets its Gateway objects name by credentialName (not needed for
// passthrough, but a gateway the chart made has them and a later Helm
// upgrade expects them).
func gatewayRole(ns string) *unstructured.Unstructured {
	u := object("rbac.authorization.k8s.io/v1", "Role", ns, gatewayName)
	u.Object["metadata"].(map[string]any)["labels"] = chartLabels(nil)
	u.Object["rules"] = []any{map[string]any{
		"apiGroups": []any{""},
		"resources": []any{"secrets"},
		"verbs":     []any{"get", "watch", "list"},
	}}
	return u
}

func gatewayRoleBinding(ns string) *unstructured.Unstructured {
	u := object("rbac.authorization.k8s.io/v1", "RoleBinding", ns, gatewayName)
	u.Object["metadata"].(map[string]any)["labels"] = chartLabels(nil)
	u.Object["roleRef"] = map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": gatewayName}
	u.Object["subjects"] = []any{map[string]any{"kind": "ServiceAccount", "name": gatewayName}}
	return u
}

// gatewayDeployment is the chart's Deployment for a network gateway: pods
// injected with istiod's "gateway" template (image "auto" is replaced by the
// injector with the proxy image of the control plane), on network, asking
// istiod only for network's endpoints. revision is istiod's revision ("" for
// the default one).
func gatewayDeployment(ns, network, revision string) *unstructured.Unstructured {
	u := object("apps/v1", "Deployment", ns, gatewayName)
	u.Object["metadata"].(map[string]any)["labels"] = chartLabels(nil)
	podLabels := map[string]any{}
	for k, v := range gatewayPodLabels(network, revision) {
		podLabels[k] = v
	}
	var env []any
	if network != "" {
		env = append(env, envVar(mesh.RequestedNetworkView, network))
	}
	container := map[string]any{
		"name":  gatewayProxy,
		"image": "auto",
		"securityContext": map[string]any{
			"capabilities":             map[string]any{"drop": []any{"ALL"}},
			"allowPrivilegeEscalation": false,
			"privileged":               false,
			"readOnlyRootFilesystem":   true,
			"runAsNonRoot":             true,
		},
		"ports": []any{map[string]any{"containerPort": int64(15090), "protocol": "TCP", "name": "http-envoy-prom"}},
		"resources": map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
			"limits":   map[string]any{"cpu": "2000m", "memory": "1024Mi"},
		},
	}
	if env != nil {
		container["env"] = env
	}
	u.Object["spec"] = map[string]any{
		"selector": map[string]any{"matchLabels": gatewaySelector()},
		"template": map[string]any{
			"metadata": map[string]any{
				"labels": podLabels,
				"annotations": map[string]any{
					"inject.istio.io/templates": "gateway",
					"sidecar.istio.io/inject":   "true",
				},
			},
			"spec": map[string]any{
				"serviceAccountName": gatewayName,
				"securityContext": map[string]any{
					"sysctls": []any{map[string]any{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}},
				},
				"containers":                    []any{container},
				"terminationGracePeriodSeconds": int64(30),
			},
		},
	}
	return u
}

// gatewayPodLabels are the chart's pod labels: its selector labels, the
// injection label, the network, and istiod's revision when not the default.
func gatewayPodLabels(network, revision string) map[string]string {
	l := stringMap(chartLabels(map[string]any{
		"sidecar.istio.io/inject": "true",
		"istio.io/dataplane-mode": "none",
	}))
	if network != "" {
		l[mesh.NetworkLabel] = network
	}
	if revision != "" && revision != "default" {
		l["istio.io/rev"] = revision
	}
	return l
}

func envVar(name, value string) map[string]any {
	return map[string]any{"name": name, "value": value}
}

// gatewayService is the chart's Service for a network gateway: a load
// balancer with the four ports gen-eastwest-gateway.sh names (status, the
// cross-network mTLS port, and istiod's xDS and webhook ports for remote
// clusters), labelled with its network so istiod takes it as that network's
// gateway. awsScheme, when set, adds the NLB annotations.
func gatewayService(ns, network, awsScheme string) *unstructured.Unstructured {
	u := object("v1", "Service", ns, gatewayName)
	md := u.Object["metadata"].(map[string]any)
	labels := chartLabels(nil)
	if network != "" {
		labels[mesh.NetworkLabel] = network
	}
	md["labels"] = labels
	if awsScheme != "" {
		md["annotations"] = map[string]any{
			awsLBType:       "external",
			awsLBTargetType: "ip",
			awsLBScheme:     awsScheme,
		}
	}
	u.Object["spec"] = map[string]any{
		"type":     "LoadBalancer",
		"selector": gatewaySelector(),
		"ports": []any{
			portStatus.servicePort(), portTLS.servicePort(), portIstiod.servicePort(), portWebhook.servicePort(),
		},
	}
	return u
}

// crossNetworkGateway is samples/multicluster/expose-services.yaml: the
// gateway pods selected by selector pass mTLS for every *.local service
// through on 15443, routed by SNI, without terminating it.
func crossNetworkGateway(ns, name string, selector map[string]any) *unstructured.Unstructured {
	u := object("networking.istio.io/v1", "Gateway", ns, name)
	u.Object["metadata"].(map[string]any)["labels"] = map[string]any{managedByLabel: managedByMeshfd}
	u.Object["spec"] = map[string]any{
		"selector": selector,
		"servers": []any{map[string]any{
			"port":  map[string]any{"number": int64(mesh.CrossNetworkPort), "name": "tls", "protocol": "TLS"},
			"tls":   map[string]any{"mode": "AUTO_PASSTHROUGH"},
			"hosts": []any{"*.local"},
		}},
	}
	return u
}

// istiodGateway and istiodVirtualService are
// samples/multicluster/expose-istiod.yaml: the gateway passes TLS on 15012
// (xDS, certificates) and 15017 (the injection webhook) through to istiod,
// which terminates it itself.
func istiodGateway(ns, name string, selector map[string]any) *unstructured.Unstructured {
	u := object("networking.istio.io/v1", "Gateway", ns, name)
	u.Object["metadata"].(map[string]any)["labels"] = map[string]any{managedByLabel: managedByMeshfd}
	server := func(name string, port int64) map[string]any {
		return map[string]any{
			"port":  map[string]any{"name": name, "number": port, "protocol": "tls"},
			"tls":   map[string]any{"mode": "PASSTHROUGH"},
			"hosts": []any{"*"},
		}
	}
	u.Object["spec"] = map[string]any{
		"selector": selector,
		"servers":  []any{server("tls-istiod", mesh.IstiodXDSPort), server("tls-istiodwebhook", mesh.IstiodWebhookPort)},
	}
	return u
}

func istiodVirtualService(ns, name, gateway, istiodHost string) *unstructured.Unstructured {
	u := object("networking.istio.io/v1", "VirtualService", ns, name)
	u.Object["metadata"].(map[string]any)["labels"] = map[string]any{managedByLabel: managedByMeshfd}
	route := func(match, to int64) map[string]any {
		return map[string]any{
			"match": []any{map[string]any{"port": match, "sniHosts": []any{"*"}}},
			"route": []any{map[string]any{"destination": map[string]any{
				"host": istiodHost,
				"port": map[string]any{"number": to},
			}}},
		}
	}
	u.Object["spec"] = map[string]any{
		"hosts":    []any{"*"},
		"gateways": []any{gateway},
		// istiod's Service serves the webhook on 443 (targetPort 15017).
		"tls": []any{route(mesh.IstiodXDSPort, mesh.IstiodXDSPort), route(mesh.IstiodWebhookPort, 443)},
	}
	return u
}

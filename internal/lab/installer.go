package lab

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// installation is what an installer wrote into one cluster, split by when
// the lab may apply it.
type installation struct {
	// objects are the installer's objects (no CRDs: the lab creates the
	// same ones from the base chart's crd-all.gen.yaml itself) followed by
	// the lab's stand-ins for what controllers and kubelets would add: a
	// Pod per Deployment with its status, the Deployment's status,
	// EndpointSlices, the east-west gateway's load-balancer address.
	objects []*unstructured.Unstructured
	// webhooks are the admission webhook configurations, applied after
	// every Pod: the lab's Pods stand for ones that already went through
	// admission (the API server has no path to the istiod Service
	// without kube-proxy, so it could not call the injector for them).
	webhooks []*unstructured.Unstructured
	// mesh and meshNetworks are the rendered ConfigMap istio's, for the
	// istiod process (which reads them from files outside a cluster).
	mesh, meshNetworks string
	// istiodEnv is the plain-valued environment of the rendered istiod
	// container (the values' env, e.g. ISTIO_MULTIROOT_MESH), which the
	// istiod process gets too.
	istiodEnv []string
	// gatewayNamespace and gatewaySA are the east-west gateway Pod's
	// namespace and ServiceAccount (its workload identity).
	gatewayNamespace, gatewaySA string
}

// install renders what the scenario's installer writes into cluster c.
func (l *Lab) install(ctx context.Context, c *cluster, d *TemplateData) (*installation, error) {
	switch l.scenario.Installer {
	case InstallerIstioctl:
		return l.installIstioctl(ctx, c, d)
	case InstallerHelm:
		return l.installHelm(ctx, c, d)
	case InstallerIstioOnEKS:
		return l.installIstioOnEKS(ctx, c, d)
	}
	return nil, fmt.Errorf("unknown installer %q", l.scenario.Installer)
}

// installIstioctl follows istio.io's multicluster guides, istioctl tab,
// for the scenario's topology; every render goes through `istioctl
// manifest generate` (what `istioctl install` would apply):
//
//   - a primary ("Install Multi-Primary", "… on different networks",
//     "Install Primary-Remote"): an IstioOperator with the mesh ID, cluster
//     name and network, and global.externalIstiod on the primary of
//     primary-remote;
//   - a remote ("Install Primary-Remote"): the remote profile with
//     global.remotePilotAddress, the primary's east-west gateway address,
//     and istiodRemote.injectionPath /inject/cluster/<id>/net/<network>;
//     istio-system is annotated
//     topology.istio.io/controlPlaneClusters before the install
//     (templates/cluster.yaml);
//   - the east-west gateway where the topology has one:
//     samples/multicluster/gen-eastwest-gateway.sh --network, then
//     samples/multicluster/expose-services.yaml in istio-system on several
//     networks and expose-istiod.yaml on the primary of primary-remote.
func (l *Lab) installIstioctl(ctx context.Context, c *cluster, d *TemplateData) (*installation, error) {
	istio, err := IstioModuleDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.dir, "install")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	spec := map[string]any{"hub": istioHub, "tag": istioTag()}
	global := map[string]any{}
	values := map[string]any{"global": global}
	spec["values"] = values
	if d.Remote {
		spec["profile"] = "remote"
		// The primary-remote guide's injectionPath: the webhook calls the
		// istiod Service (port 443 → tcp-webhook), whose EndpointSlice is
		// remotePilotAddress with port 15017; kube-proxy's stand-in
		// (kubeproxy.go) takes the API server's call to the Service's
		// cluster IP there, through the primary's gateway.
		values["istiodRemote"] = map[string]any{"injectionPath": fmt.Sprintf("/inject/cluster/%s/net/%s", c.id, c.network)}
		global["remotePilotAddress"] = d.PrimaryGatewayAddress
		if rev := l.scenario.value(c.name, FaultRevisionWithoutService); rev != "" {
			spec["revision"] = rev
		}
		if host := l.scenario.value(c.name, FaultRemotePilotHostname); host != "" {
			global["remotePilotAddress"] = host
			l.logf("  %s: remotePilotAddress is the host name %s (fault): the istiod Service is an ExternalName", c.name, host)
		}
	} else {
		global["meshID"] = d.MeshID
		global["multiCluster"] = map[string]any{"clusterName": c.id}
		global["network"] = c.network
		if l.scenario.Topology == PrimaryRemote {
			global["externalIstiod"] = true
		}
		if mc := l.faultMeshConfig(c, d); len(mc) > 0 {
			values["meshConfig"] = mc
		}
	}
	iop, err := yaml.Marshal(map[string]any{
		"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "spec": spec,
	})
	if err != nil {
		return nil, err
	}
	objs, err := l.istioctlGenerate(ctx, filepath.Join(dir, "cluster.yaml"), iop)
	if err != nil {
		return nil, err
	}
	if d.HasGateway {
		gw, err := l.eastWestGateway(ctx, istio, dir, c.network)
		if err != nil {
			return nil, err
		}
		objs = append(objs, gw...)
		var samples []string
		if d.MultiNetwork {
			samples = append(samples, "expose-services.yaml")
		}
		if d.ExposesIstiod {
			samples = append(samples, "expose-istiod.yaml")
		}
		for _, f := range samples {
			o, err := multiclusterSample(istio, f, "istio-system")
			if err != nil {
				return nil, err
			}
			objs = append(objs, o...)
		}
	}
	if rev := l.scenario.value(c.name, FaultRevisionWithoutService); d.Remote && rev != "" {
		// Istio's older istiod-remote chart: Service and endpoints istiod
		// whatever the revision (istio/istio#47552).
		for _, u := range objs {
			if (u.GetKind() == "Service" || u.GetKind() == "EndpointSlice") && u.GetName() == "istiod-"+rev {
				u.SetName("istiod")
				if u.GetKind() == "EndpointSlice" {
					labels := u.GetLabels()
					labels["kubernetes.io/service-name"] = "istiod"
					u.SetLabels(labels)
				}
			}
		}
		l.logf("  %s: installed with revision %s, its istiod Service and EndpointSlice named istiod (fault)", c.name, rev)
	}
	if d.Remote && !l.net.isolated {
		// remote-istiod-endpointslices.yaml puts remotePilotAddress in the
		// istiod EndpointSlice, and EndpointSlices refuse loopback
		// addresses: on loopback the slice names the primary's istiod pod.
		for _, u := range objs {
			if u.GetKind() == "EndpointSlice" && u.GetName() == "istiod" {
				_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"addresses": []any{d.IstiodEndpoint}}}, "endpoints")
			}
		}
	}
	return l.finishInstall(c, d, objs)
}

// eastWestGateway renders samples/multicluster/gen-eastwest-gateway.sh
// --network's IstioOperator with istioctl.
func (l *Lab) eastWestGateway(ctx context.Context, istio, dir, network string) ([]*unstructured.Unstructured, error) {
	gen := exec.CommandContext(ctx, "bash", filepath.Join(istio, "samples/multicluster/gen-eastwest-gateway.sh"), "--network", network)
	var stderr bytes.Buffer
	gen.Stderr = &stderr
	iop, err := gen.Output()
	if err != nil {
		return nil, fmt.Errorf("gen-eastwest-gateway.sh: %w: %s", err, stderr.String())
	}
	return l.istioctlGenerate(ctx, filepath.Join(dir, "eastwest.yaml"), iop)
}

// installHelm follows the same guide's Helm tab: the base chart, the
// istiod chart with --set global.meshID, global.multiCluster.clusterName
// and global.network, and the gateway chart as istio-eastwestgateway with
// --set networkGateway, all in istio-system (`helm template` renders what
// `helm install` applies); then expose-services.yaml.
func (l *Lab) installHelm(ctx context.Context, c *cluster, d *TemplateData) (*installation, error) {
	istio, err := IstioModuleDir()
	if err != nil {
		return nil, err
	}
	charts := filepath.Join(istio, "manifests/charts")
	releases := []helmRelease{
		{name: "istio-base", chart: "base", namespace: "istio-system"},
		{name: "istiod", chart: "istio-control/istio-discovery", namespace: "istio-system", set: append(releaseImages(),
			"global.meshID="+d.MeshID, "global.multiCluster.clusterName="+c.id, "global.network="+c.network),
			values: valuesWithMeshConfig(nil, l.faultMeshConfig(c, d))},
	}
	if d.HasGateway {
		releases = append(releases, helmRelease{name: "istio-eastwestgateway", chart: "gateway", namespace: "istio-system",
			set: []string{"name=istio-eastwestgateway", "networkGateway=" + c.network}})
	}
	objs, err := l.helmReleases(ctx, c, charts, releases, d.HasGateway, istio, "istio-system")
	if err != nil {
		return nil, err
	}
	return l.finishInstall(c, d, objs)
}

// helmReleases renders releases in order and, with a cross-network gateway,
// the guide's expose-services.yaml into exposeNS (the namespace each install
// applies it in).
func (l *Lab) helmReleases(ctx context.Context, c *cluster, charts string, releases []helmRelease, gateway bool, istio, exposeNS string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, r := range releases {
		o, err := l.helmTemplate(ctx, c, charts, r)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	if gateway {
		expose, err := multiclusterSample(istio, "expose-services.yaml", exposeNS)
		if err != nil {
			return nil, err
		}
		objs = append(objs, expose...)
	}
	return objs, nil
}

// installIstioOnEKS follows aws-samples/istio-on-eks'
// multi-cluster-multi-primary/multi-network pattern (eks_1.tf): istio-system
// labelled with the network, a namespace istio-ingress, the base chart, the
// istiod chart with the pattern's values, and the gateway chart twice in
// istio-ingress: istio-ingressgateway (istio=ingressgateway, also exposing
// istiod's 15012 and 15017) and istio-eastwestgateway (the network label,
// ISTIO_META_REQUESTED_NETWORK_VIEW, 15443), both behind NLB annotations. The
// reader's token Secret is the pattern's own (written below); its
// multicluster-gateway-n-apps chart (a remote secret from that token and the
// cross-network Gateway, released into sample) is not in the module cache,
// so the lab writes the remote secrets in istioctl's shape and
// expose-services.yaml's Gateway into sample.
func (l *Lab) installIstioOnEKS(ctx context.Context, c *cluster, d *TemplateData) (*installation, error) {
	istio, err := IstioModuleDir()
	if err != nil {
		return nil, err
	}
	charts := filepath.Join(istio, "manifests/charts")
	nlb := map[string]any{
		"service.beta.kubernetes.io/aws-load-balancer-type":            "external",
		"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
		"service.beta.kubernetes.io/aws-load-balancer-scheme":          "internet-facing",
		"service.beta.kubernetes.io/aws-load-balancer-attributes":      "load_balancing.cross_zone.enabled=true",
		"service.beta.kubernetes.io/aws-load-balancer-ip-address-type": "ipv4",
	}
	ingress := map[string]any{
		"labels": map[string]any{"istio": "ingressgateway"},
		"service": map[string]any{"annotations": nlb, "ports": []any{
			map[string]any{"name": "tls-istiod", "port": 15012, "targetPort": 15012},
			map[string]any{"name": "tls-webhook", "port": 15017, "targetPort": 15017},
		}},
	}
	eastWest := map[string]any{
		"labels": map[string]any{"istio": "eastwestgateway", "app": "istio-eastwestgateway", "topology.istio.io/network": c.network},
		"env":    map[string]any{"ISTIO_META_REQUESTED_NETWORK_VIEW": c.network},
		"service": map[string]any{"annotations": nlb, "ports": []any{
			map[string]any{"name": "tls", "port": 15443, "targetPort": 15443},
		}},
	}
	releases := []helmRelease{
		{name: "istio-base", chart: "base", namespace: "istio-system"},
		{name: "istiod", chart: "istio-control/istio-discovery", namespace: "istio-system",
			values: valuesWithMeshConfig(map[string]any{"meshConfig": map[string]any{"defaultConfig": map[string]any{
				"proxyMetadata": map[string]any{"PROXY_CONFIG_XDS_AGENT": "true"}}}}, l.faultMeshConfig(c, d)),
			set: append(releaseImages(),
				"meshConfig.accessLogFile=/dev/stdout",
				"global.meshID="+d.MeshID, "global.multiCluster.clusterName="+c.id, "global.network="+c.network,
				"gateways.istio-ingressgateway.injectionTemplate=gateway",
				"env.AUTO_RELOAD_PLUGIN_CERTS=true", "env.ISTIO_MULTIROOT_MESH=true")},
		{name: "istio-ingressgateway", chart: "gateway", namespace: "istio-ingress", values: ingress},
	}
	if d.HasGateway {
		releases = append(releases, helmRelease{name: "istio-eastwestgateway", chart: "gateway", namespace: "istio-ingress", values: eastWest})
	}
	rendered, err := l.helmReleases(ctx, c, charts, releases, d.HasGateway, istio, "sample")
	if err != nil {
		return nil, err
	}
	objs := append([]*unstructured.Unstructured{{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "istio-ingress"},
	}}}, rendered...)
	// The pattern's reader token (kubernetes_secret.istio_reader_token_1),
	// after the chart's ServiceAccount: the token controller deletes a
	// token Secret whose ServiceAccount does not exist.
	objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
		"metadata": map[string]any{
			"name": readerTokenSecret, "namespace": "istio-system",
			"annotations": map[string]any{"kubernetes.io/service-account.name": "istio-reader-service-account"},
		},
	}})
	return l.finishInstall(c, d, objs)
}

// faultMeshConfig is the meshConfig a scenario's faults patch onto what an
// installer renders: a trust domain of its own (trust-domain), istiod's
// discoverySelectors leaving a namespace out (stale-root-configmap).
func (l *Lab) faultMeshConfig(c *cluster, d *TemplateData) map[string]any {
	mc := map[string]any{}
	if d.TrustDomain != "cluster.local" {
		mc["trustDomain"] = d.TrustDomain
	}
	if ds := l.discoverySelectors(c); ds != nil {
		mc["discoverySelectors"] = ds
	}
	return mc
}

// valuesWithMeshConfig merges meshConfig settings into Helm values (nil
// when there is nothing to give).
func valuesWithMeshConfig(values, meshConfig map[string]any) map[string]any {
	if len(meshConfig) == 0 {
		return values
	}
	if values == nil {
		values = map[string]any{}
	}
	mc, _ := values["meshConfig"].(map[string]any)
	if mc == nil {
		mc = map[string]any{}
	}
	for k, v := range meshConfig {
		mc[k] = v
	}
	values["meshConfig"] = mc
	return values
}

// releaseImages are the values a released chart carries for its images
// (see istioHub).
func releaseImages() []string {
	return []string{"global.hub=" + istioHub, "global.tag=" + istioTag()}
}

// helmRelease is one `helm install` of a chart of the istio module.
type helmRelease struct {
	name, chart, namespace string
	set                    []string       // --set
	values                 map[string]any // -f
}

// helmTemplate renders a release with `helm template`, which is what `helm
// install` would apply.
func (l *Lab) helmTemplate(ctx context.Context, c *cluster, charts string, r helmRelease) ([]*unstructured.Unstructured, error) {
	dir := filepath.Join(c.dir, "install")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	args := []string{"template", r.name, filepath.Join(charts, r.chart), "--namespace", r.namespace}
	for _, s := range r.set {
		args = append(args, "--set", s)
	}
	var values []byte
	if r.values != nil {
		b, err := yaml.Marshal(r.values)
		if err != nil {
			return nil, err
		}
		values = b
		f := filepath.Join(dir, r.name+".values.yaml")
		if err := os.WriteFile(f, b, 0o600); err != nil {
			return nil, err
		}
		args = append(args, "-f", f)
	}
	out, err := l.cachedRender(ctx, values, "helm", args...)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, r.name+".manifest.yaml"), out, 0o600); err != nil {
		return nil, err
	}
	objs, err := splitYAML(string(out))
	if err != nil {
		return nil, err
	}
	for _, u := range objs { // helm install puts namespaced objects without one into the release's
		if u.GetNamespace() == "" && namespacedKind(u.GetKind()) {
			u.SetNamespace(r.namespace)
		}
	}
	return objs, nil
}

// namespacedKind: the kinds the charts render that live in a namespace.
func namespacedKind(kind string) bool {
	switch kind {
	case "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
		"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
		return false
	}
	return true
}

// multiclusterSample is samples/multicluster/<file> (expose-services.yaml,
// expose-istiod.yaml) as `kubectl apply -n namespace` applies it.
func multiclusterSample(istio, file, namespace string) ([]*unstructured.Unstructured, error) {
	b, err := os.ReadFile(filepath.Join(istio, "samples/multicluster", file))
	if err != nil {
		return nil, err
	}
	objs, err := splitYAML(string(b))
	if err != nil {
		return nil, err
	}
	for _, u := range objs {
		u.SetNamespace(namespace)
	}
	return objs, nil
}

// readerTokenSecret is the token Secret istioctl create-remote-secret makes
// for istio-reader-service-account (and istio-on-eks makes itself).
const readerTokenSecret = "istio-reader-service-account-istio-remote-secret-token"

// remoteSecretsByIstioctl: the installer's guide makes remote secrets with
// istioctl create-remote-secret; istio-on-eks' chart makes them from its
// own reader token, which the lab then does in istioctl's shape.
func (s *Scenario) remoteSecretsByIstioctl() bool {
	return s.Installer != InstallerIstioOnEKS
}

// installerTools are the binaries the scenario's installer runs.
func (s *Scenario) installerTools() []string {
	switch s.Installer {
	case InstallerIstioctl:
		return []string{"istioctl", "kubectl"}
	case InstallerHelm:
		return []string{"helm", "istioctl", "kubectl"}
	case InstallerIstioOnEKS:
		return []string{"helm"}
	}
	return nil
}

// istioHub is where a release's images come from. A release build of
// istioctl carries its hub and tag in its profiles; a build of the pinned
// commit says registry.istio.io/testing and "latest", so the lab gives both
// as a release of that commit would have them.
const istioHub = "docker.io/istio"

// istioctlGenerate writes an IstioOperator to file and returns what
// `istioctl manifest generate -f file` renders from it.
func (l *Lab) istioctlGenerate(ctx context.Context, file string, iop []byte) ([]*unstructured.Unstructured, error) {
	if err := os.WriteFile(file, iop, 0o600); err != nil {
		return nil, err
	}
	out, err := l.cachedRender(ctx, iop, "istioctl", "manifest", "generate", "-f", file)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(strings.TrimSuffix(file, ".yaml")+".manifest.yaml", out, 0o600); err != nil {
		return nil, err
	}
	return splitYAML(string(out))
}

// runTool runs one of the lab's binaries (istioctl, kubectl) on this
// machine, with stdin, and returns its stdout.
func (l *Lab) runTool(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.bin(name), args...)
	// Only the flags say which cluster; nothing of this machine's own
	// kubeconfig.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+l.Kubeconfig())
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return out, nil
}

// finishInstall sorts an installer's objects and adds the lab's stand-ins.
func (l *Lab) finishInstall(c *cluster, d *TemplateData, objs []*unstructured.Unstructured) (*installation, error) {
	in := &installation{}
	var deployments, services []*unstructured.Unstructured
	for _, u := range objs {
		switch u.GetKind() {
		case "CustomResourceDefinition":
			continue
		case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			if u.GetKind() == "ValidatingWebhookConfiguration" && !l.net.isolated {
				// Its failurePolicy is Ignore, but the API server still
				// dials the istiod Service's cluster IP for every Istio
				// object; on loopback that dial would leave this machine
				// (in a cluster's namespace it fails at once: no route).
				l.logf("  %s: validating webhook %s left out on loopback", c.name, u.GetName())
				continue
			}
			in.webhooks = append(in.webhooks, u)
			continue
		case "Deployment":
			deployments = append(deployments, u)
		case "Service":
			services = append(services, u)
		case "ConfigMap":
			if u.GetName() == "istio" && u.GetNamespace() == "istio-system" {
				in.mesh, _, _ = unstructured.NestedString(u.Object, "data", "mesh")
				in.meshNetworks, _, _ = unstructured.NestedString(u.Object, "data", "meshNetworks")
			}
		}
		in.objects = append(in.objects, u)
	}
	if in.mesh == "" && d.RunsIstiod {
		return nil, fmt.Errorf("the installer wrote no ConfigMap istio-system/istio with a mesh config")
	}
	proxyImage, err := injectedProxyImage(objs)
	if err != nil {
		return nil, err
	}
	node := d.Nodes[0]
	next := 6
	for _, dep := range deployments {
		podIP := ""
		switch {
		case dep.GetName() == "istiod":
			podIP = d.IstiodPodIP
			for _, kv := range l.scenario.IstiodEnv {
				name, value, _ := strings.Cut(kv, "=")
				if err := setContainerEnv(dep, "discovery", name, value); err != nil {
					return nil, err
				}
			}
			for _, f := range l.scenario.faultsFor(c.name, FaultIstiodEnv) {
				name, value, _ := strings.Cut(f.Value, "=")
				if err := setContainerEnv(dep, "discovery", name, value); err != nil {
					return nil, err
				}
			}
			in.istiodEnv = containerEnv(dep, "discovery")
		case isEastWest(dep.GetLabels()):
			podIP = d.GatewayPodIP
			in.gatewayNamespace = dep.GetNamespace()
			in.gatewaySA, _, _ = unstructured.NestedString(dep.Object, "spec", "template", "spec", "serviceAccountName")
		default:
			podIP = fmt.Sprintf("%s.0.%d", d.PodPrefix, next)
			next++
		}
		pod, err := standInPod(dep, node, podIP, proxyImage, d.StartTime)
		if err != nil {
			return nil, err
		}
		_ = unstructured.SetNestedMap(dep.Object, map[string]any{
			"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1),
			"readyReplicas": int64(1), "availableReplicas": int64(1),
		}, "status")
		in.objects = append(in.objects, pod)
		for _, svc := range services {
			if slice := standInSlice(svc, pod, node); slice != nil {
				in.objects = append(in.objects, slice)
			}
		}
	}
	for _, svc := range services {
		typ, _, _ := unstructured.NestedString(svc.Object, "spec", "type")
		if typ == "LoadBalancer" && isEastWest(svc.GetLabels()) && d.GatewayAddress != "" {
			// The cloud's load-balancer controller. The lab has one
			// address per cluster, for the east-west gateway; any other
			// LoadBalancer Service (the ingress gateway) stays pending.
			_ = unstructured.SetNestedSlice(svc.Object, []any{
				map[string]any{"ip": d.GatewayAddress, "ipMode": "VIP"},
			}, "status", "loadBalancer", "ingress")
		}
	}
	return in, nil
}

// setContainerEnv sets a variable of a Deployment's container, as
// values.pilot.env does in the istiod chart (replacing one of that name).
func setContainerEnv(dep *unstructured.Unstructured, container, name, value string) error {
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	for i, ct := range containers {
		m := ct.(map[string]any)
		if m["name"] != container {
			continue
		}
		env, _, _ := unstructured.NestedSlice(m, "env")
		kept := env[:0]
		for _, e := range env {
			if v, ok := e.(map[string]any); !ok || v["name"] != name {
				kept = append(kept, e)
			}
		}
		m["env"] = append(kept, map[string]any{"name": name, "value": value})
		containers[i] = m
		return unstructured.SetNestedSlice(dep.Object, containers, "spec", "template", "spec", "containers")
	}
	return fmt.Errorf("Deployment %s/%s has no container %s", dep.GetNamespace(), dep.GetName(), container)
}

// containerEnv lists a Deployment's container's environment with plain
// values (valueFrom needs a kubelet), as NAME=value.
func containerEnv(dep *unstructured.Unstructured, container string) []string {
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	var out []string
	for _, ct := range containers {
		m := ct.(map[string]any)
		if m["name"] != container {
			continue
		}
		env, _, _ := unstructured.NestedSlice(m, "env")
		for _, e := range env {
			v := e.(map[string]any)
			name, _ := v["name"].(string)
			value, ok := v["value"].(string)
			if ok && name != "" {
				out = append(out, name+"="+value)
			}
		}
	}
	return out
}

// renderedEnv is the environment the installer gave istiod's container,
// for the istiod process; nil without an installer.
func renderedEnv(c *cluster) []string {
	if c.installed == nil {
		return nil
	}
	return append([]string(nil), c.installed.istiodEnv...)
}

// isEastWest: labels of Istio's east-west gateway as the guides install it.
func isEastWest(labels map[string]string) bool {
	return labels["istio"] == "eastwestgateway" || labels["topology.istio.io/network"] != ""
}

// injectedProxyImage is the image the injector's gateway template puts in
// place of "auto": <global.hub>/<global.proxy.image>:<global.tag> from the
// rendered istio-sidecar-injector values.
func injectedProxyImage(objs []*unstructured.Unstructured) (string, error) {
	for _, u := range objs {
		if u.GetKind() != "ConfigMap" || u.GetName() != "istio-sidecar-injector" {
			continue
		}
		raw, _, _ := unstructured.NestedString(u.Object, "data", "values")
		var v struct {
			Global struct {
				Hub   string `json:"hub"`
				Tag   any    `json:"tag"`
				Proxy struct {
					Image string `json:"image"`
				} `json:"proxy"`
			} `json:"global"`
		}
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return "", fmt.Errorf("istio-sidecar-injector values: %w", err)
		}
		img := v.Global.Proxy.Image
		if img == "" {
			img = "proxyv2"
		}
		if !strings.Contains(img, "/") {
			img = v.Global.Hub + "/" + img
		}
		return fmt.Sprintf("%s:%v", img, v.Global.Tag), nil
	}
	return "", nil // no injector rendered (a gateway-only install)
}

// standInPod is the Pod a Deployment's ReplicaSet would have created and
// the kubelet reported running: the Deployment's pod template on the
// cluster's first node, with status. A container image "auto" is what the
// injector's gateway template replaces.
func standInPod(dep *unstructured.Unstructured, node NodeData, podIP, proxyImage, start string) (*unstructured.Unstructured, error) {
	tmpl, ok, _ := unstructured.NestedMap(dep.Object, "spec", "template")
	if !ok {
		return nil, fmt.Errorf("Deployment %s has no pod template", dep.GetName())
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(dep.GetNamespace() + "/" + dep.GetName()))
	hash := podHash(h.Sum32())
	pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod"}}
	meta, _ := tmpl["metadata"].(map[string]any)
	spec, _ := tmpl["spec"].(map[string]any)
	if spec == nil {
		return nil, fmt.Errorf("Deployment %s: pod template has no spec", dep.GetName())
	}
	pod.Object["metadata"] = runtime.DeepCopyJSONValue(meta)
	if pod.Object["metadata"] == nil {
		pod.Object["metadata"] = map[string]any{}
	}
	pod.Object["spec"] = runtime.DeepCopyJSONValue(spec)
	pod.SetName(dep.GetName() + "-" + hash + "-" + podHash(h.Sum32() * 31)[:5])
	pod.SetNamespace(dep.GetNamespace())
	labels := pod.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["pod-template-hash"] = hash
	pod.SetLabels(labels)
	_ = unstructured.SetNestedField(pod.Object, node.Name, "spec", "nodeName")
	containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	var statuses []any
	for _, ct := range containers {
		m := ct.(map[string]any)
		if m["image"] == "auto" && proxyImage != "" {
			m["image"] = proxyImage
			injectGateway(pod, m)
		}
		statuses = append(statuses, map[string]any{
			"name": m["name"], "ready": true, "started": true, "restartCount": int64(0),
			"image": m["image"], "imageID": "",
			"state": map[string]any{"running": map[string]any{"startedAt": start}},
		})
	}
	_ = unstructured.SetNestedSlice(pod.Object, containers, "spec", "containers")
	pod.Object["status"] = map[string]any{
		"phase": "Running", "hostIP": node.IP, "podIP": podIP,
		"podIPs": []any{map[string]any{"ip": podIP}}, "startTime": start,
		"conditions": []any{
			map[string]any{"type": "Ready", "status": "True"},
			map[string]any{"type": "ContainersReady", "status": "True"},
		},
		"containerStatuses": statuses,
	}
	return pod, nil
}

// injectGateway writes into pod and its istio-proxy container ct what the
// injector's gateway template adds (istio.io/istio manifests/charts/
// istio-control/istio-discovery/files/gateway-injection-template.yaml, with
// the chart's default values): the canonical-service labels and the proxy's
// arguments, "proxy router" being how a gateway pod differs from a
// sidecar's ("proxy sidecar") to whoever reads the pod.
func injectGateway(pod *unstructured.Unstructured, ct map[string]any) {
	ct["args"] = []any{"proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
		"--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info"}
	labels := pod.GetLabels()
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := labels[k]; v != "" {
				return v
			}
		}
		return ""
	}
	if name := first("service.istio.io/canonical-name", "app.kubernetes.io/name", "app"); name != "" {
		labels["service.istio.io/canonical-name"] = name
	}
	labels["service.istio.io/canonical-revision"] = cmp.Or(first("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"), "latest")
	pod.SetLabels(labels)
	annotations := pod.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations["istio.io/rev"] = cmp.Or(labels["istio.io/rev"], "default")
	pod.SetAnnotations(annotations)
}

// podHash spells a number in the alphabet Kubernetes uses for generated
// names (no vowels, no look-alikes), 10 characters.
func podHash(n uint32) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b []byte
	for i := 0; i < 10; i++ {
		b = append(b, alphabet[n%uint32(len(alphabet))])
		n = n/uint32(len(alphabet)) + uint32(i)*7919
	}
	return string(b)
}

// standInSlice is the EndpointSlice the endpointslice controller would
// write for svc with pod behind it, or nil when svc does not select pod.
func standInSlice(svc, pod *unstructured.Unstructured, node NodeData) *unstructured.Unstructured {
	if svc.GetNamespace() != pod.GetNamespace() {
		return nil
	}
	sel, ok, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	if !ok || len(sel) == 0 {
		return nil
	}
	labels := pod.GetLabels()
	for k, v := range sel {
		if labels[k] != v {
			return nil
		}
	}
	containerPorts := map[string]int64{}
	containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	for _, ct := range containers {
		ports, _, _ := unstructured.NestedSlice(ct.(map[string]any), "ports")
		for _, p := range ports {
			m := p.(map[string]any)
			if name, _ := m["name"].(string); name != "" {
				containerPorts[name], _ = toInt64(m["containerPort"])
			}
		}
	}
	svcPorts, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	var ports []any
	for _, p := range svcPorts {
		m := p.(map[string]any)
		port, _ := toInt64(m["port"])
		if tp, ok := m["targetPort"]; ok {
			switch t := intstrOf(tp); t.Type {
			case intstr.Int:
				port = int64(t.IntVal)
			case intstr.String:
				if cp, ok := containerPorts[t.StrVal]; ok {
					port = cp
				}
			}
		}
		proto, _ := m["protocol"].(string)
		if proto == "" {
			proto = "TCP"
		}
		ports = append(ports, map[string]any{"name": m["name"], "port": port, "protocol": proto})
	}
	podIP, _, _ := unstructured.NestedString(pod.Object, "status", "podIP")
	endpoint := map[string]any{
		"addresses":  []any{podIP},
		"conditions": map[string]any{"ready": true, "serving": true, "terminating": false},
		"nodeName":   node.Name,
		"targetRef":  map[string]any{"kind": "Pod", "namespace": pod.GetNamespace(), "name": pod.GetName()},
	}
	if node.Zone != "" {
		endpoint["zone"] = node.Zone
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
		"metadata": map[string]any{
			"name": svc.GetName() + "-" + podHash(fnv32(svc.GetName()))[:5], "namespace": svc.GetNamespace(),
			"labels": map[string]any{
				"kubernetes.io/service-name":             svc.GetName(),
				"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
			},
		},
		"addressType": "IPv4",
		"ports":       ports,
		"endpoints":   []any{endpoint},
	}}
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case int:
		return int64(n), true
	}
	return 0, false
}

func intstrOf(v any) intstr.IntOrString {
	if s, ok := v.(string); ok {
		return intstr.FromString(s)
	}
	n, _ := toInt64(v)
	return intstr.FromInt32(int32(n))
}

// createRemoteSecrets does the guide's "Enable Endpoint Discovery" step:
// for every cluster, `istioctl create-remote-secret --context=<c>
// --name=<id>`, applied with `kubectl apply -f - --context=<primary>` to
// every other primary, except where the scenario leaves one out or spoils
// it. istioctl makes the reader's token Secret, and the lab keeps the
// token it holds (for ReaddRemoteSecret and the bad-remote-secret fault).
func (l *Lab) createRemoteSecrets(ctx context.Context) error {
	secrets := map[string][]byte{}
	var mu sync.Mutex
	if err := l.forEach(func(peer *cluster) error {
		out, err := l.runTool(ctx, nil, "istioctl", "create-remote-secret",
			"--kubeconfig", l.Kubeconfig(), "--context", peer.name, "--name", peer.id)
		if err != nil {
			return err
		}
		s, err := peer.client.CoreV1().Secrets("istio-system").Get(ctx, readerTokenSecret, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("the reader's token after create-remote-secret: %w", err)
		}
		peer.token = string(s.Data["token"])
		mu.Lock()
		secrets[peer.name] = out
		mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	return l.forEach(func(p *cluster) error {
		if p.role != "primary" {
			return nil
		}
		for _, peerName := range l.names {
			peer := l.clusters[peerName]
			switch {
			case peer == p:
			case l.scenario.hasFor(p.name, peer.name, FaultMissingRemoteSecret):
				l.logf("  %s: no remote secret for %s (fault)", p.name, peer.name)
			case l.scenario.hasFor(p.name, peer.name, FaultBadRemoteSecret) || l.scenario.duplicateSecret(p.name, peer.name) == DuplicateBadFirst:
				l.logf("  %s: remote secret for %s carries a rejected token (fault)", p.name, peer.name)
				if err := l.writeRemoteSecret(ctx, p, peer, spoilToken(peer.token)); err != nil {
					return err
				}
			default:
				if _, err := l.runTool(ctx, secrets[peer.name], "kubectl", "apply", "-f", "-",
					"--kubeconfig", l.Kubeconfig(), "--context", p.name); err != nil {
					return fmt.Errorf("remote secret for %s: %w", peer.name, err)
				}
			}
		}
		return nil
	})
}

package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/xds"
)

// SidecarAsk is what to ask istiod on one ADS stream: what a sidecar of
// Context, in Namespace, is sent for each port of each of Services.
type SidecarAsk struct {
	Context   string
	Namespace string
	Services  []ServicePorts
}

// ServicePorts is a service (namespace/name) and the ports to ask for.
type ServicePorts struct {
	Service model.Meta // Namespace and Name
	Ports   []int32
}

// host is the service's host name, as istiod names it.
func (s ServicePorts) host(domain string) string {
	return s.Service.Name + "." + s.Service.Namespace + ".svc." + domain
}

// SidecarViews asks, for each ask, the istiod that serves the sidecars of
// its cluster (its own for a primary; for a remote, a primary of the
// fleet holding a remote secret for its cluster ID) what it sends a sidecar
// of that cluster, in the ask's namespace, for the service's ports: one
// port-forward to the istiod pod's xDS port (15010) and one ADS stream per
// ask (a cluster and namespace), all concurrently and by opts.Deadline. The sidecar presents the
// identity of a running injected pod of the namespace when there is one
// (security.istio.io/tlsMode=istio, read live), so that istiod gives it
// that pod's labels and its node's locality, as the pod's own proxy gets.
func SidecarViews(ctx context.Context, f *model.Fleet, opts Options, asks []SidecarAsk) []model.SidecarView {
	opts = opts.withDefaults()
	if dl, ok := ctx.Deadline(); ok && dl.Before(opts.Deadline) {
		opts.Deadline = dl
	}
	planned := make([][]model.SidecarView, len(asks))
	targets := make([]sidecarTarget, len(asks))
	for i, a := range asks {
		targets[i], planned[i] = planSidecar(f, opts, a)
	}
	if left := time.Until(opts.Deadline); left < MinTime {
		var out []model.SidecarView
		for _, vs := range planned {
			for _, v := range vs {
				if v.NotRun == "" {
					v.NotRun = fmt.Sprintf("not asked: the run's deadline left %s", left.Round(time.Millisecond))
				}
				out = append(out, v)
			}
		}
		return out
	}
	got := fanOut(ctx, opts.Deadline, opts.Timeout, len(asks), func(ctx context.Context, i int) []model.SidecarView {
		return askSidecar(ctx, f, opts.Forwards, targets[i], planned[i])
	})
	var out []model.SidecarView
	for i, vs := range planned {
		if got[i] != nil {
			out = append(out, *got[i]...)
			continue
		}
		for _, v := range vs {
			if v.NotRun == "" {
				v.Error = "no answer by the run's deadline"
			}
			out = append(out, v)
		}
	}
	return out
}

// sidecarTarget is where one ask goes.
type sidecarTarget struct {
	ask      SidecarAsk
	client   *kube.Client // the sidecar's cluster, to find a pod to be
	istiod   *kube.Client // the istiod's cluster, to port-forward through
	pod      model.Workload
	identity mesh.Identity
	meshID   string
}

// planSidecar finds the istiod to ask and returns the views, one per port,
// with what is known before asking (NotRun set when it cannot be asked).
func planSidecar(f *model.Fleet, opts Options, a SidecarAsk) (sidecarTarget, []model.SidecarView) {
	t := sidecarTarget{ask: a}
	c := f.Cluster(a.Context)
	var views []model.SidecarView
	for _, sp := range a.Services {
		host := sp.host(opts.Domain)
		for _, p := range sp.Ports {
			views = append(views, model.SidecarView{Context: a.Context, Namespace: a.Namespace, Service: host, Port: p,
				Cluster: xds.OutboundCluster(host, p), Endpoints: []model.XDSEndpoint{}})
		}
	}
	notRun := func(why string) (sidecarTarget, []model.SidecarView) {
		for i := range views {
			views[i].NotRun = why
		}
		return t, views
	}
	if c == nil || !c.Reachable {
		return notRun("the cluster was not read")
	}
	t.identity = mesh.Identify(c)
	for i := range views {
		views[i].ClusterID, views[i].Network = t.identity.ClusterID, t.identity.Network
	}
	server := c
	if t.identity.Role != mesh.RolePrimary {
		server = servingPrimary(f, t.identity.ClusterID)
		if server == nil {
			return notRun(fmt.Sprintf("%s has no istiod of its own, and no primary read holds a remote secret for its cluster ID %q to ask in its stead", a.Context, t.identity.ClusterID))
		}
	}
	if ok, why := server.Readable(model.KindPods); !ok {
		return notRun("the istiod pods of " + server.Context + " were not listed (" + why + ")")
	}
	pods := istiodPods(server)
	if len(pods) == 0 {
		return notRun(fmt.Sprintf("no Running istiod pod (app=%s) in %s of %s to port-forward to", mesh.IstiodApp, server.IstioNamespace, server.Context))
	}
	t.pod = pods[0]
	if opts.Client == nil {
		return notRun("no client for the API servers to port-forward through")
	}
	var err error
	if t.istiod, err = opts.Client(server.Context); err != nil {
		return notRun("no client for " + server.Context + "'s API server: " + oneLine(err))
	}
	if t.client, err = opts.Client(c.Context); err != nil {
		return notRun("no client for " + c.Context + "'s API server: " + oneLine(err))
	}
	t.meshID = t.identity.MeshID
	for i := range views {
		views[i].Istiod = fmt.Sprintf("port-forward to %s/%s:%d (%s)", t.pod.Namespace, t.pod.Name, xds.Port, server.Context)
	}
	return t, views
}

// servingPrimary is the primary whose istiod serves a remote cluster's
// proxies: one that reads it through a remote secret (the first by
// context, when several do).
func servingPrimary(f *model.Fleet, clusterID string) *model.Cluster {
	if clusterID == "" {
		return nil
	}
	for _, p := range f.Clusters {
		if p.Reachable && mesh.Identify(p).Role == mesh.RolePrimary {
			if _, ok := mesh.RemoteSecretKeys(p)[clusterID]; ok {
				return p
			}
		}
	}
	return nil
}

// askSidecar asks one istiod for every port of every service of one ask
// on one stream.
func askSidecar(ctx context.Context, f *model.Fleet, fw *Forwards, t sidecarTarget, views []model.SidecarView) []model.SidecarView {
	if len(views) == 0 || views[0].NotRun != "" {
		return views
	}
	me, proxy, locality := sidecarIdentity(ctx, f, t)
	for i := range views {
		views[i].Proxy, views[i].ProxyLocality = proxy, locality
	}
	var forwarded forwardedConns
	fail := func(err error) []model.SidecarView {
		msg := "xDS: " + oneLine(err)
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			msg = "xDS: no answer by the deadline"
		} else if reason := forwarded.reason(); reason != "" {
			msg = "xDS: " + strings.ReplaceAll(reason, "\n", " ")
		}
		for i := range views {
			views[i].Error = msg
		}
		return views
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		conn, err := PortForwardConn(ctx, fw, t.istiod, t.pod.Namespace, t.pod.Name, xds.Port)
		forwarded.add(conn, err)
		return conn, err
	}
	client, err := xds.Dial(ctx, dial, me)
	if err != nil {
		return fail(err)
	}
	defer client.Close()
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = v.Cluster
	}
	got, err := client.Endpoints(ctx, names...)
	if err != nil {
		return fail(err)
	}
	for i, v := range views {
		for _, e := range xds.Flatten(got[v.Cluster]) {
			views[i].Endpoints = append(views[i].Endpoints, model.XDSEndpoint{Address: e.Address, Port: e.Port,
				Locality: e.Locality, Priority: e.Priority, Weight: e.Weight, Health: e.Health})
		}
	}
	return views
}

// proxyPodLimit bounds the pods listed to find one to be.
const proxyPodLimit = 50

// sidecarIdentity is the sidecar to present: a running injected pod of the
// ask's namespace in its cluster (the first by name), with its node's
// locality from the snapshot; else a sidecar with no pod behind it, which
// istiod gives no labels and no locality.
func sidecarIdentity(ctx context.Context, f *model.Fleet, t sidecarTarget) (me xds.Sidecar, proxy, locality string) {
	a := t.ask
	me = xds.Sidecar{Cluster: t.identity.ClusterID, Network: t.identity.Network, MeshID: t.meshID,
		Namespace: a.Namespace, Pod: "meshfed-sidecar-view", IP: "0.0.0.0", ServiceAccount: "default", Workload: "meshfed-sidecar-view",
		IstioVersion: t.identity.Version}
	var pods corev1.PodList
	err := t.client.Core().Get().Namespace(a.Namespace).Resource("pods").
		VersionedParams(&metav1.ListOptions{LabelSelector: "security.istio.io/tlsMode=istio", FieldSelector: "status.phase=Running", Limit: proxyPodLimit}, metav1.ParameterCodec).
		Do(ctx).Into(&pods)
	if err != nil {
		return me, "", ""
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for _, p := range pods.Items {
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		me.Pod, me.IP, me.ServiceAccount, me.Labels = p.Name, p.Status.PodIP, p.Spec.ServiceAccountName, p.Labels
		me.Workload = p.Labels["app"]
		if v := p.Labels["version"]; v != "" && me.Workload != "" {
			me.Workload += "-" + v
		}
		if me.Workload == "" {
			me.Workload = p.Name
		}
		me.IstioVersion = proxyImageVersion(p.Spec)
		if c := f.Cluster(a.Context); c != nil {
			for _, n := range c.Nodes {
				if n.Name == p.Spec.NodeName {
					locality = strings.Join([]string{n.Labels[corev1.LabelTopologyRegion], n.Labels[corev1.LabelTopologyZone], n.Labels["topology.istio.io/subzone"]}, "/")
				}
			}
		}
		return me, p.Namespace + "/" + p.Name, locality
	}
	return me, "", ""
}

// proxyImageVersion is the tag of the pod's istio-proxy image (a sidecar
// or a native sidecar), as the proxy reports ISTIO_VERSION.
func proxyImageVersion(spec corev1.PodSpec) string {
	for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		if c.Name != "istio-proxy" {
			continue
		}
		if i := strings.LastIndex(c.Image, ":"); i >= 0 && !strings.Contains(c.Image[i:], "/") {
			return strings.TrimSuffix(c.Image[i+1:], "-distroless")
		}
	}
	return ""
}

// NotAsked is the views asks would give, each not asked for why.
func NotAsked(f *model.Fleet, asks []SidecarAsk, why string) []model.SidecarView {
	opts := Options{}.withDefaults()
	opts.Client = func(string) (*kube.Client, error) { return nil, nil } // nothing is dialled
	var out []model.SidecarView
	for _, a := range asks {
		_, views := planSidecar(f, opts, a)
		for _, v := range views {
			if v.NotRun == "" {
				v.NotRun, v.Istiod = why, ""
			}
			out = append(out, v)
		}
	}
	return out
}

// DoctorServices bounds the services the doctor asks istiod about: each
// is one port-forward and one ADS stream per cluster, and a mesh may hold
// thousands of services (the bench lab: 5,000 per cluster).
const DoctorServices = 4

// DoctorAsks chooses what the doctor asks istiod: for every primary and
// remote cluster read, a sidecar in the service's own namespace, for at
// most DoctorServices services, those that cross clusters first: hosts of
// DestinationRules with locality failover (whose priorities the view
// shows), then Services with ready endpoints in more than one cluster
// (whose views must hold every cluster's), each by namespace and name.
func DoctorAsks(f *model.Fleet) []SidecarAsk {
	type key struct{ ns, name string }
	ready := map[key]map[string]bool{} // service → clusters with ready endpoints
	ports := map[key][]int32{}
	var sidecars []string
	for _, c := range f.Reachable() {
		if r := mesh.Identify(c).Role; r == mesh.RolePrimary || r == mesh.RoleRemote {
			sidecars = append(sidecars, c.Context)
		}
		gateways := gatewayPods(c)
		for _, s := range c.EndpointSlices {
			if s.Ready > 0 && s.Service != "" && !allGateways(s, gateways) {
				k := key{s.Namespace, s.Service}
				if ready[k] == nil {
					ready[k] = map[string]bool{}
				}
				ready[k][c.Context] = true
			}
		}
		for _, s := range c.Services {
			k := key{s.Namespace, s.Name}
			if len(ports[k]) > 0 || s.Type == "ExternalName" || s.Namespace == c.IstioNamespace {
				continue
			}
			for _, p := range s.Ports {
				ports[k] = append(ports[k], p.Port)
			}
		}
	}
	var failover, multi []key
	seen := map[key]bool{}
	for _, c := range f.Reachable() {
		for _, dr := range c.DestinationRules {
			if !hasFailover(dr) {
				continue
			}
			name, ns := dr.Host, dr.Namespace
			if parts := strings.Split(dr.Host, "."); len(parts) >= 2 {
				name, ns = parts[0], parts[1]
			}
			if k := (key{ns, name}); !seen[k] && len(ports[k]) > 0 && len(ready[k]) > 0 {
				seen[k] = true
				failover = append(failover, k)
			}
		}
	}
	for k, cs := range ready {
		if len(cs) > 1 && !seen[k] && len(ports[k]) > 0 {
			multi = append(multi, k)
		}
	}
	byName := func(s []key) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].ns != s[j].ns {
				return s[i].ns < s[j].ns
			}
			return s[i].name < s[j].name
		})
	}
	byName(failover)
	byName(multi)
	chosen := append(failover, multi...)
	if len(chosen) > DoctorServices {
		chosen = chosen[:DoctorServices]
	}
	// One stream per cluster and namespace (a sidecar lives in one).
	var out []SidecarAsk
	for _, c := range sidecars {
		at := map[string]int{} // namespace → index in out
		for _, k := range chosen {
			i, ok := at[k.ns]
			if !ok {
				i = len(out)
				at[k.ns] = i
				out = append(out, SidecarAsk{Context: c, Namespace: k.ns})
			}
			out[i].Services = append(out[i].Services, ServicePorts{Service: model.Meta{Namespace: k.ns, Name: k.name}, Ports: ports[k]})
		}
	}
	return out
}

// gatewayPods are the pods of c (namespace/name) that run Istio's proxy as
// a gateway: the injector's gateway template starts istio-proxy with
// "proxy router" (a sidecar's is "proxy sidecar"). Sidecars do not call a
// gateway through its Service, and istiod sends another network no
// endpoint of a gateway pod (it has no sidecar's mTLS: pilot/pkg/xds/
// endpoints/ep_filters.go isMtlsEnabled), so asking about one shows nothing.
func gatewayPods(c *model.Cluster) map[string]bool {
	out := map[string]bool{}
	for _, p := range c.Pods {
		for _, ct := range p.Containers {
			if i := slices.Index(ct.Args, "proxy"); i >= 0 && i+1 < len(ct.Args) && ct.Args[i+1] == "router" {
				out[p.Namespace+"/"+p.Name] = true
			}
		}
	}
	return out
}

// allGateways reports whether every pod behind s is a gateway pod.
func allGateways(s model.EndpointSlice, gateways map[string]bool) bool {
	if len(s.Pods) == 0 {
		return false
	}
	for _, pod := range s.Pods {
		if !gateways[s.Namespace+"/"+pod] {
			return false
		}
	}
	return true
}

func hasFailover(dr model.DestinationRule) bool {
	lp := func(tp *model.TrafficPolicy) bool {
		return tp != nil && tp.Locality != nil && (len(tp.Locality.Failover) > 0 || len(tp.Locality.FailoverPriority) > 0)
	}
	return lp(dr.TrafficPolicy)
}

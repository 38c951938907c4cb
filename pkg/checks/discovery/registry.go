package discovery

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	meshconfig "istio.io/api/mesh/v1alpha1"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The checks of this file judge what each istiod replica holds in its
// registry (model.IstiodView.Registry), read after its clusterz through the
// same port-forward. Their catalog entries need the istiod views as input,
// so they do not run without probes.

// IstiodPrimary is a primary of the fleet whose identity was read, with
// the views of its istiod that the probes read: what every check that
// judges istiod's own word (its registry, history, networkz) starts from.
type IstiodPrimary struct {
	Cluster  *model.Cluster
	Identity mesh.Identity
	Views    []model.IstiodView
}

// IstiodPrimaries are the fleet's primaries with istiod views, in the
// fleet's order.
func IstiodPrimaries(f *model.Fleet) []IstiodPrimary {
	if f.Probes == nil {
		return nil
	}
	var out []IstiodPrimary
	for _, c := range f.Clusters {
		if ok, _ := c.Readable(mesh.IdentityKinds...); !ok {
			continue
		}
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary {
			continue
		}
		if views := f.Probes.IstiodViews(c.Context); len(views) > 0 {
			out = append(out, IstiodPrimary{Cluster: c, Identity: id, Views: views})
		}
	}
	return out
}

// registryPrimary is an IstiodPrimary with the Deployment its views belong
// to.
type registryPrimary struct {
	IstiodPrimary
	obj *checks.ObjectRef
}

func registryPrimaries(f *model.Fleet) []registryPrimary {
	var out []registryPrimary
	for _, p := range IstiodPrimaries(f) {
		out = append(out, registryPrimary{IstiodPrimary: p, obj: istiodDeployment(p.Cluster)})
	}
	return out
}

// istiodDeployment is the Deployment of the primary's istiod pods (app=istiod
// in Istio's namespace): what a restart names.
func istiodDeployment(c *model.Cluster) *checks.ObjectRef {
	name := mesh.IstiodApp
	for _, d := range c.Deployments {
		if d.Namespace == c.IstioNamespace && d.PodLabels["app"] == mesh.IstiodApp {
			name = d.Name
			break
		}
	}
	return &checks.ObjectRef{Kind: "Deployment", Namespace: c.IstioNamespace, Name: name}
}

// replicaUnknown is the unknown of a replica whose document part (read
// through the same port-forward, after its clusterz) was not read, or nil
// when it was: read is that document's error ("" when read), nil when it
// was not asked for; about ends the finding's "what istiod of C…".
func replicaUnknown(p registryPrimary, v model.IstiodView, part string, read *string, about string) *checks.Details {
	var why string
	switch {
	case v.NotRun != "":
		why = v.NotRun
	case v.Error != "":
		why = fmt.Sprintf("its /debug/clusterz (%s) could not be read, so neither could %s: %s", v.Address, part, v.Error)
	case read == nil:
		why = part + " was not read"
	case *read != "":
		why = fmt.Sprintf("reading %s (%s) failed: %s", part, v.Address, *read)
	default:
		return nil
	}
	d := &checks.Details{Severity: checks.SeverityUnknown, Object: p.obj,
		Message: fmt.Sprintf("what istiod of %s%s is unknown: %s", p.Cluster.Context, about, why)}
	if ns, name, ok := strings.Cut(v.Pod, "/"); ok {
		d.Object = &checks.ObjectRef{Kind: "Pod", Namespace: ns, Name: name}
		d.Message = fmt.Sprintf("what istiod replica %s of %s%s is unknown: %s", name, p.Cluster.Context, about, why)
	}
	return d
}

// registryUnknown is the unknown finding of id for a replica whose registry
// was not read, or nil when it was.
func registryUnknown(id checks.ID, p registryPrimary, v model.IstiodView) *checks.Finding {
	var read *string
	if v.Registry != nil {
		read = &v.Registry.Error
	}
	d := replicaUnknown(p, v, "its registry", read, " holds in its registry")
	if d == nil {
		return nil
	}
	var fd checks.Finding
	if id == checks.MF4020 {
		fd = checks.NewMF4020(checks.MF4020Subjects{Primary: p.Cluster.Context}, *d)
	} else {
		fd = checks.NewMF4021(checks.MF4021Subjects{Primary: p.Cluster.Context}, *d)
	}
	return &fd
}

// staleRegistry (MF4020): a replica's registry holds services or endpoint
// shards of a cluster its clusterz, read just before, does not list. One
// finding per primary and cluster, naming the replicas that hold it.
func staleRegistry(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, p := range registryPrimaries(f) {
		type stale struct {
			replicas []string
			evidence []string
		}
		byID := map[string]*stale{}
		var ids []string
		for _, v := range p.Views {
			if u := registryUnknown(checks.MF4020, p, v); u != nil {
				out = append(out, *u)
				continue
			}
			listed := map[string]bool{}
			var clusterz []string
			for _, c := range v.Clusters {
				listed[c.ID] = true
				clusterz = append(clusterz, fmt.Sprintf("%s (%s)", c.ID, c.SyncStatus))
			}
			for _, rc := range v.Registry.Clusters {
				if listed[rc.ID] || (rc.Services == 0 && rc.Endpoints == 0) {
					continue
				}
				s := byID[rc.ID]
				if s == nil {
					s = &stale{}
					byID[rc.ID] = s
					ids = append(ids, rc.ID)
				}
				s.replicas = append(s.replicas, v.Replica())
				s.evidence = append(s.evidence, fmt.Sprintf("%s (%s): /debug/registryz lists %d services with an address in %q, /debug/endpointShardz holds %d services with %d ready endpoints in shard Kubernetes/%s (e.g. %s); its /debug/clusterz, read just before, lists %s",
					v.Replica(), v.Address, rc.Services, rc.ID, rc.Shards, rc.Endpoints, rc.ID, strings.Join(rc.Examples, ", "), strings.Join(clusterz, ", ")))
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			s := byID[id]
			restart := fmt.Sprintf("kubectl --context %s -n %s rollout restart deployment/%s", p.Cluster.Context, p.obj.Namespace, p.obj.Name)
			if pods := podNames(s.replicas); len(pods) > 0 && len(pods) < len(p.Views) {
				restart = fmt.Sprintf("kubectl --context %s -n %s delete pod %s", p.Cluster.Context, p.obj.Namespace, strings.Join(pods, " "))
			}
			out = append(out, checks.NewMF4020(checks.MF4020Subjects{Primary: p.Cluster.Context, Peer: peerWithID(f, p.Cluster.Context, id)}, checks.Details{
				Object: p.obj,
				Message: fmt.Sprintf("istiod of %s (%s) still holds the services and endpoints of cluster %q, which its /debug/clusterz no longer lists: proxies are sent that cluster's last endpoints, which no longer follow its pods; restart to clear it: %s",
					p.Cluster.Context, replicaList(s.replicas), id, restart),
				Evidence: s.evidence,
			}))
		}
	}
	return out
}

// podNames are the pod names of replicas read through a port-forward.
func podNames(replicas []string) []string {
	var out []string
	for _, r := range replicas {
		if _, name, ok := strings.Cut(r, "/"); ok {
			out = append(out, name)
		}
	}
	return out
}

func replicaList(replicas []string) string {
	if len(replicas) == 1 {
		if replicas[0] == "istiod" {
			return "read at its debug address"
		}
		return "replica " + replicas[0]
	}
	return "replicas " + strings.Join(replicas, ", ")
}

// peerEndpoints are the ready addresses of each service of a cluster's
// EndpointSlices ("namespace/name"), as istiod builds its shard from them:
// FQDN slices and slices of no Service are left out, as istiod leaves them
// (pilot/pkg/serviceregistry/kube/controller/endpointslice.go).
func peerEndpoints(c *model.Cluster) map[string][]string {
	out := map[string][]string{}
	for _, es := range c.EndpointSlices {
		if es.Service == "" || es.AddressType == "FQDN" {
			continue
		}
		key := es.Namespace + "/" + es.Service
		for _, a := range es.Addresses {
			if !slices.Contains(es.NotReady, a) {
				out[key] = append(out[key], a)
			}
		}
	}
	for k, v := range out {
		slices.Sort(v)
		out[k] = slices.Compact(v)
	}
	return out
}

// missingEndpoints (MF4021): for every replica of every primary, each peer
// its clusterz reports synced must have all its ready endpoints in the
// replica's shard for it.
func missingEndpoints(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	peers := map[*model.Cluster]map[string][]string{} // indexed once per run
	for _, p := range registryPrimaries(f) {
		selected := discoverySelected(p.Identity.Mesh)
		for _, q := range f.Clusters {
			qid := mesh.Identify(q)
			if q == p.Cluster || qid.ClusterID == "" || qid.ClusterID == p.Identity.ClusterID || qid.Role == mesh.RoleNone {
				continue
			}
			if ok, _ := q.Readable(model.KindEndpointSlices); !ok {
				continue // the runner reports it unknown
			}
			if peers[q] == nil {
				peers[q] = peerEndpoints(q)
			}
			want := peers[q]
			type gap struct{ missing, ready, shard []string }
			gaps := map[string]gap{} // service → what the first replica lacking it lacks
			var replicas []string
			var deselected []string
			for _, v := range p.Views {
				if v.Registry == nil || v.Registry.Error != "" || !v.Read() {
					continue // unknown, reported below once per replica
				}
				if st := replicaStatus(v, qid.ClusterID); st != "synced" {
					continue // MF4011 reports it
				}
				rc := v.Registry.RegistryOf(qid.ClusterID)
				lacks := false
				for svc, ready := range want {
					ns, _, _ := strings.Cut(svc, "/")
					if selected != nil && !selected(q, ns) {
						if !selected(p.Cluster, ns) {
							continue // not in the mesh in the primary's own cluster either: on purpose
						}
					}
					var shard []string
					if rc != nil {
						shard = rc.Ready[svc]
					}
					var missing []string
					for _, a := range ready {
						if _, found := slices.BinarySearch(shard, a); !found {
							missing = append(missing, a)
						}
					}
					if len(missing) == 0 {
						continue
					}
					lacks = true
					if _, seen := gaps[svc]; !seen {
						gaps[svc] = gap{missing, ready, shard}
						if selected != nil && !selected(q, ns) {
							deselected = append(deselected, ns)
						}
					}
				}
				if lacks {
					replicas = append(replicas, v.Replica())
				}
			}
			if len(gaps) == 0 {
				continue
			}
			svcs := make([]string, 0, len(gaps))
			total := 0
			for s, g := range gaps {
				svcs = append(svcs, s)
				total += len(g.missing)
			}
			sort.Strings(svcs)
			var ev []string
			for _, s := range svcs[:min(len(svcs), 5)] {
				g := gaps[s]
				ev = append(ev, fmt.Sprintf("%s: ready in %s's EndpointSlices: %s; in istiod's shard Kubernetes/%s: %s; missing: %s",
					s, q.Context, strings.Join(g.ready, ", "), qid.ClusterID, orNone(g.shard), strings.Join(g.missing, ", ")))
			}
			if len(svcs) > 5 {
				ev = append(ev, fmt.Sprintf("and %d more services", len(svcs)-5))
			}
			if deselectedOnly(svcs, deselected) {
				// Every gap is a namespace the primary's discoverySelectors
				// drop in q while they keep it at home: MF4032 says so, with
				// the selectors and the labels to fix.
				out = append(out, checks.ReportedUnder("MF4032", p.Cluster.Context, q.Context))
				continue
			}
			cause := "a frozen registry (MF4020), or endpoints whose pod istiod has not listed"
			if len(deselected) > 0 {
				slices.Sort(deselected)
				deselected = slices.Compact(deselected)
				cause = fmt.Sprintf("namespace %s of %s does not match the discoverySelectors of %s's mesh config, while the namespace of %s does: istiod ignores the namespace in %s", strings.Join(deselected, ", "), q.Context, p.Cluster.Context, p.Cluster.Context, q.Context)
				ev = append(ev, "discoverySelectors of "+p.Cluster.Context+": "+describeSelectors(p.Identity.Mesh.GetDiscoverySelectors()))
			}
			out = append(out, checks.NewMF4021(checks.MF4021Subjects{Primary: p.Cluster.Context, Peer: q.Context}, checks.Details{
				Object: p.obj,
				Message: fmt.Sprintf("istiod of %s (%s) reports cluster %q synced, yet its endpoint shards lack %s of %s that %s's EndpointSlices hold: no proxy is sent them; likely cause: %s",
					p.Cluster.Context, replicaList(replicas), qid.ClusterID, count(total, "ready endpoint"), count(len(svcs), "service"), q.Context, cause),
				Evidence: ev,
			}))
		}
		for _, v := range p.Views {
			if u := registryUnknown(checks.MF4021, p, v); u != nil {
				out = append(out, *u)
			}
		}
	}
	return out
}

// deselectedOnly reports whether every service (namespace/name) is in one
// of the namespaces deselected.
func deselectedOnly(services, deselected []string) bool {
	for _, svc := range services {
		ns, _, _ := strings.Cut(svc, "/")
		if !slices.Contains(deselected, ns) {
			return false
		}
	}
	return len(services) > 0
}

func replicaStatus(v model.IstiodView, id string) string {
	for _, c := range v.Clusters {
		if c.ID == id {
			return c.SyncStatus
		}
	}
	return model.StatusMissing
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// discoverySelected is how istiod filters namespaces by the mesh config's
// discoverySelectors (istio.io/istio pkg/kube/namespace/filter.go: a
// namespace is discovered in a cluster when any selector matches its labels
// there, every cluster's filter built from the primary's mesh config); nil
// when there are none, and every namespace is discovered.
func discoverySelected(mc *meshconfig.MeshConfig) func(c *model.Cluster, ns string) bool {
	if len(mc.GetDiscoverySelectors()) == 0 {
		return nil
	}
	var sels []labels.Selector
	for _, s := range kubeSelectors(mc.GetDiscoverySelectors()) {
		if sel, err := metav1.LabelSelectorAsSelector(s); err == nil {
			sels = append(sels, sel)
		}
	}
	return func(c *model.Cluster, ns string) bool {
		for _, n := range c.Namespaces {
			if n.Name != ns {
				continue
			}
			for _, sel := range sels {
				if sel.Matches(labels.Set(n.Labels)) {
					return true
				}
			}
		}
		return false
	}
}

// kubeSelectors are the mesh config's selectors as Kubernetes' own: istiod
// converts them field by field the same way (pkg/kube/namespace/filter.go,
// selectorsChanged, through its labelselector.LabelSelectorAsSelector).
func kubeSelectors(in []*meshconfig.LabelSelector) []*metav1.LabelSelector {
	out := make([]*metav1.LabelSelector, 0, len(in))
	for _, s := range in {
		ks := &metav1.LabelSelector{MatchLabels: s.GetMatchLabels()}
		for _, r := range s.GetMatchExpressions() {
			ks.MatchExpressions = append(ks.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: r.GetKey(), Operator: metav1.LabelSelectorOperator(r.GetOperator()), Values: r.GetValues()})
		}
		out = append(out, ks)
	}
	return out
}

func describeSelectors(in []*meshconfig.LabelSelector) string {
	var parts []string
	for _, s := range kubeSelectors(in) {
		parts = append(parts, metav1.FormatLabelSelector(s))
	}
	return strings.Join(parts, " or ")
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

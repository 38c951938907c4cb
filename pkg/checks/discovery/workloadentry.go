package discovery

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/istioapi"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// What istiod makes of a WorkloadEntry selected by a Kubernetes Service
// (istio.io/istio of this module):
//   - Only Services of the entry's own cluster select it
//     (pilot/pkg/serviceregistry/kube/controller/multicluster.go
//     initializeCluster: the config cluster's entries reach its own kube
//     registry through the ServiceEntry controller, a remote cluster's
//     through the WorkloadEntry store istiod keeps of that cluster while
//     PILOT_ENABLE_K8S_SELECT_WORKLOAD_ENTRIES and
//     PILOT_ENABLE_CROSS_CLUSTER_WORKLOAD_ENTRY are on, their defaults), and
//     only Services with a selector that are neither headless nor
//     ExternalName (controller.go serviceInstancesFromWorkloadInstances:
//     ClientSideLB, LabelSelectors set), in the entry's namespace, matching
//     spec.labels.
//   - The endpoint's TLS mode is the security.istio.io/tlsMode label's
//     value, else istio when spec.serviceAccount is set, else disabled
//     (serviceentry/conversion.go getTLSModeFromWorkloadEntry); its network
//     is spec.network as written (convertWorkloadEntryToWorkloadInstance:
//     IstioEndpoint.Network, not the cluster's network).
//   - A proxy is sent an endpoint of another network with gateways only
//     through those gateways, and only when its TLS mode is istio; an
//     endpoint with no network is in every proxy's network
//     (pilot/pkg/xds/endpoints/ep_filters.go EndpointsByNetworkFilter,
//     pilot/pkg/model/context.go InNetwork: the same or empty), so it is
//     sent as it is, to every network.

// entryUse is one WorkloadEntry of a cluster with the Services of that
// cluster that select it.
type entryUse struct {
	c        *model.Cluster
	network  string // the entry's cluster's network
	entry    model.WorkloadEntry
	services []model.Service
}

// tlsMode is the TLS mode istiod gives the entry's endpoint and why.
func tlsMode(w model.WorkloadEntry) (mode, why string) {
	if v, ok := w.WorkloadLabels[tlsModeLabel]; ok {
		return v, fmt.Sprintf("its label %s=%s", tlsModeLabel, v)
	}
	if w.ServiceAccount != "" {
		return "istio", "its serviceAccount " + w.ServiceAccount
	}
	return "disabled", "no " + tlsModeLabel + " label and no serviceAccount"
}

const tlsModeLabel = "security.istio.io/tlsMode"

// selectedEntries lists every WorkloadEntry of the members that a Service of
// its own cluster selects, in cluster order, then namespace and name.
func selectedEntries(ms []networkMember) []entryUse {
	var out []entryUse
	for _, m := range ms {
		entries := append([]model.WorkloadEntry(nil), m.c.WorkloadEntries...)
		sort.Slice(entries, func(i, j int) bool {
			if entries[i].Namespace != entries[j].Namespace {
				return entries[i].Namespace < entries[j].Namespace
			}
			return entries[i].Name < entries[j].Name
		})
		for _, w := range entries {
			u := entryUse{c: m.c, network: m.network, entry: w}
			for _, s := range m.c.Services {
				if s.Namespace == w.Namespace && s.Type != "ExternalName" && !s.Headless && mesh.LabelsMatch(s.Selector, w.WorkloadLabels) {
					u.services = append(u.services, s)
				}
			}
			if len(u.services) > 0 {
				out = append(out, u)
			}
		}
	}
	return out
}

// entryCallers returns the members on a network other than network (and
// named) that define one of the Services: the sidecars that call the entry
// through them. skipped are the primaries whose istiod does not read the
// entry's cluster's WorkloadEntries at all, with why.
func entryCallers(ms []networkMember, u entryUse, network string) (callers, where, skipped []string) {
	for _, o := range ms {
		if o.network == "" || o.network == network || !definesAny(o.c, u.services) {
			continue
		}
		if o.c != u.c && mesh.Identify(o.c).Role == mesh.RolePrimary {
			if off := wleFlagsOff(o.c); off != "" {
				skipped = append(skipped, fmt.Sprintf("istiod of %s does not read other clusters' WorkloadEntries (%s): its sidecars are sent nothing of this entry", o.c.Context, off))
				continue
			}
		}
		callers = append(callers, o.c.Context)
		where = append(where, fmt.Sprintf("%s (network %q)", o.c.Context, o.network))
	}
	return callers, where, skipped
}

// wleFlagsOff names the istiod flags of c that keep it from reading its
// remote clusters' WorkloadEntries, or "" when they are on.
func wleFlagsOff(c *model.Cluster) string {
	var off []string
	for _, k := range istioapi.RemoteKinds {
		if k.Kind != "WorkloadEntry" {
			continue
		}
		for _, fl := range k.Flags {
			if !(istioapi.RemoteKind{Flags: []istioapi.Flag{fl}}).On(func(n string) (string, bool) { return mesh.IstiodEnv(c, n) }) {
				v, _ := mesh.IstiodEnv(c, fl.Env)
				off = append(off, fl.Env+"="+v)
			}
		}
	}
	return strings.Join(off, ", ")
}

func definesAny(c *model.Cluster, svcs []model.Service) bool {
	for _, s := range c.Services {
		for _, t := range svcs {
			if s.Namespace == t.Namespace && s.Name == t.Name {
				return true
			}
		}
	}
	return false
}

func describeEntry(u entryUse) string {
	w := u.entry
	sa, loc, nw := w.ServiceAccount, w.Locality, w.Network
	if sa == "" {
		sa = "none"
	}
	if loc == "" {
		loc = "none"
	}
	if nw == "" {
		nw = "none"
	}
	return fmt.Sprintf("WorkloadEntry %s/%s in %s: address %s, network %s, serviceAccount %s, locality %s, labels %s",
		w.Namespace, w.Name, u.c.Context, orUnknown(w.Address), nw, sa, loc, describeLabels(w.WorkloadLabels))
}

func describeSelecting(u entryUse) string {
	var s []string
	for _, svc := range u.services {
		s = append(s, fmt.Sprintf("Service %s/%s (selector %s)", svc.Namespace, svc.Name, describeLabels(svc.Selector)))
	}
	verb := " selects it"
	if len(s) > 1 {
		verb = " select it"
	}
	return strings.Join(s, ", ") + " in " + u.c.Context + verb
}

func serviceNames(u entryUse) string {
	var s []string
	for _, svc := range u.services {
		s = append(s, svc.Namespace+"/"+svc.Name)
	}
	return strings.Join(s, ", ")
}

// entryWithoutMTLS (MF4050): a WorkloadEntry on a network with east-west
// gateways, selected by a Service, whose TLS mode is not istio: istiod
// never sends it through the gateway, so callers on other networks get
// nothing of it.
func entryWithoutMTLS(f *model.Fleet) []checks.Finding {
	ms, gateways := networkMembers(f)
	var out []checks.Finding
	for _, u := range selectedEntries(ms) {
		w := u.entry
		mode, why := tlsMode(w)
		if w.Network == "" || mode == "istio" || len(gateways[w.Network]) == 0 {
			continue // no network (MF4051), mTLS, or no gateway: sent as it is (MF3001's concern)
		}
		callers, where, skipped := entryCallers(ms, u, w.Network)
		if len(callers) == 0 {
			continue
		}
		ev := []string{
			describeEntry(u),
			describeSelecting(u),
			fmt.Sprintf("istiod gives it TLS mode %s (%s); network %q is reached through its gateway %s, which istiod uses only for endpoints in TLS mode istio", mode, why, w.Network, strings.Join(gateways[w.Network], ", ")),
			"the Service is also defined in " + strings.Join(where, ", "),
		}
		out = append(out, checks.NewMF4050(checks.MF4050Subjects{Cluster: u.c.Context, Members: callers}, checks.Details{
			Object: &checks.ObjectRef{Kind: "WorkloadEntry", Namespace: w.Namespace, Name: w.Name},
			Message: fmt.Sprintf("WorkloadEntry %s/%s in %s (network %q), selected by Service %s, has TLS mode %s: istiod never sends it through network %q's east-west gateway, so sidecars in %s are sent nothing of it",
				w.Namespace, w.Name, u.c.Context, w.Network, serviceNames(u), mode, w.Network, strings.Join(callers, ", ")),
			Evidence: append(ev, skipped...),
		}))
	}
	return out
}

// entryWithoutNetwork (MF4051): a WorkloadEntry with no network, selected by
// a Service, in a mesh with east-west gateways: istiod sends its address as
// it is to every network's sidecars, where it may not route.
func entryWithoutNetwork(f *model.Fleet) []checks.Finding {
	ms, gateways := networkMembers(f)
	if len(gateways) == 0 {
		return nil // one network, or none with a gateway: every endpoint is sent as it is
	}
	nets := make([]string, 0, len(gateways))
	for n := range gateways {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	var out []checks.Finding
	for _, u := range selectedEntries(ms) {
		w := u.entry
		if w.Network != "" || u.network == "" {
			continue
		}
		callers, where, skipped := entryCallers(ms, u, u.network)
		if len(callers) == 0 {
			continue
		}
		mode, why := tlsMode(w)
		ev := []string{
			describeEntry(u),
			describeSelecting(u),
			fmt.Sprintf("the mesh has east-west gateways for networks %s, and %s is on network %q; istiod gives the entry TLS mode %s (%s)", quoteAll(nets), u.c.Context, u.network, mode, why),
			"the Service is also defined in " + strings.Join(where, ", "),
		}
		out = append(out, checks.NewMF4051(checks.MF4051Subjects{Cluster: u.c.Context, Members: callers}, checks.Details{
			Object: &checks.ObjectRef{Kind: "WorkloadEntry", Namespace: w.Namespace, Name: w.Name},
			Message: fmt.Sprintf("WorkloadEntry %s/%s in %s, selected by Service %s, names no network in a mesh of several networks: istiod sends its address %s as it is to sidecars of every network, so sidecars in %s are sent an address that may not route from there, and no east-west gateway is used",
				w.Namespace, w.Name, u.c.Context, serviceNames(u), orUnknown(w.Address), strings.Join(where, ", ")),
			Evidence: append(ev, skipped...),
		}))
	}
	return out
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

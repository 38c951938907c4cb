package discovery

import (
	"fmt"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/istioapi"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// skew is one kind a primary's istiod lists from a peer at a version the
// peer's CRD does not serve.
type skew struct {
	kind   istioapi.RemoteKind
	served model.ServedResource
}

// crdSkews returns the kinds istiod of p lists from peer (read, in the
// fleet) that peer's CRDs do not serve at the listed version: istioapi's
// table, as Istio's release of the table lists them, each only while its
// feature flags are on in p's istiod.
func crdSkews(p primary, peer *model.Cluster) []skew {
	if ok, _ := peer.Readable(model.KindIstioAPIs); !ok {
		return nil // the runner reports the peer unknown
	}
	var out []skew
	for _, k := range istioapi.RemoteKinds {
		if !k.On(func(name string) (string, bool) { return mesh.IstiodEnv(p.c, name) }) {
			continue
		}
		served, exists := peer.ServedResource(k.Group, k.Resource)
		if exists && !served.Serves(k.Version) {
			out = append(out, skew{kind: k, served: served})
		}
	}
	return out
}

// peerOf returns the read cluster a remote secret entry of p points at by
// its key (the cluster ID istiod registers it under), or nil.
func peerOf(f *model.Fleet, p primary, e mesh.RemoteEntry) *model.Cluster {
	if e.Key == p.id.ClusterID {
		return nil
	}
	if r := clusterWithID(f, e.Key); r != nil && r != p.c {
		return r
	}
	return nil
}

// crdVersionSkew (MF4035): every kind a primary's istiod lists from its
// remote clusters must be served, at the version it lists, by each peer it
// has a remote secret for; a peer whose CRD exists without that version
// answers every LIST with 404, and istiod never syncs it.
func crdVersionSkew(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, p := range primaries(f) {
		same, known := istioapi.SameRelease(p.id.Version)
		for s, e := range p.readEntries() {
			peer := peerOf(f, p, e)
			if peer == nil {
				continue
			}
			for _, sk := range crdSkews(p, peer) {
				k := sk.kind
				gv := k.Group + "/" + k.Version
				ev := []string{
					fmt.Sprintf("%s serves CRD %s at %s only (its API discovery)", peer.Context, sk.served.CRD(), strings.Join(sk.served.Versions, ", ")),
					fmt.Sprintf("Istio %s's istiod lists %s %s from every remote cluster (createWleConfigStore, pilot/pkg/serviceregistry/kube/controller/multicluster.go), while %s", istioapi.Release, gv, k.Kind, flagWords(k)),
					fmt.Sprintf("istiod of %s: image tag %s; remote secret %s, key %q", p.c.Context, orUnknown(p.id.Version), s.Ref(), e.Key),
				}
				views := f.Probes.IstiodViews(p.c.Context)
				if sts := model.ClusterStatuses(views, e.Key); len(sts) > 0 {
					ev = append(ev, fmt.Sprintf("istiod of %s %s (/debug/clusterz)", p.c.Context, describeStatuses(e.Key, sts)))
				}
				logs := logsOf(views)
				if fr := logs.notServed(k.Kind, k.Resource); fr != "" {
					ev = append(ev, fmt.Sprintf("istiod of %s logs %q", p.c.Context, fr))
				}
				// istiod waits for this controller before it serves at all
				// (istiodLogs.startUnfinished): said as a fact when its log
				// shows the start unfinished, as a consequence otherwise.
				serving := fmt.Sprintf("an istiod of %s that starts while this lasts never finishes its start: it stays unready and opens neither xDS (15012) nor its injection webhook (15017)", p.c.Context)
				if fr := logs.startUnfinished(); fr != "" {
					ev = append(ev, fmt.Sprintf("istiod of %s logs %q and not that its caches synced: it has not finished its start", p.c.Context, fr))
					serving = fmt.Sprintf("istiod of %s waits for it and has not finished its start: it is unready and opens neither xDS (15012) nor its injection webhook (15017)", p.c.Context)
				}
				fd := checks.NewMF4035(checks.MF4035Subjects{Primary: p.c.Context, Peer: peer.Context}, checks.Details{
					Object: &checks.ObjectRef{Kind: "CustomResourceDefinition", Name: sk.served.CRD()},
					Message: fmt.Sprintf("istiod of %s lists %s at %s from cluster %q, and %s's CRD %s serves only %s: every LIST is answered 404, so that list never syncs (clusterz: syncing, then timeout) and %s's %s objects never reach %s; %s, so no proxy gets configuration from it, and pods it should inject are refused where its webhook fails closed",
						p.c.Context, k.Kind, gv, e.Key, peer.Context, sk.served.CRD(), strings.Join(sk.served.Versions, ", "), peer.Context, k.Kind, p.c.Context, serving),
					Evidence: ev,
				})
				if known && !same {
					fd.Severity = checks.SeverityUnknown
					fd.Message = fmt.Sprintf("%s's CRD %s serves only %s; Istio %s's istiod lists %s at %s from its remote clusters, but istiod of %s runs %s, whose listed version the doctor does not know (its table is read from Istio %s's source): if it lists %s, it never syncs %s",
						peer.Context, sk.served.CRD(), strings.Join(sk.served.Versions, ", "), istioapi.Release, k.Kind, gv, p.c.Context, p.id.Version, istioapi.Release, gv, peer.Context)
				}
				out = append(out, fd)
			}
		}
	}
	return out
}

// flagWords says which istiod flags turn a kind's listing on, and that
// they are on here.
func flagWords(k istioapi.RemoteKind) string {
	var parts []string
	for _, f := range k.Flags {
		parts = append(parts, fmt.Sprintf("%s is on (default %t)", f.Env, f.Default))
	}
	if len(parts) == 0 {
		return "always"
	}
	return strings.Join(parts, " and ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

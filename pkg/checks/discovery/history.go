package discovery

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The checks of this file judge what each istiod replica's Prometheus
// metrics say of its history since it started (model.IstiodView.Metrics,
// read from /metrics beside its registry): what one look at clusterz cannot
// show.

// metricsUnknown is the unknown finding for a replica whose metrics were
// not read, or nil when they were.
func metricsUnknown(p registryPrimary, v model.IstiodView, mk func(checks.Details) checks.Finding) *checks.Finding {
	var read *string
	if v.Metrics != nil {
		read = &v.Metrics.Error
	}
	d := replicaUnknown(p, v, "its /metrics", read, "'s metrics say of its history")
	if d == nil {
		return nil
	}
	fd := mk(*d)
	return &fd
}

// secretCreated is when the Secret ref ("namespace/name") of cluster c was
// created, or nil when it was not read or its creation is unknown.
func secretCreated(c *model.Cluster, ref string) *time.Time {
	ns, name, _ := strings.Cut(ref, "/")
	for i := range c.Secrets {
		if s := &c.Secrets[i]; s.Namespace == ns && s.Name == name {
			return s.Created
		}
	}
	return nil
}

// since says when the replica started, for a message.
func since(m *model.IstiodMetrics) string {
	if m.Started == nil {
		return "since it started"
	}
	return "since it started at " + m.Started.UTC().Format("2006-01-02 15:04:05Z")
}

// pastSyncTimeouts (MF4045): a peer that a replica's clusterz shows synced
// now but that its remote_cluster_sync_timeouts_total counts timeouts for.
// A peer not synced now is MF4011's.
func pastSyncTimeouts(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, p := range registryPrimaries(f) {
		mk := func(d checks.Details) checks.Finding {
			return checks.NewMF4045(checks.MF4045Subjects{Primary: p.Cluster.Context}, d)
		}
		for _, v := range p.Views {
			if u := metricsUnknown(p, v, mk); u != nil {
				out = append(out, *u)
				continue
			}
			m := v.Metrics
			ids := make([]string, 0, len(m.SyncTimeouts))
			for id := range m.SyncTimeouts {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				n := m.SyncTimeouts[id]
				if n <= 0 {
					continue
				}
				var now *model.IstiodCluster
				for i := range v.Clusters {
					if v.Clusters[i].ID == id {
						now = &v.Clusters[i]
					}
				}
				if now == nil || now.SyncStatus != "synced" {
					continue // not synced now (MF4011), or no longer read
				}
				ev := []string{
					fmt.Sprintf("%s (%s): /metrics remote_cluster_sync_timeouts_total{cluster=%q} = %s %s", v.Replica(), v.Address, id, metricCount(n), since(m)),
					fmt.Sprintf("%s: /debug/clusterz now: %s synced (secret %s)", v.Replica(), id, now.SecretName),
				}
				if len(m.SecretEvents) > 0 {
					ev = append(ev, fmt.Sprintf("%s: remote secret events %s: %s", v.Replica(), since(m), events(m.SecretEvents)))
				}
				msg := fmt.Sprintf("istiod of %s (%s) timed out syncing cluster %q %s %s; its /debug/clusterz shows it synced now: while it was not, istiod served its proxies without that cluster's services and endpoints",
					p.Cluster.Context, v.Replica(), id, times(n), since(m))
				// The counter says how often, not when. istiod starts a
				// cluster's sync, and its one PILOT_REMOTE_CLUSTER_TIMEOUT
				// timer, once per add or update of its secret
				// (istio.io/istio pkg/kube/multicluster/cluster.go Run:
				// time.AfterFunc(features.RemoteClusterTimeout, …)
				// increments remote_cluster_sync_timeouts_total when the
				// initial sync has not finished). So with no secret
				// updated or deleted since istiod started, a peer timed
				// out at most once, on its first sync; when its secret
				// existed before istiod started, that sync was istiod's
				// start-up (a loaded API server or machine, now over).
				// With secrets changed, the likelier story is a secret
				// fixed since. Either is for the record; a first sync of
				// a peer added while istiod served that timed out, or one
				// whose secret's age is unknown, is the path or the peer.
				sev := checks.SeverityWarning
				changed := m.SecretEvents["update"]+m.SecretEvents["delete"] > 0
				created := secretCreated(p.Cluster, now.SecretName)
				switch {
				case changed:
					sev = checks.SeverityInfo
					msg += "; its remote secrets changed since it started, so the cause may be a secret fixed since (one that pointed at a dead address or carried a rejected token), and there is nothing to do"
				case n == 1 && created != nil && m.Started != nil && !created.After(*m.Started):
					sev = checks.SeverityInfo
					ev = append(ev, fmt.Sprintf("%s: secret %s created %s, before istiod started", p.Cluster.Context, now.SecretName, created.UTC().Format("2006-01-02 15:04:05Z")))
					msg += "; no remote secret changed since it started and this secret existed before, so the one sync that timed out was the one of istiod's start-up (a slow API server or a loaded machine then), and there is nothing to do unless it happens at every start"
				default:
					msg += "; no remote secret changed since it started, so the cause was the path to the peer's API server or the peer itself, and it may come back"
				}
				out = append(out, checks.NewMF4045(checks.MF4045Subjects{Primary: p.Cluster.Context, Peer: peerWithID(f, p.Cluster.Context, id)}, checks.Details{
					Severity: sev,
					Object:   secretObject(now.SecretName),
					Message:  msg,
					Evidence: ev,
				}))
			}
		}
	}
	return out
}

// rejectedXDS (MF4046): a replica's proxies rejected responses since it
// started (pilot_total_xds_rejects), with the proxies its per-type gauges
// name.
func rejectedXDS(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, p := range registryPrimaries(f) {
		mk := func(d checks.Details) checks.Finding {
			return checks.NewMF4046(checks.MF4046Subjects{Primary: p.Cluster.Context}, d)
		}
		for _, v := range p.Views {
			if u := metricsUnknown(p, v, mk); u != nil {
				out = append(out, *u)
				continue
			}
			m := v.Metrics
			var total float64
			for _, n := range m.XDSRejects {
				total += n
			}
			if total <= 0 && len(m.Rejecting) == 0 {
				continue
			}
			ev := []string{fmt.Sprintf("%s (%s): /metrics pilot_total_xds_rejects %s: %s", v.Replica(), v.Address, since(m), events(m.XDSRejects))}
			var proxies []string
			for _, r := range m.Rejecting {
				proxies = append(proxies, proxyName(r.Node))
				ev = append(ev, fmt.Sprintf("pilot_xds_%s_reject{node=%q, err=%q}", r.Type, r.Node, r.Code))
			}
			if m.RejectingMore > 0 {
				ev = append(ev, fmt.Sprintf("and %d more proxies", m.RejectingMore))
			}
			who := "its proxies"
			if len(proxies) > 0 {
				who = strings.Join(dedupe(proxies), ", ")
				if m.RejectingMore > 0 {
					who += fmt.Sprintf(" and %d more", m.RejectingMore)
				}
			}
			out = append(out, checks.NewMF4046(checks.MF4046Subjects{Primary: p.Cluster.Context}, checks.Details{
				Object: p.obj,
				Message: fmt.Sprintf("proxies rejected %s of the responses istiod of %s (%s) sent %s (%s): %s keep their last accepted configuration of that type, and miss every change after it; istiod's log says why (\"ACK ERROR\")",
					metricCount(total), p.Cluster.Context, v.Replica(), since(m), events(m.XDSRejects), who),
				Evidence: ev,
			}))
		}
	}
	return out
}

// proxyName is the pod a proxy ID names (type~ip~pod.namespace~domain), or
// the ID.
func proxyName(node string) string {
	if parts := strings.Split(node, "~"); len(parts) == 4 && parts[2] != "" {
		return parts[2]
	}
	return node
}

func dedupe(xs []string) []string {
	sort.Strings(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func events(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%s %s", orEmpty(k), metricCount(m[k])))
	}
	return strings.Join(s, ", ")
}

func orEmpty(k string) string {
	if k == "" {
		return "(no label)"
	}
	return k
}

func metricCount(v float64) string { return fmt.Sprintf("%g", v) }

func times(v float64) string {
	if v == 1 {
		return "once"
	}
	return metricCount(v) + " times"
}

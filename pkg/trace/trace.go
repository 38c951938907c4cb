// Package trace walks one call, from a workload of one cluster to a service
// of the mesh, hop by hop: the name resolves, the source's istiod knows the
// service's endpoints, the sidecar is sent them, the gateways of the other
// networks answer with a certificate of the mesh, the clusters trust each
// other, the destination's policies let the caller in, and locality
// failover can happen. It reads only what the doctor read (the fleet, its
// probes and findings, the trust matrix) plus the source sidecar's own view
// and the destination's security policies, and decides nothing the doctor
// decides otherwise: each hop carries the doctor's findings about it, and a
// hop whose facts were not observed is unknown, never OK.
package trace

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Status is a hop's outcome.
type Status string

const (
	OK      Status = "ok"
	Warn    Status = "warning" // works, with a caveat worth reading
	Fail    Status = "fail"
	Unknown Status = "unknown" // not observed: probes off, istiod unreachable, not read
)

// rank orders statuses from best to worst for a hop made of several parts.
func rank(s Status) int {
	return map[Status]int{OK: 0, Warn: 1, Unknown: 2, Fail: 3}[s]
}

func worse(a, b Status) Status {
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Hop names, in the order a call takes them.
const (
	HopResolve   = "resolve"
	HopDiscovery = "discovery"
	HopProxy     = "proxy"
	HopGateway   = "gateway"
	HopTrust     = "trust"
	HopPolicy    = "policy"
	HopLocality  = "locality"
)

// Hop is one step of the call.
type Hop struct {
	Step   int    `json:"step"`
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Summary is the hop's one line; Evidence the facts behind it.
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence,omitempty"`
	// Findings are the doctor's findings about this hop's clusters.
	Findings []FindingRef `json:"findings,omitempty"`
	// Checks are the catalog checks that judge this hop's failure (the
	// doctor's findings' and the hop's own), for `explain`.
	Checks []checks.ID `json:"checks,omitempty"`
	// Remediation says what to change when the hop is not OK.
	Remediation string `json:"remediation,omitempty"`
}

// FindingRef is a doctor finding as a hop cites it.
type FindingRef struct {
	Check    checks.ID       `json:"check"`
	Severity checks.Severity `json:"severity"`
	Contexts []string        `json:"contexts"`
	Message  string          `json:"message"`
}

// Trace is the walk's result: the document `trace -o json|yaml` writes.
type Trace struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Service is namespace/name, Host its name in the mesh, Port the
	// Service port traced.
	Service string `json:"service"`
	Host    string `json:"host"`
	Port    int32  `json:"port"`
	// From is the source cluster (context), FromNamespace the caller's
	// namespace, Identity its SPIFFE principal as policies see it.
	From          string `json:"from"`
	FromNamespace string `json:"fromNamespace"`
	Identity      string `json:"identity"`
	// To are the destination clusters: those with ready endpoints of the
	// service (or the --to ones).
	To []string `json:"to"`
	// ProbedFrom says where the live probes ran ("" with --no-probes).
	ProbedFrom string `json:"probedFrom,omitempty"`
	// Offline says which bundles the walk read and how old each is, and
	// that the live-only results are as observed when each was written
	// (trace --bundle; absent for a live trace).
	Offline *checks.Offline `json:"offline,omitempty"`
	// Verdict is the first failing hop's status (Fail), else Unknown when
	// a hop could not be observed, else Warn or OK. FirstBroken names the
	// first hop that fails, or else the first that could not be told.
	Verdict     Status `json:"verdict"`
	FirstBroken string `json:"firstBroken,omitempty"`
	Hops        []Hop  `json:"hops"`
}

// Input is what the walk reads.
type Input struct {
	Fleet *model.Fleet
	// Findings are the doctor's, from the same read.
	Findings []checks.Finding
	// Trust is the trust matrix (nil: fewer than two primaries read).
	Trust *model.TrustMatrix
	// Catalog gives the remediation of the checks a hop cites.
	Catalog *checks.Catalog

	Namespace, Service string
	Port               int32
	// From is the source cluster; FromNamespace the caller's namespace;
	// ServiceAccount the caller's ("" : that of the pod the view presented,
	// else of a pod of the namespace, else "default").
	From, FromNamespace, ServiceAccount string
	// To restricts the destinations (empty: every cluster with ready
	// endpoints of the service).
	To []string
	// View is what the source's istiod sends a sidecar of FromNamespace
	// in From for the service's port (nil: not asked). With the probes
	// off, Fleet.Probes is nil and View says why it was not asked.
	View *model.SidecarView
	// Policies are the destination clusters' security policies by context
	// (absent: not read).
	Policies map[string]model.SecurityPolicies
	// Offline is set when the walk is over bundles (trace --bundle): the
	// trace then carries it, as doctor's report does.
	Offline *checks.Offline
}

// walk holds what every hop needs.
type walk struct {
	in      Input
	f       *model.Fleet
	src     *model.Cluster
	srcID   mesh.Identity
	primary *model.Cluster // the source's istiod's cluster (nil: not found)
	dests   []*model.Cluster
	unread  []string // clusters chosen but not read
	host    string
	peer    Peer
}

// Walk traces the call. It never fails: what it cannot observe is Unknown.
func Walk(in Input) Trace {
	w := &walk{in: in, f: in.Fleet, host: in.Service + "." + in.Namespace + ".svc.cluster.local"}
	t := Trace{APIVersion: "meshfed.dev/v1alpha1", Kind: "Trace", Service: in.Namespace + "/" + in.Service, Host: w.host,
		Port: in.Port, From: in.From, FromNamespace: in.FromNamespace, To: []string{}, Offline: in.Offline}
	if in.Fleet.Probes != nil {
		t.ProbedFrom = in.Fleet.Probes.From
	}
	w.src = in.Fleet.Cluster(in.From)
	if w.src == nil || !w.src.Reachable {
		why := "it was not read"
		if w.src != nil {
			why = w.src.Error
		}
		t.Hops = []Hop{{Step: 1, Name: HopResolve, Status: Unknown, Summary: fmt.Sprintf("the source cluster %s could not be read: %s", in.From, why)}}
		t.Verdict, t.FirstBroken = Unknown, HopResolve
		return t
	}
	w.srcID = mesh.Identify(w.src)
	w.primary = primaryOf(in.Fleet, w.src)
	w.peer = w.caller()
	t.Identity = w.peer.Principal()
	w.dests, w.unread = w.destinations()
	for _, d := range w.dests {
		t.To = append(t.To, d.Context)
	}
	t.Hops = []Hop{w.resolve(), w.discovery(), w.proxy(), w.gateway(), w.trust(), w.policy(), w.locality()}
	for i := range t.Hops {
		t.Hops[i].Step = i + 1
		w.cite(&t.Hops[i])
	}
	t.Verdict, t.FirstBroken = verdict(t.Hops)
	return t
}

// verdict: the first failing hop decides; else the first unknown one.
func verdict(hops []Hop) (Status, string) {
	for _, h := range hops {
		if h.Status == Fail {
			return Fail, h.Name
		}
	}
	worst := OK
	first := ""
	for _, h := range hops {
		if h.Status == Unknown && first == "" {
			first = h.Name
		}
		worst = worse(worst, h.Status)
	}
	return worst, first
}

// primaryOf is the cluster whose istiod serves c: c itself when it runs
// istiod, else the primary holding a remote secret for c's cluster ID.
func primaryOf(f *model.Fleet, c *model.Cluster) *model.Cluster {
	id := mesh.Identify(c)
	if id.Role == mesh.RolePrimary {
		return c
	}
	if id.ClusterID == "" {
		return nil
	}
	for _, p := range f.Reachable() {
		if mesh.Identify(p).Role == mesh.RolePrimary {
			if _, ok := mesh.RemoteSecretKeys(p)[id.ClusterID]; ok {
				return p
			}
		}
	}
	return nil
}

// caller is the source's identity: its istiod's trust domain, and the
// service account of the pod whose sidecar was asked for the view.
func (w *walk) caller() Peer {
	td := "cluster.local"
	if w.primary != nil {
		if d := mesh.Identify(w.primary).TrustDomain; d != "" {
			td = d
		}
	}
	sa := w.in.ServiceAccount
	if sa == "" && w.in.View != nil && w.in.View.Proxy != "" {
		ns, name, _ := strings.Cut(w.in.View.Proxy, "/")
		for _, p := range w.src.Pods {
			if p.Namespace == ns && p.Name == name {
				sa = p.ServiceAcct
			}
		}
	}
	if sa == "" {
		for _, p := range w.src.Pods {
			if p.Namespace == w.in.FromNamespace && p.ServiceAcct != "" {
				sa = p.ServiceAcct
				break
			}
		}
	}
	if sa == "" {
		sa = "default"
	}
	return Peer{TrustDomain: td, Namespace: w.in.FromNamespace, ServiceAccount: sa}
}

// destinations are the read clusters with ready endpoints of the service
// (pods, not gateways), or the --to ones; unread names chosen clusters that
// could not be read.
func (w *walk) destinations() (dests []*model.Cluster, unread []string) {
	for _, c := range w.f.Clusters {
		if len(w.in.To) > 0 && !slices.Contains(w.in.To, c.Context) {
			continue
		}
		if !c.Reachable {
			unread = append(unread, c.Context)
			continue
		}
		if len(w.in.To) > 0 || readyEndpoints(c, w.in.Namespace, w.in.Service) > 0 {
			dests = append(dests, c)
		}
	}
	return dests, unread
}

// readyEndpoints counts the service's ready addresses in c.
func readyEndpoints(c *model.Cluster, ns, name string) int {
	n := 0
	for _, s := range c.EndpointSlices {
		if s.Namespace == ns && s.Service == name {
			n += s.Ready
		}
	}
	return n
}

func (w *walk) networkOf(c *model.Cluster) string { return mesh.Identify(c).Network }

func (w *walk) remote(d *model.Cluster) bool { return w.networkOf(d) != w.networkOf(w.src) }

func contexts(cs []*model.Cluster) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Context
	}
	return out
}

// Hop 1: the name resolves in the source cluster.
func (w *walk) resolve() Hop {
	h := Hop{Name: HopResolve}
	if ok, why := w.src.Readable(model.KindServices); !ok {
		h.Status, h.Summary = Unknown, "the source's Services could not be read: "+why
		return h
	}
	for _, s := range w.src.Services {
		if s.Namespace == w.in.Namespace && s.Name == w.in.Service {
			h.Status = OK
			h.Summary = fmt.Sprintf("Service %s/%s in %s gives %s an address (%s)", s.Namespace, s.Name, w.src.Context, w.host, orNone(s.ClusterIP))
			return h
		}
	}
	if w.srcID.Mesh != nil && mesh.DNSCaptureByDefault(w.srcID.Mesh) {
		h.Status = OK
		h.Summary = fmt.Sprintf("no Service %s/%s in %s, but its sidecars proxy DNS (meshConfig.defaultConfig.proxyMetadata %s) and answer for %s", w.in.Namespace, w.in.Service, w.src.Context, mesh.DNSCaptureMetadata, w.host)
		return h
	}
	h.Status = Fail
	h.Summary = fmt.Sprintf("no Service %s/%s in %s and DNS is not proxied: %s does not resolve there", w.in.Namespace, w.in.Service, w.src.Context, w.host)
	h.Checks = []checks.ID{checks.MF4014}
	return h
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Hop 2: the source's istiod is synced with every destination and holds
// its ready endpoints.
func (w *walk) discovery() Hop {
	h := Hop{Name: HopDiscovery}
	if len(w.dests) == 0 {
		h.Status = Fail
		h.Summary = fmt.Sprintf("no cluster read has ready endpoints of %s/%s", w.in.Namespace, w.in.Service)
		if len(w.unread) > 0 {
			h.Status = Unknown
			h.Summary += "; not read: " + strings.Join(w.unread, ", ")
		}
		return h
	}
	if w.primary == nil {
		h.Status, h.Summary = Unknown, "no primary read serves "+w.src.Context+": its istiod's view is unknown"
		return h
	}
	if w.f.Probes == nil {
		h.Status, h.Summary = Unknown, "istiod was not asked (--no-probes)"
		return h
	}
	views := w.f.Probes.IstiodViews(w.primary.Context)
	var read []model.IstiodView
	for _, v := range views {
		if v.Read() {
			read = append(read, v)
		} else {
			h.Evidence = append(h.Evidence, fmt.Sprintf("istiod %s of %s could not be asked: %s", v.Replica(), w.primary.Context, firstNonEmpty(v.NotRun, v.Error)))
		}
	}
	if len(read) == 0 {
		h.Status, h.Summary = Unknown, "the clusterz of "+w.primary.Context+"'s istiod could not be read"
		return h
	}
	status := OK
	var lines []string
	for _, d := range w.dests {
		id := mesh.Identify(d).ClusterID
		if d == w.primary {
			lines = append(lines, d.Context+" (istiod's own cluster)")
			continue
		}
		st := Unknown
		for _, rs := range model.ClusterStatuses(read, id) {
			h.Evidence = append(h.Evidence, fmt.Sprintf("istiod %s of %s reports cluster %s %s", rs.Replica, w.primary.Context, id, rs.Status))
			if rs.Status != "synced" {
				st = Fail
			} else if st != Fail {
				st = OK
			}
		}
		if st == Fail {
			status = Fail
			lines = append(lines, d.Context+" not synced")
			h.Checks = appendID(h.Checks, checks.MF4011)
			continue
		}
		// Synced: does it hold the service's endpoints from there?
		want := readyEndpoints(d, w.in.Namespace, w.in.Service)
		for _, v := range read {
			rc := v.Registry.RegistryOf(id)
			switch {
			case v.Registry == nil || v.Registry.Error != "":
				st = worse(st, Unknown)
				h.Evidence = append(h.Evidence, fmt.Sprintf("istiod %s's registry could not be read", v.Replica()))
			case rc == nil || len(rc.Ready[w.in.Namespace+"/"+w.in.Service]) == 0:
				st = Fail
				h.Checks = appendID(h.Checks, checks.MF4021)
				h.Evidence = append(h.Evidence, fmt.Sprintf("istiod %s holds no ready endpoint of %s/%s from %s, which has %d", v.Replica(), w.in.Namespace, w.in.Service, id, want))
			default:
				h.Evidence = append(h.Evidence, fmt.Sprintf("istiod %s holds %d ready endpoints of %s/%s from %s", v.Replica(), len(rc.Ready[w.in.Namespace+"/"+w.in.Service]), w.in.Namespace, w.in.Service, id))
			}
		}
		status = worse(status, st)
		lines = append(lines, d.Context+" "+map[Status]string{OK: "synced with its endpoints", Fail: "synced without its endpoints", Unknown: "synced, endpoints not known"}[st])
	}
	if len(w.unread) > 0 {
		status = worse(status, Warn)
		h.Evidence = append(h.Evidence, "not read (their endpoints are not judged): "+strings.Join(w.unread, ", "))
	}
	h.Status = status
	h.Summary = fmt.Sprintf("istiod of %s: %s", w.primary.Context, strings.Join(lines, "; "))
	return h
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func appendID(ids []checks.ID, id checks.ID) []checks.ID {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

// Hop 3: what a sidecar of the source namespace is sent.
func (w *walk) proxy() Hop {
	h := Hop{Name: HopProxy}
	v := w.in.View
	switch {
	case v == nil:
		h.Status, h.Summary = Unknown, "istiod was not asked what it sends the sidecar"
		return h
	case !v.Read():
		h.Status, h.Summary = Unknown, "istiod's answer is unknown: "+v.Why()
		return h
	}
	who := "a sidecar without a pod"
	if v.Proxy != "" {
		who = "the sidecar of " + v.Proxy
	}
	if len(v.Endpoints) == 0 {
		h.Status = Fail
		h.Summary = fmt.Sprintf("%s (%s) is sent no endpoint for %s", who, v.Cluster, w.host)
		h.Checks = []checks.ID{checks.MF4025}
		return h
	}
	from := map[string]bool{} // destination contexts the view reaches
	status := OK
	for _, e := range v.Endpoints {
		o := mesh.OriginOf(w.f, w.in.Namespace, w.in.Service, e)
		h.Evidence = append(h.Evidence, fmt.Sprintf("%s:%d priority %d %s %s ← %s", e.Address, e.Port, e.Priority, orNone(e.Locality), e.Health, o))
		switch o.Kind {
		case mesh.OriginPod:
			from[o.Context] = true
			if d := w.f.Cluster(o.Context); d != nil && w.remote(d) {
				status = Fail
				h.Checks = appendID(h.Checks, checks.MF4026)
			}
		case mesh.OriginGateway:
			for _, d := range w.dests {
				if w.networkOf(d) == o.Network {
					from[d.Context] = true
				}
			}
		}
	}
	var missing []string
	for _, d := range w.dests {
		if !from[d.Context] {
			missing = append(missing, d.Context)
		}
	}
	if len(missing) > 0 {
		status = Fail
		h.Checks = appendID(h.Checks, checks.MF4025)
	}
	h.Status = status
	h.Summary = fmt.Sprintf("%s is sent %d %s for %s", who, len(v.Endpoints), plural(len(v.Endpoints), "endpoint", "endpoints"), v.Cluster)
	if len(missing) > 0 {
		h.Summary += ", none of " + strings.Join(missing, ", ")
	}
	if slices.Contains(h.Checks, checks.MF4026) {
		h.Summary += ", pod addresses of another network among them"
	}
	return h
}

// Hop 4: each remote network's gateway answers on 15443 from here with a
// certificate of the mesh.
func (w *walk) gateway() Hop {
	h := Hop{Name: HopGateway}
	srcNet := w.networkOf(w.src)
	nets := map[string][]string{}
	for _, d := range w.dests {
		if w.remote(d) {
			nets[w.networkOf(d)] = append(nets[w.networkOf(d)], d.Context)
		}
	}
	if len(nets) == 0 {
		h.Status, h.Summary = OK, "every destination is on the source's network "+quote(srcNet)+": no gateway on the path"
		return h
	}
	if w.f.Probes == nil {
		h.Status, h.Summary = Unknown, "the gateways were not probed (--no-probes)"
		return h
	}
	names := make([]string, 0, len(nets))
	for n := range nets {
		names = append(names, n)
	}
	sort.Strings(names)
	status := OK
	var lines []string
	for _, n := range names {
		st, line := Unknown, "network "+quote(n)+": no probe of its gateway"
		for _, p := range w.f.Probes.Gateways {
			if p.SourceNetwork != srcNet || p.Network != n {
				continue
			}
			h.Evidence = append(h.Evidence, fmt.Sprintf("%s (%s in %s) from %s: %s %s", p.Address, p.Service, p.Context, orNone(w.f.Probes.From), p.Outcome, p.Detail))
			if p.Presented != "" {
				h.Evidence = append(h.Evidence, "  presented: "+p.Presented)
			}
			switch p.Outcome {
			case model.ProbeOK:
				st, line = OK, fmt.Sprintf("network %s: gateway %s answers on 15443 with a certificate of the mesh", quote(n), p.Address)
			case model.ProbeNotRun:
				if st != OK {
					st, line = worse(st, Unknown), fmt.Sprintf("network %s: gateway %s not probed: %s", quote(n), orNone(p.Address), p.Detail)
				}
			default:
				if st != OK {
					st, line = Fail, fmt.Sprintf("network %s: gateway %s %s", quote(n), orNone(p.Address), p.Outcome)
					h.Checks = appendID(h.Checks, gatewayCheck(p))
				}
			}
		}
		status = worse(status, st)
		lines = append(lines, line)
	}
	h.Status = status
	h.Summary = strings.Join(lines, "; ") + " (probed from " + orNone(w.f.Probes.From) + ")"
	return h
}

// gatewayCheck is the check that reports a failed gateway probe.
func gatewayCheck(p model.GatewayProbe) checks.ID {
	switch {
	case p.Outcome == model.ProbeUntrusted && p.OwnNetworkTrusts != nil && *p.OwnNetworkTrusts:
		return checks.MF2001
	case p.Outcome == model.ProbeUntrusted && p.CARefused:
		return checks.MF2015
	case p.Outcome == model.ProbeUntrusted:
		return checks.MF3013
	case p.Outcome == model.ProbeHandshake:
		return checks.MF3014
	}
	return checks.MF3012
}

func quote(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// Hop 5: the source's and each destination's istiod sign under roots the
// other trusts, and their trust domains are one (or aliased).
func (w *walk) trust() Hop {
	h := Hop{Name: HopTrust}
	if w.primary == nil {
		h.Status, h.Summary = Unknown, "no primary read serves "+w.src.Context
		return h
	}
	srcTD := mesh.Identify(w.primary).TrustDomain
	status := OK
	var lines []string
	seen := map[string]bool{}
	for _, d := range w.dests {
		dp := primaryOf(w.f, d)
		if dp == nil {
			status = worse(status, Unknown)
			lines = append(lines, d.Context+": no primary read serves it")
			continue
		}
		if seen[dp.Context] {
			continue
		}
		seen[dp.Context] = true
		dID := mesh.Identify(dp)
		if dp != w.primary {
			for _, pair := range [][2]string{{w.primary.Context, dp.Context}, {dp.Context, w.primary.Context}} {
				if w.in.Trust == nil {
					status = worse(status, Unknown)
					lines = append(lines, fmt.Sprintf("%s→%s: no trust matrix", pair[0], pair[1]))
					continue
				}
				cell, ok := w.in.Trust.Cell(pair[0], pair[1])
				switch {
				case !ok || cell.Verdict == model.TrustUnknown:
					status = worse(status, Unknown)
					lines = append(lines, fmt.Sprintf("%s→%s unknown", pair[0], pair[1]))
				case cell.Verdict == model.TrustFail:
					status = Fail
					lines = append(lines, fmt.Sprintf("%s→%s not trusted", pair[0], pair[1]))
					h.Checks = appendID(h.Checks, checks.MF2001)
				default:
					lines = append(lines, fmt.Sprintf("%s→%s trusted", pair[0], pair[1]))
				}
				if cell.Reason != "" {
					h.Evidence = append(h.Evidence, fmt.Sprintf("%s→%s: %s", pair[0], pair[1], cell.Reason))
				}
			}
		} else {
			lines = append(lines, dp.Context+": one istiod signs both ends")
		}
		if dp == w.primary {
			continue // one trust domain
		}
		dstTD := dID.TrustDomain
		h.Evidence = append(h.Evidence, fmt.Sprintf("trust domains: %s %s (aliases %v), %s %s (aliases %v)", w.primary.Context, quote(srcTD), mesh.Identify(w.primary).TrustDomainAliases, dp.Context, quote(dstTD), dID.TrustDomainAliases))
		if srcTD != dstTD && !slices.Contains(dID.TrustDomainAliases, srcTD) && !slices.Contains(mesh.Identify(w.primary).TrustDomainAliases, dstTD) {
			status = Fail
			lines = append(lines, fmt.Sprintf("trust domains %s and %s differ without aliases", quote(srcTD), quote(dstTD)))
			h.Checks = appendID(h.Checks, checks.MF2012)
		}
	}
	h.Status = status
	h.Summary = strings.Join(lines, "; ")
	return h
}

// Hop 6: the destinations' AuthorizationPolicies and PeerAuthentications
// let the caller's identity in.
func (w *walk) policy() Hop {
	h := Hop{Name: HopPolicy}
	status := OK
	var lines []string
	for _, d := range w.dests {
		// istiod reads Istio's configuration from its own cluster: a
		// remote cluster's sidecars get the policies of its primary.
		cfg := d
		if p := primaryOf(w.f, d); p != nil {
			cfg = p
		}
		pols, ok := w.in.Policies[cfg.Context]
		if cfg != d {
			h.Evidence = append(h.Evidence, fmt.Sprintf("%s: policies read from %s, whose istiod configures it", d.Context, cfg.Context))
		}
		if !ok || pols.Error != "" {
			status = worse(status, Unknown)
			why := "not read"
			if ok {
				why = pols.Error
			}
			lines = append(lines, d.Context+": policies unknown ("+why+")")
			continue
		}
		callee := w.callee(d)
		v := Authorize(pols.AuthorizationPolicies, callee, w.peer)
		for _, e := range v.Evidence {
			h.Evidence = append(h.Evidence, d.Context+": "+e)
		}
		switch v.Decision {
		case Denied:
			status = Fail
			lines = append(lines, d.Context+": "+w.peer.Principal()+" denied: "+v.Why)
			h.Remediation = fmt.Sprintf("In %s, change AuthorizationPolicy %s so that it no longer denies %s (principals are <trust domain>/ns/<namespace>/sa/<service account>), or call from another identity.", d.Context, v.Policy, w.peer.Principal())
		case Depends:
			status = worse(status, Warn)
			lines = append(lines, d.Context+": "+v.Why)
		default:
			lines = append(lines, d.Context+": allowed ("+v.Why+")")
		}
		mode, src := MTLSMode(pols.PeerAuthentications, callee)
		h.Evidence = append(h.Evidence, fmt.Sprintf("%s: mTLS mode %s, from %s", d.Context, mode, src))
		if mode == "DISABLE" && w.remote(d) {
			status = Fail
			lines = append(lines, d.Context+": mTLS DISABLE by "+src+": istiod sends another network's sidecars no gateway endpoint for a workload without mTLS")
			if h.Remediation == "" {
				h.Remediation = fmt.Sprintf("In %s, set PeerAuthentication %s to PERMISSIVE or STRICT: calls from other networks cross the east-west gateway only over mTLS.", d.Context, src)
			}
		}
	}
	if len(w.dests) == 0 {
		status, lines = Unknown, []string{"no destination to judge"}
	}
	h.Status = status
	h.Summary = strings.Join(lines, "; ")
	return h
}

// callee is what the destination's policies are judged against.
func (w *walk) callee(d *model.Cluster) Callee {
	c := Callee{Namespace: w.in.Namespace, RootNamespace: d.IstioNamespace}
	if dp := primaryOf(w.f, d); dp != nil {
		id := mesh.Identify(dp)
		c.TrustDomain, c.Aliases = id.TrustDomain, id.TrustDomainAliases
		if id.Mesh != nil && id.Mesh.GetRootNamespace() != "" {
			c.RootNamespace = id.Mesh.GetRootNamespace()
		}
	}
	if c.TrustDomain == "" {
		c.TrustDomain = "cluster.local"
	}
	for _, s := range d.Services {
		if s.Namespace != w.in.Namespace || s.Name != w.in.Service {
			continue
		}
		_, pods := mesh.SelectedWorkloads(d, s)
		for _, p := range pods {
			c.Pods = append(c.Pods, p.Labels)
		}
		if len(pods) == 0 && len(s.Selector) > 0 {
			c.Pods = append(c.Pods, s.Selector) // a pod carries at least these
		}
		if sp, ok := mesh.ServicePort(s, w.in.Port); ok {
			var n uint32
			if _, err := fmt.Sscan(sp.TargetPort, &n); err == nil {
				c.TargetPort = n
			} else if sp.TargetPort == "" {
				c.TargetPort = uint32(sp.Port)
			}
		}
	}
	return c
}

// Hop 7: where traffic goes first, and whether failover can happen.
func (w *walk) locality() Hop {
	h := Hop{Name: HopLocality}
	dr, found := w.destinationRule()
	if ok, why := w.src.Readable(model.KindDestinationRules); !ok {
		h.Status, h.Summary = Unknown, "the source's DestinationRules could not be read: "+why
		return h
	}
	var tp *model.TrafficPolicy
	if found {
		tp = dr.TrafficPolicy
		h.Evidence = append(h.Evidence, fmt.Sprintf("DestinationRule %s/%s in %s: outlierDetection %v", dr.Namespace, dr.Name, w.src.Context, tp != nil && tp.OutlierDetection))
	}
	failover := tp != nil && tp.Locality != nil && (len(tp.Locality.Failover) > 0 || len(tp.Locality.FailoverPriority) > 0)
	outlier := tp != nil && tp.OutlierDetection
	// Where the view sends traffic first.
	first := "" // not known: istiod's view was not read
	if v := w.in.View; v != nil && v.Read() && len(v.Endpoints) > 0 {
		byPri := map[uint32][]string{}
		for _, e := range v.Endpoints {
			if !slices.Contains(byPri[e.Priority], e.Locality) {
				byPri[e.Priority] = append(byPri[e.Priority], e.Locality)
			}
		}
		var pris []uint32
		for p := range byPri {
			pris = append(pris, p)
		}
		slices.Sort(pris)
		var parts []string
		for _, p := range pris {
			parts = append(parts, fmt.Sprintf("priority %d: %s", p, strings.Join(byPri[p], ", ")))
		}
		first = strings.Join(parts, "; ")
	}
	switch {
	case failover && !outlier:
		h.Status = Fail
		h.Summary = fmt.Sprintf("DestinationRule %s/%s fails over by locality without outlierDetection: istiod ignores the failover and never moves traffic away from a failing locality (%s)", dr.Namespace, dr.Name, first)
		h.Checks = []checks.ID{checks.MF5002}
	case first == "":
		h.Status = Unknown
		h.Summary = "where traffic goes first is not known: istiod's view was not read"
	case outlier:
		h.Status = OK
		h.Summary = "traffic goes to " + first + "; outlier detection ejects failing endpoints, so the next priority takes over"
	default:
		h.Status = OK
		h.Summary = "no outlier detection: no locality preference, every endpoint shares the traffic (" + first + ")"
	}
	return h
}

// destinationRule is the source cluster's DestinationRule for the host.
func (w *walk) destinationRule() (model.DestinationRule, bool) {
	for _, dr := range w.src.DestinationRules {
		if name, ns, ok := mesh.HostService(dr.Host, dr.Namespace); ok && name == w.in.Service && ns == w.in.Namespace {
			return dr, true
		}
	}
	return model.DestinationRule{}, false
}

// hopChecks are the checks whose findings speak of each hop, and which of
// a finding's roles must name the source side and the destination side.
var hopChecks = map[string][]checks.ID{
	HopResolve: {checks.MF4014},
	HopDiscovery: {checks.MF0001, checks.MF4001, checks.MF4002, checks.MF4005, checks.MF4006, checks.MF4007, checks.MF4008,
		checks.MF4009, checks.MF4010, checks.MF4011, checks.MF4015, checks.MF4020, checks.MF4021, checks.MF4032, checks.MF4035, checks.MF3016},
	HopProxy: {checks.MF4025, checks.MF4026, checks.MF4016, checks.MF3020},
	HopGateway: {checks.MF3001, checks.MF3002, checks.MF3004, checks.MF3006, checks.MF3007, checks.MF3008, checks.MF3009,
		checks.MF3012, checks.MF3013, checks.MF3014, checks.MF6011, checks.MF6012, checks.MF6013},
	HopTrust:    {checks.MF2001, checks.MF2002, checks.MF2006, checks.MF2007, checks.MF2010, checks.MF2012, checks.MF2015},
	HopLocality: {checks.MF5002, checks.MF5003, checks.MF5004, checks.MF5007},
}

// cite attaches the doctor's findings about the hop's clusters; an error
// among them fails the hop (the doctor and trace read the same facts), a
// warning makes an OK hop a warning. The remediation is the first cited
// check's, unless the hop has its own.
func (w *walk) cite(h *Hop) {
	ids := hopChecks[h.Name]
	for _, f := range w.in.Findings {
		if !slices.Contains(ids, f.Check) || f.Severity < checks.SeverityWarning || !w.about(h.Name, f) || !w.onPath(h.Name, f.Object) {
			continue
		}
		h.Findings = append(h.Findings, FindingRef{Check: f.Check, Severity: f.Severity, Contexts: f.Contexts, Message: f.Message})
		h.Checks = appendID(h.Checks, f.Check)
		switch {
		case f.Severity == checks.SeverityError:
			h.Status = Fail
		case h.Status == OK:
			h.Status = Warn
		}
	}
	if h.Status == OK || h.Remediation != "" || len(h.Checks) == 0 || w.in.Catalog == nil {
		return
	}
	if m, ok := w.in.Catalog.Lookup(h.Checks[0]); ok {
		h.Remediation = strings.TrimSpace(m.Remediation)
	}
}

// about reports whether a finding concerns this call: the source side
// (the source cluster or its primary) for the resolve, proxy and locality
// hops; the source's primary and a destination for discovery; a
// destination (or its network) for the gateway; both primaries for trust.
func (w *walk) about(hop string, f checks.Finding) bool {
	src := []string{w.src.Context}
	if w.primary != nil && w.primary != w.src {
		src = append(src, w.primary.Context)
	}
	dst := contexts(w.dests)
	var dstRemote, dstPrimaries []string
	for _, d := range w.dests {
		if w.remote(d) {
			dstRemote = append(dstRemote, d.Context)
		}
		if p := primaryOf(w.f, d); p != nil {
			dstPrimaries = append(dstPrimaries, p.Context)
		}
	}
	any := func(list []string, in []string) bool {
		for _, c := range list {
			if slices.Contains(in, c) {
				return true
			}
		}
		return false
	}
	switch hop {
	case HopResolve, HopLocality:
		return any(f.Contexts, []string{w.src.Context})
	case HopProxy:
		if f.Check == checks.MF4016 {
			return any(f.SubjectsOf(checks.RoleCluster), dst) && any(f.SubjectsOf(checks.RoleMember), src)
		}
		return any(f.SubjectsOf(checks.RoleCluster), []string{w.src.Context}) && (len(f.SubjectsOf(checks.RolePeer)) == 0 || any(f.SubjectsOf(checks.RolePeer), dst))
	case HopDiscovery:
		if f.Check == checks.MF0001 {
			return any(f.Contexts, dst) || any(f.Contexts, w.unread)
		}
		if f.Check == checks.MF3016 {
			return any(f.Contexts, []string{w.src.Context})
		}
		return any(f.SubjectsOf(checks.RolePrimary), src) && any(f.SubjectsOf(checks.RolePeer), dst)
	case HopGateway:
		return any(f.Contexts, dstRemote)
	case HopTrust:
		if f.Check == checks.MF2001 || f.Check == checks.MF2012 { // between two primaries: both ends
			return any(f.Contexts, src) && any(f.Contexts, dstPrimaries)
		}
		return any(f.Contexts, src) || any(f.Contexts, dstPrimaries)
	}
	return false
}

// onPath reports whether the object a finding names is this call's: for
// the hops about the service itself (resolve, proxy, locality), a finding
// about another Service or another DestinationRule speaks of another call.
func (w *walk) onPath(hop string, o *checks.ObjectRef) bool {
	if o == nil || (hop != HopResolve && hop != HopProxy && hop != HopLocality) {
		return true
	}
	switch o.Kind {
	case "Service":
		return o.Namespace == w.in.Namespace && o.Name == w.in.Service
	case "DestinationRule":
		dr, ok := w.destinationRule()
		return ok && o.Namespace == dr.Namespace && o.Name == dr.Name
	}
	return true
}

// Package discovery plans the remote secrets through which each primary's
// istiod reads its peers, as `istioctl create-remote-secret --context=<peer>
// --name=<peer cluster ID> | kubectl apply --context=<primary>` makes them:
// in the peer, the reader service account, Istio's reader ClusterRole and
// binding, and a token; in the primary, the secret with the peer's cluster
// ID as key, the label istiod selects on and the cluster annotation.
//
// It acts per (primary, peer) pair that a finding says lacks a working
// secret; a pair without such a finding gets nothing, so re-running after
// apply plans nothing. It never deletes: a misplaced or stale secret, or a
// wrong data key, is left with a Note saying what to remove once the new
// secret is synced.
package discovery

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Fixer plans remote secrets and the reader identity behind them.
type Fixer struct{}

var answered = []checks.ID{
	"MF4001", "MF4002", "MF4003", "MF4004", "MF4005", "MF4006", "MF4007",
	"MF4008", "MF4009", "MF4010", "MF4011", "MF4013", "MF4015",
}

// Answers lists the discovery checks whose findings this fixer acts on.
// MF4011 only where the cause is the secret (its credentials or server),
// not the path from istiod; MF4013 gets a Note, since only deleting one of
// the secrets helps.
func (Fixer) Answers() []checks.ID { return append([]checks.ID(nil), answered...) }

// Plan turns the discovery findings into changes, notes and refusals.
func (Fixer) Plan(in fix.Input) (fix.Plan, error) {
	for ctx, s := range in.Options.Servers {
		if err := validServer(s); err != nil {
			return fix.Plan{}, fmt.Errorf("--remote-server %s=%s: %w", ctx, s, err)
		}
	}
	p := &planner{in: in, f: in.Fleet, pairs: map[pairKey]*pair{}, annotations: map[objKey]*annotationFix{}}
	for _, fd := range in.FindingsOf(answered...) {
		p.take(fd)
	}
	return p.build(), nil
}

func validServer(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("want an https:// URL of the API server")
	}
	return nil
}

type pairKey struct{ primary, peer string }

type objKey struct{ context, namespace, name string }

// target is a secret the plan writes and the data key it writes.
type target struct {
	obj objKey
	key string
}

// pair is a primary that needs a working remote secret for a peer.
type pair struct {
	p, r    *model.Cluster
	answers idSet
	// readerOnly: the secret is right, only the peer's reader identity is
	// not (its permissions); the secret is left as it is.
	readerOnly bool
}

// annotationFix sets a secret's cluster annotation to its only key.
type annotationFix struct {
	key     objKey
	value   string
	answers idSet
}

// stale is a secret (or one data key of it) that the new secret makes
// redundant, and that the user should remove once the peer is synced.
type stale struct {
	p, r    *model.Cluster
	secret  mesh.RemoteSecret
	key     string // "" for the whole secret
	answers idSet
}

type planner struct {
	in          fix.Input
	f           *model.Fleet
	pairs       map[pairKey]*pair
	order       []pairKey
	annotations map[objKey]*annotationFix
	stale       []stale
	plan        fix.Plan
	// dupNotes holds, per primary|cluster ID, the index in plan.Notes of
	// the note that settles its duplicate secrets.
	dupNotes map[string]int
}

// take reads one finding: which pair it says needs a secret, and what else
// it leaves to a note or a refusal. The finding names its primary and peers
// by role (the catalog declares them), so nothing here guesses which of its
// contexts holds the secret.
func (pl *planner) take(fd checks.Finding) {
	p := pl.f.Cluster(fd.Subject(checks.RolePrimary))
	if p == nil || !p.Reachable {
		return
	}
	var peers []*model.Cluster
	for _, ctx := range fd.SubjectsOf(checks.RolePeer) {
		if r := pl.f.Cluster(ctx); r != nil && r != p {
			peers = append(peers, r)
		}
	}
	pl.takeFor(fd, p, peers)
}

func (pl *planner) takeFor(fd checks.Finding, p *model.Cluster, peers []*model.Cluster) {
	switch fd.Check {
	case "MF4004":
		pl.annotation(fd, p)
		return
	case "MF4013":
		pl.duplicates(fd, p)
		return
	case "MF4015":
		if fd.Severity != checks.SeverityError {
			return // istiod's identity for a peer primary works (info), or the writes could not be reviewed
		}
	case "MF4008", "MF4011":
		if fd.Severity != checks.SeverityError {
			return // only the path from this machine fails, or istiod's view is unknown
		}
		for _, r := range peers {
			if pl.workingDuplicate(p, mesh.Identify(r).ClusterID) {
				// Another secret for the peer works: the duplicate note
				// keeps it, and nothing that works is rewritten.
				pl.duplicateNote(p, mesh.Identify(r).ClusterID, fd.Check)
				continue
			}
			if why := pl.notTheSecret(fd, p, r); why != "" {
				pl.refuse(p.Context, why, fd.Check)
				continue
			}
			pl.need(p, r, fd.Check)
		}
		return
	case "MF4003":
		if fd.Severity != checks.SeverityError {
			// An entry that does nothing, pointing at no peer.
			if s, ok := pl.secretOf(p, fd.Object); ok {
				pl.stale = append(pl.stale, stale{p: p, secret: s, key: mesh.Identify(p).ClusterID, answers: ids(fd.Check)})
			}
			return
		}
	}
	if len(peers) == 0 {
		pl.refuse(p.Context, fmt.Sprintf("%s names no other cluster of this run, so there is no peer to write a remote secret for; run with the peer's context as well", objectName(fd.Object)), fd.Check)
		return
	}
	s, hasSecret := pl.secretOf(p, fd.Object)
	for _, r := range peers {
		rid := mesh.Identify(r).ClusterID
		switch fd.Check {
		case "MF4005", "MF4006", "MF4009":
			if pl.workingDuplicate(p, rid) {
				// The broken one is a duplicate of a secret that works:
				// keep that one, rewrite nothing.
				pl.duplicateNote(p, rid, fd.Check)
				continue
			}
		}
		switch fd.Check {
		case "MF4002":
			// A secret istiod ignores: the peer needs one only when no
			// secret istiod reads names it already.
			if hasSecret {
				pl.stale = append(pl.stale, stale{p: p, r: r, secret: s, answers: ids(fd.Check)})
			}
			if !readsKey(p, rid) {
				pl.need(p, r, fd.Check)
			}
			continue
		case "MF4003", "MF4007":
			if hasSecret && (!hasKey(s, rid) || !pl.entryBroken(p, s, rid, r)) {
				// The secret reaches r under another key (the primary's own
				// ID, or a wrong one): r needs its own entry, and the wrong
				// one should go.
				reached := false
				for _, e := range s.Entries {
					if pl.reaches(p, s, e, r) {
						reached = true
						pl.stale = append(pl.stale, stale{p: p, r: r, secret: s, key: e.Key, answers: ids(fd.Check)})
					}
				}
				if reached && !readsKey(p, rid) {
					pl.need(p, r, fd.Check)
				}
				continue
			}
		}
		if (fd.Check == "MF4010" || fd.Check == "MF4015") && pl.readsAsReader(p, s, r) {
			pl.needReader(p, r, fd.Check)
			continue
		}
		pl.need(p, r, fd.Check)
	}
}

// entryBroken reports whether p's secret's entry for r's ID goes somewhere
// other than r (the primary itself, or another cluster): then it is what a
// wrong-target finding is about, not a second entry of the same secret.
func (pl *planner) entryBroken(p *model.Cluster, s mesh.RemoteSecret, key string, r *model.Cluster) bool {
	for _, e := range s.Entries {
		if e.Key != key {
			continue
		}
		for _, c := range pl.f.Clusters {
			if c != r && c.Reachable && pl.reachesOnly(p, s, e, c) {
				return true
			}
		}
	}
	return false
}

// readsAsReader reports whether p's secret for r authenticates as r's
// reader service account (from the token's subject, as the probe read it),
// so that restoring the reader's permissions is all it takes.
func (pl *planner) readsAsReader(p *model.Cluster, s mesh.RemoteSecret, r *model.Cluster) bool {
	cp := pl.credentialProbe(p.Context, s.Ref(), mesh.Identify(r).ClusterID)
	return cp != nil && cp.TokenSubject == "system:serviceaccount:"+r.IstioNamespace+":"+ReaderServiceAccount
}

// needReader records a peer whose reader identity needs restoring while
// p's secret for it is right.
func (pl *planner) needReader(p, r *model.Cluster, id checks.ID) {
	k := pairKey{p.Context, r.Context}
	if _, ok := pl.pairs[k]; !ok {
		pl.need(p, r, id)
		pl.pairs[k].readerOnly = true
		return
	}
	pl.pairs[k].answers.add(id)
}

// reachesOnly reports whether an entry's kubeconfig goes to c, by the
// probe's kube-system UID or else by its server.
func (pl *planner) reachesOnly(p *model.Cluster, s mesh.RemoteSecret, e mesh.RemoteEntry, c *model.Cluster) bool {
	if cp := pl.credentialProbe(p.Context, s.Ref(), e.Key); cp != nil && cp.KubeSystemUID != "" {
		return cp.KubeSystemUID == c.KubeSystemUID
	}
	return e.Server != "" && mesh.SameServer(e.Server, c.Server)
}

func (pl *planner) need(p, r *model.Cluster, id checks.ID) {
	k := pairKey{p.Context, r.Context}
	pr, ok := pl.pairs[k]
	if !ok {
		pr = &pair{p: p, r: r, answers: idSet{}}
		pl.pairs[k] = pr
		pl.order = append(pl.order, k)
	}
	pr.answers.add(id)
	pr.readerOnly = false
}

func (pl *planner) refuse(context, reason string, id ...checks.ID) {
	pl.plan.Refused = append(pl.plan.Refused, fix.Refusal{Context: context, Answers: id, Reason: reason})
}

// secretOf finds the remote secret a finding is about.
func (pl *planner) secretOf(p *model.Cluster, o *checks.ObjectRef) (mesh.RemoteSecret, bool) {
	if o == nil || o.Kind != "Secret" {
		return mesh.RemoteSecret{}, false
	}
	for _, s := range mesh.RemoteSecrets(p) {
		if s.Namespace == o.Namespace && s.Name == o.Name {
			return s, true
		}
	}
	return mesh.RemoteSecret{}, false
}

// reaches reports whether an entry of p's secret is meant for or points at r.
func (pl *planner) reaches(p *model.Cluster, s mesh.RemoteSecret, e mesh.RemoteEntry, r *model.Cluster) bool {
	return e.Key == mesh.Identify(r).ClusterID || pl.reachesOnly(p, s, e, r)
}

func (pl *planner) credentialProbe(context, secret, key string) *model.CredentialProbe {
	if pl.f.Probes == nil {
		return nil
	}
	for i, cp := range pl.f.Probes.Credentials {
		if cp.Context == context && (secret == "" || cp.Secret == secret) && cp.Key == key {
			return &pl.f.Probes.Credentials[i]
		}
	}
	return nil
}

// notTheSecret says why a new secret would not help a peer whose
// credentials fail or that istiod has not synced, or "" when it would: the
// credentials work from this machine (the path from istiod is broken), or
// the server cannot be reached from here either and a new secret would name
// the same server.
func (pl *planner) notTheSecret(fd checks.Finding, p, r *model.Cluster) string {
	rid := mesh.Identify(r).ClusterID
	secret := ""
	if fd.Object != nil && fd.Object.Kind == "Secret" {
		secret = fd.Object.Namespace + "/" + fd.Object.Name
	} else if used := pl.f.Probes.SecretsInUse(p.Context, rid); len(used) == 1 {
		secret = used[0] // istiod's finding: judged by the secret istiod uses
	}
	if status, ok := pl.istiodStatus(p.Context, rid); ok && status == "" {
		return fmt.Sprintf("istiod of %s has not loaded its remote secret for %q (it does not list the cluster): an istiod that has not caught up, or a second secret for the same cluster ID; a new secret would not change that", p.Context, rid)
	}
	cp := pl.credentialProbe(p.Context, secret, rid)
	if cp == nil {
		return fmt.Sprintf("no credential probe of %s's remote secret for %q ran, so it is unknown whether a new secret would help; run the doctor with its probes", p.Context, rid)
	}
	switch cp.Outcome {
	case model.CredOK, model.CredForbidden:
		if len(cp.RBACDenied) > 0 {
			return "" // the reader's permissions, which the fix restores
		}
		return fmt.Sprintf("the credentials of %s work from %s (kube-system UID %s), so the secret is not what is broken: the cause is elsewhere (MF4011 and MF4035 say what istiod's log and %s's CRDs show: the path from %s's istiod to %s, or a CRD version %s does not serve), which a new secret does not change", cp.Secret, pl.f.Probes.From, cp.KubeSystemUID, r.Context, p.Context, cp.Server, r.Context)
	case model.CredUnreachable, model.CredTimeout:
		if srv := pl.server(r); mesh.SameServer(srv, cp.Server) {
			return fmt.Sprintf("%s's API server %s, which %s's remote secret names, cannot be reached from %s either (%s), and a new secret would name the same address: bring the server back, or give an address %s's pods reach with --remote-server %s=https://<address>", r.Context, cp.Server, p.Context, pl.f.Probes.From, cp.Outcome, p.Context, r.Context)
		}
		return ""
	case model.CredNotRun:
		return fmt.Sprintf("the credential probe of %s did not run (%s), so it is unknown whether a new secret would help", cp.Secret, cp.Detail)
	}
	return "" // rejected token, certificate that does not verify: a new secret fixes it
}

// server is the API server address a remote secret for r names: the
// --remote-server override, else r's kubeconfig context's.
func (pl *planner) server(r *model.Cluster) string {
	if s, ok := pl.in.Options.Servers[r.Context]; ok && s != "" {
		return s
	}
	return r.Server
}

// annotation (MF4004) sets a secret's cluster annotation to its key. A
// secret with several keys has no one right value: a note says so.
func (pl *planner) annotation(fd checks.Finding, p *model.Cluster) {
	s, ok := pl.secretOf(p, fd.Object)
	if !ok {
		return
	}
	if len(s.Entries) != 1 {
		pl.plan.Notes = append(pl.plan.Notes, fix.Note{Context: p.Context, Answers: []checks.ID{fd.Check},
			Text: fmt.Sprintf("%s in %s holds %d clusters; set its %s annotation to the one it is meant for, or split it into one secret per cluster", s.Ref(), p.Context, len(s.Entries), mesh.ClusterAnnotation)})
		return
	}
	k := objKey{p.Context, s.Namespace, s.Name}
	a, ok := pl.annotations[k]
	if !ok {
		a = &annotationFix{key: k, value: s.Entries[0].Key, answers: idSet{}}
		pl.annotations[k] = a
	}
	a.answers.add(fd.Check)
}

// duplicates (MF4013): several secrets istiod reads name one cluster.
func (pl *planner) duplicates(fd checks.Finding, p *model.Cluster) {
	pid := mesh.Identify(p).ClusterID
	for _, key := range sortedKeys(pl.holders(p)) {
		if key != pid && containsSecret(pl.holders(p)[key], fd.Object) {
			pl.duplicateNote(p, key, fd.Check)
		}
	}
}

// duplicateNote says which of the secrets naming one cluster to keep and
// which to delete (fix deletes nothing itself), once per primary and
// cluster ID; later callers add the findings it answers. It keeps the one
// istiod uses (its /debug/clusterz) unless that one's credentials fail and
// another's work: it never has the user delete a secret that works in
// favour of one that does not. When the one istiod uses goes, istiod drops
// the cluster and does not look at the others again
// (pkg/kube/multicluster/secretcontroller.go: a secret it ignored is
// processed only on its own next event), so the note ends with a restart.
func (pl *planner) duplicateNote(p *model.Cluster, key string, answers ...checks.ID) {
	k := p.Context + "|" + key
	if i, ok := pl.dupNotes[k]; ok {
		n := &pl.plan.Notes[i]
		set := ids(n.Answers...)
		set.merge(ids(answers...))
		n.Answers = set.list()
		return
	}
	ss := pl.holders(p)[key]
	if len(ss) < 2 {
		return
	}
	used := ""
	if u := pl.f.Probes.SecretsInUse(p.Context, key); len(u) == 1 {
		used = u[0]
	}
	var works []mesh.RemoteSecret
	for _, s := range ss {
		if pl.works(p, s.Ref(), key) {
			works = append(works, s)
		}
	}
	keep, why := ss[0], "the one istiod keeps when it starts: it lists them by namespace/name"
	switch {
	case used != "" && (pl.works(p, used, key) || len(works) == 0):
		for _, s := range ss {
			if s.Ref() == used {
				keep, why = s, "the one istiod of "+p.Context+" uses now, by its /debug/clusterz"
			}
		}
		if pl.works(p, used, key) {
			why += ", and its credentials work"
		}
	case len(works) > 0:
		keep, why = works[0], "its credentials work"
		if used != "" {
			why += fmt.Sprintf(", while those of %s, the one istiod of %s uses now, do not", used, p.Context)
		}
	default:
		for _, s := range ss {
			if s.Name == mesh.RemoteSecretPrefix+strings.ToLower(key) {
				keep, why = s, "the name istioctl create-remote-secret gives"
			}
		}
	}
	var drop []string
	for _, s := range ss {
		if s.Ref() != keep.Ref() {
			drop = append(drop, fmt.Sprintf("kubectl --context %s -n %s delete secret %s", p.Context, s.Namespace, s.Name))
		}
	}
	text := fmt.Sprintf("%d secrets in %s name cluster %q, and istiod uses only the one it reads first; keep %s (%s) and delete the others: %s", len(ss), p.Context, key, keep.Ref(), why, strings.Join(drop, "; "))
	switch {
	case used != "" && used != keep.Ref():
		text += fmt.Sprintf("; then restart istiod, which drops %q with %s and does not read %s again by itself: kubectl --context %s -n %s rollout restart deployment/%s", key, used, keep.Ref(), p.Context, p.IstioNamespace, mesh.IstiodApp)
	case used == "":
		text += fmt.Sprintf("; istiod's view was not read, so if it used a deleted one, restart it to read %s: kubectl --context %s -n %s rollout restart deployment/%s", keep.Ref(), p.Context, p.IstioNamespace, mesh.IstiodApp)
	}
	if pl.dupNotes == nil {
		pl.dupNotes = map[string]int{}
	}
	pl.dupNotes[k] = len(pl.plan.Notes)
	pl.plan.Notes = append(pl.plan.Notes, fix.Note{Context: p.Context, Answers: ids(answers...).list(), Text: text})
}

// holders lists, per cluster ID, the secrets of p istiod reads that name
// it, by namespace/name.
func (pl *planner) holders(p *model.Cluster) map[string][]mesh.RemoteSecret {
	out := map[string][]mesh.RemoteSecret{}
	for _, s := range mesh.RemoteSecrets(p) {
		if !s.Read() {
			continue
		}
		for _, e := range s.Entries {
			out[e.Key] = append(out[e.Key], s)
		}
	}
	for _, ss := range out {
		sort.Slice(ss, func(i, j int) bool { return ss[i].Ref() < ss[j].Ref() })
	}
	return out
}

// works reports whether the probe of a secret's entry authenticated, with
// every permission of the reader granted.
func (pl *planner) works(p *model.Cluster, ref, key string) bool {
	if ref == "" {
		return false
	}
	cp := pl.credentialProbe(p.Context, ref, key)
	return cp != nil && cp.Outcome == model.CredOK && len(cp.RBACDenied) == 0
}

// workingDuplicate reports whether p holds several secrets for key and one
// of them works: a fix then only settles the duplicates, keeping that one.
func (pl *planner) workingDuplicate(p *model.Cluster, key string) bool {
	ss := pl.holders(p)[key]
	if len(ss) < 2 {
		return false
	}
	for _, s := range ss {
		if pl.works(p, s.Ref(), key) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// istiodStatus is what istiod's clusterz says of a cluster ID, across the
// replicas read: "" when one lists no such cluster, else the first status
// other than synced, else synced; ok is false when no replica of that
// primary was read.
func (pl *planner) istiodStatus(context, id string) (status string, ok bool) {
	for _, r := range model.ClusterStatuses(pl.f.Probes.IstiodViews(context), id) {
		switch {
		case r.Status == model.StatusMissing:
			return "", true
		case !ok || (status == "synced" && r.Status != "synced"):
			status = r.Status
		}
		ok = true
	}
	return status, ok
}

// istiodSecret is the secret istiod's clusterz says it registered a
// cluster from ("" when unknown).
func (pl *planner) istiodSecret(context, id string) string {
	for _, v := range pl.f.Probes.IstiodViews(context) {
		for _, c := range v.Clusters {
			if c.ID == id {
				return c.SecretName
			}
		}
	}
	return ""
}

// build turns the pairs into changes: per peer its reader identity once,
// per pair the primary's secret; then notes for what is left stale.
func (pl *planner) build() fix.Plan {
	type peerWork struct {
		r       *model.Cluster
		answers idSet
		src     credentialSource
		server  string
		secrets bool // some primary's secret for it is rewritten
	}
	peers := map[string]*peerWork{}
	var peerOrder []string
	targets := map[pairKey]target{}
	for _, k := range pl.order {
		pr := pl.pairs[k]
		if why := pl.unusable(pr.r); why != "" {
			pl.refuse(pr.p.Context, why, pr.answers.list()...)
			continue
		}
		w, ok := peers[pr.r.Context]
		if !ok {
			w = &peerWork{r: pr.r, answers: idSet{}, server: pl.server(pr.r)}
			w.src = credentialSource{context: pr.r.Context, namespace: pr.r.IstioNamespace}
			if d := pl.in.Options.TokenDuration; d > 0 {
				w.src.duration = d
			} else if name := existingTokenSecret(pr.r); name != "" {
				w.src.tokenSecret = name
			} else {
				w.src.tokenSecret = ReaderServiceAccount + tokenSecretSuffix
			}
			peers[pr.r.Context] = w
			peerOrder = append(peerOrder, pr.r.Context)
		}
		w.answers.merge(pr.answers)
		if pr.readerOnly {
			continue
		}
		w.secrets = true
		targets[k] = target{pl.remoteSecretChange(pr, w.server, w.src), mesh.Identify(pr.r).ClusterID}
	}
	for _, ctx := range peerOrder {
		w := peers[ctx]
		src := w.src
		if !w.secrets {
			src.tokenSecret = "" // no secret to fill: no token needed
		}
		pl.readerChanges(w.r, w.answers, src)
	}
	pl.annotationChanges()
	pl.staleNotes(targets)
	sortPlan(&pl.plan)
	return pl.plan
}

// unusable says why no remote secret can be written for r ("" when one can).
func (pl *planner) unusable(r *model.Cluster) string {
	id := mesh.Identify(r)
	srv := pl.server(r)
	_, overridden := pl.in.Options.Servers[r.Context]
	switch {
	case !r.Reachable:
		return fmt.Sprintf("%s could not be read (%s), and its reader identity and token come from it", r.Context, r.Error)
	case id.ClusterID == "":
		return fmt.Sprintf("%s's cluster ID is unknown, and it is the remote secret's data key", r.Context)
	case len(validation.IsDNS1123Subdomain(remoteSecretName(id.ClusterID))) > 0:
		return fmt.Sprintf("%s's cluster ID %q does not make a valid Secret name (%s…); istioctl create-remote-secret refuses it too", r.Context, id.ClusterID, mesh.RemoteSecretPrefix)
	case srv == "":
		return fmt.Sprintf("the API server address of %s is unknown; give it with --remote-server %s=https://<address>", r.Context, r.Context)
	case mesh.LoopbackServer(srv):
		where := "its kubeconfig context's"
		if overridden {
			where = "the --remote-server given"
		}
		return fmt.Sprintf("%s's API server address %s (%s) is a loopback address: istiod runs in a pod, where that is the pod itself, so a secret naming it never connects; give an address the primaries' pods reach with --remote-server %s=https://<address>:<port>", r.Context, srv, where, r.Context)
	}
	return ""
}

func remoteSecretName(clusterID string) string {
	return mesh.RemoteSecretPrefix + strings.ToLower(clusterID)
}

// remoteSecretChange plans the primary's secret for the peer and returns
// the object it writes. It rewrites the secret istiod already reads for
// the peer's ID, if any (a second one would make two for one cluster),
// else writes istioctl's name.
func (pl *planner) remoteSecretChange(pr *pair, server string, src credentialSource) objKey {
	p, r := pr.p, pr.r
	rid := mesh.Identify(r).ClusterID
	ns, name, existing := p.IstioNamespace, remoteSecretName(rid), mesh.RemoteSecret{}
	found := false
	used := pl.f.Probes.SecretsInUse(p.Context, rid)
	for _, s := range mesh.RemoteSecrets(p) {
		if s.Read() && hasKey(s, rid) && (!found || s.Name == remoteSecretName(rid)) {
			ns, name, existing, found = s.Namespace, s.Name, s, true
		}
	}
	// The secret istiod registered the cluster from is the one whose
	// rewrite it picks up (an update of the secret it uses); a rewrite of
	// an ignored duplicate would change nothing.
	for _, s := range mesh.RemoteSecrets(p) {
		if s.Read() && hasKey(s, rid) && len(used) == 1 && s.Ref() == used[0] {
			ns, name, existing, found = s.Namespace, s.Name, s, true
		}
	}
	if !found {
		for _, s := range mesh.RemoteSecrets(p) {
			if s.Namespace == ns && s.Name == name {
				existing, found = s, true
			}
		}
	}
	answers := pr.answers.clone()
	annotation := ""
	if !found || name == remoteSecretName(rid) || !annotationIsAKey(existing, rid) {
		annotation = rid
	}
	k := objKey{p.Context, ns, name}
	if a, ok := pl.annotations[k]; ok {
		answers.merge(a.answers)
		delete(pl.annotations, k)
		if annotation == "" {
			annotation = a.value
		}
	}
	serverFrom := r.Context + "'s kubeconfig context"
	if _, ok := pl.in.Options.Servers[r.Context]; ok {
		serverFrom = "--remote-server"
	}
	verb, takeOver := "Creates", false
	if found {
		// The key is replaced: whoever wrote it before, the change takes
		// it over (the secret's other keys stay theirs).
		verb, takeOver = "Rewrites", true
	}
	reason := fmt.Sprintf("istiod of %s reads cluster %q only from a Secret in %s labelled %s=true whose data key is the cluster ID. %s %s/%s as `istioctl create-remote-secret --context %s --name %s` writes it: a kubeconfig for %s's API server %s (from %s) with the token of %s's %s (istioctl's --type remote; --type config, for the istiod account, is only an external control plane's own config cluster).%s%s",
		p.Context, rid, p.IstioNamespace, model.MultiClusterSecretLabel, verb, ns, name, r.Context, rid, r.Context, server, serverFrom, r.Context, ReaderServiceAccount, causes(answers, p, r, pl.in.Options), takeOverNote(takeOver, rid))
	obj := remoteSecret(ns, name, annotation)
	pl.plan.Changes = append(pl.plan.Changes, fix.Change{
		Context: p.Context, Object: obj, Answers: answers.list(), Phase: fix.PhaseConfigure,
		Reason:   reason,
		Pending:  fmt.Sprintf("data key %s: a kubeconfig for %s with %s", rid, server, src.describe()),
		Complete: completeRemoteSecret(obj, rid, server, src),
		TakeOver: takeOver,
	})
	return k
}

func takeOverNote(takeOver bool, key string) string {
	if !takeOver {
		return ""
	}
	return fmt.Sprintf(" The secret exists: data key %s, its label and annotation are taken over from whoever wrote them; its other keys stay as they are.", key)
}

func annotationIsAKey(s mesh.RemoteSecret, rid string) bool {
	return s.Annotation == rid || (s.Annotation != "" && hasKey(s, s.Annotation))
}

// causes says, per finding answered, what the new secret puts right.
func causes(a idSet, p, r *model.Cluster, o fix.Options) string {
	text := map[checks.ID]string{
		"MF4001": fmt.Sprintf("%s has none for %s", p.Context, r.Context),
		"MF4002": "the one there is istiod does not read (namespace or label)",
		"MF4003": fmt.Sprintf("the one there is keyed with %s's own cluster ID, which istiod skips", p.Context),
		"MF4004": "its cluster annotation is made to match the key",
		"MF4005": "it replaces a kubeconfig istiod cannot load",
		"MF4006": "it replaces a loopback server address",
		"MF4007": "it replaces a kubeconfig that reaches another cluster",
		"MF4008": "it replaces credentials that do not work",
		"MF4009": "it replaces an expired or expiring token",
		"MF4010": "its identity is not the reader's, whose permissions the reader ClusterRole grants",
		"MF4011": "it replaces the credentials or server that keep istiod from syncing",
		"MF4015": "its identity is not the reader's, which the remote's reader ClusterRole lets write what the controlling primary writes",
	}
	var parts []string
	for _, id := range a.list() {
		if t, ok := text[id]; ok {
			parts = append(parts, t)
		}
	}
	s := ""
	if len(parts) > 0 {
		s = " Needed because " + strings.Join(parts, "; ") + "."
	}
	if o.TokenDuration > 0 {
		s += fmt.Sprintf(" The token expires after %s (--token-duration); renew the secret before then.", o.TokenDuration)
	}
	return s
}

// readerChanges plans, in the peer, what istiod's reader needs: the
// service account, Istio's reader ClusterRole and its binding, and the
// token secret unless one exists or a TokenRequest is used.
func (pl *planner) readerChanges(r *model.Cluster, a idSet, src credentialSource) {
	ns := r.IstioNamespace
	answers := a.list()
	add := func(obj *unstructured.Unstructured, reason string, takeOver bool) {
		pl.plan.Changes = append(pl.plan.Changes, fix.Change{Context: r.Context, Object: obj, Answers: answers, Phase: fix.PhaseIdentity, Reason: reason, TakeOver: takeOver})
	}
	add(readerServiceAccount(ns), fmt.Sprintf("The identity the primaries' istiod reads %s as (istioctl create-remote-secret's default); where it exists, this only adds what it lacks.", r.Context), false)
	roleReason := "Istio's reader ClusterRole, with the rules of istio.io/istio's chart: what istiod watches on a peer (services, endpoint slices, pods, nodes, namespaces, Istio's resources, …); the same list an install holds, so where it has them they stay as they are."
	remote := mesh.Identify(r).Role == mesh.RoleRemote
	if remote {
		roleReason += fmt.Sprintf(" %s is a remote cluster: as its install (istiodRemote) does, the role also lets the primary's istiod that controls it write its istio-ca-root-cert ConfigMaps and the webhooks' caBundle.", r.Context)
	}
	// Restoring permissions replaces a rule list someone else changed: the
	// change takes the list over, as it must to restore it.
	restore := a.has("MF4010") || a.has("MF4015")
	if restore {
		roleReason += " It restores the permissions the reader was found to lack, taking the rules over from whoever changed them; istiod's informers, which retry, then get through without a restart."
	}
	add(readerClusterRole(ns, remote), roleReason, restore)
	add(readerBinding(ns), fmt.Sprintf("Grants the reader ClusterRole to %s/%s.", ns, ReaderServiceAccount), false)
	if src.tokenSecret != "" && existingTokenSecret(r) == "" {
		add(tokenSecret(ns, src.tokenSecret), fmt.Sprintf("A token for %s that does not expire, filled in by %s's token controller: what istioctl create-remote-secret creates on Kubernetes 1.24+ (--token-duration uses a TokenRequest instead).", ReaderServiceAccount, r.Context), false)
	}
}

// annotationChanges plans the MF4004 annotations not already set by a
// rewritten secret.
func (pl *planner) annotationChanges() {
	for _, a := range pl.annotations {
		pl.plan.Changes = append(pl.plan.Changes, fix.Change{
			Context: a.key.context, Object: annotationOnly(a.key.namespace, a.key.name, a.value),
			Answers: a.answers.list(), Phase: fix.PhaseConfigure,
			Reason: fmt.Sprintf("istiod registers the cluster by the data key %q; the %s annotation, which people and istioctl read, is set to the same.", a.value, mesh.ClusterAnnotation),
		})
	}
}

// staleNotes tells the user what to remove by hand once the new secrets
// are synced: fix deletes nothing. targets are the objects the plan
// writes, each with the data key it writes.
func (pl *planner) staleNotes(targets map[pairKey]target) {
	written := map[objKey]map[string]bool{}
	for _, t := range targets {
		if written[t.obj] == nil {
			written[t.obj] = map[string]bool{}
		}
		written[t.obj][t.key] = true
	}
	seen := map[string]bool{}
	for _, st := range pl.stale {
		obj := objKey{st.p.Context, st.secret.Namespace, st.secret.Name}
		if written[obj][st.key] {
			continue // the plan rewrites this very entry
		}
		then := ""
		if st.r != nil {
			k := pairKey{st.p.Context, st.r.Context}
			t, planned := targets[k]
			if st.key == "" && planned && t.obj == obj {
				continue // the rewrite makes this very secret readable
			}
			if _, needed := pl.pairs[k]; needed && !planned {
				continue // the refusal says why
			}
			then = " now (istiod of " + st.p.Context + " reads " + st.r.Context + " from another secret)"
			if planned {
				then = fmt.Sprintf(" once istiod of %s reports %q synced from %s/%s", st.p.Context, mesh.Identify(st.r).ClusterID, t.obj.namespace, t.obj.name)
			}
		}
		var text string
		switch {
		case st.key == "":
			text = fmt.Sprintf("%s in %s is ignored by istiod; delete it%s: kubectl --context %s -n %s delete secret %s", st.secret.Ref(), st.p.Context, then, st.p.Context, st.secret.Namespace, st.secret.Name)
		case st.r == nil:
			text = fmt.Sprintf("data key %q of %s in %s is %s's own cluster ID, which istiod skips; remove it: %s", st.key, st.secret.Ref(), st.p.Context, st.p.Context, removeKeyCommand(st.p, st.secret, st.key, written[obj]))
		default:
			text = fmt.Sprintf("data key %q of %s in %s reaches %s under the wrong cluster ID; remove it%s: %s", st.key, st.secret.Ref(), st.p.Context, st.r.Context, then, removeKeyCommand(st.p, st.secret, st.key, written[obj]))
		}
		if seen[text] {
			continue
		}
		seen[text] = true
		pl.plan.Notes = append(pl.plan.Notes, fix.Note{Context: st.p.Context, Answers: st.answers.list(), Text: text})
	}
}

// removeKeyCommand is the kubectl command that removes one data key, or
// the whole secret when it is its only key (also after the plan's writes).
func removeKeyCommand(p *model.Cluster, s mesh.RemoteSecret, key string, written map[string]bool) string {
	keys := map[string]bool{}
	for _, e := range s.Entries {
		keys[e.Key] = true
	}
	for k := range written {
		keys[k] = true
	}
	if len(keys) == 1 {
		return fmt.Sprintf("kubectl --context %s -n %s delete secret %s (it has no other key)", p.Context, s.Namespace, s.Name)
	}
	return fmt.Sprintf(`kubectl --context %s -n %s patch secret %s --type=json -p '[{"op":"remove","path":"/data/%s"}]'`, p.Context, s.Namespace, s.Name, strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1"))
}

func readsKey(p *model.Cluster, id string) bool {
	for _, s := range mesh.RemoteSecrets(p) {
		if s.Read() && hasKey(s, id) {
			return true
		}
	}
	return false
}

func hasKey(s mesh.RemoteSecret, key string) bool {
	for _, e := range s.Entries {
		if e.Key == key {
			return true
		}
	}
	return false
}

func containsSecret(ss []mesh.RemoteSecret, o *checks.ObjectRef) bool {
	for _, s := range ss {
		if o != nil && s.Namespace == o.Namespace && s.Name == o.Name {
			return true
		}
	}
	return false
}

func objectName(o *checks.ObjectRef) string {
	if o == nil {
		return "the finding"
	}
	return o.String()
}

// sortPlan orders changes by phase, context, kind and name, and notes and
// refusals by context, so that a plan prints the same every time.
func sortPlan(p *fix.Plan) {
	sort.SliceStable(p.Changes, func(i, j int) bool {
		a, b := p.Changes[i], p.Changes[j]
		if a.Phase != b.Phase {
			return a.Phase < b.Phase
		}
		if a.Context != b.Context {
			return a.Context < b.Context
		}
		if a.Object.GetKind() != b.Object.GetKind() {
			return kindOrder(a.Object.GetKind()) < kindOrder(b.Object.GetKind())
		}
		return a.Object.GetNamespace()+"/"+a.Object.GetName() < b.Object.GetNamespace()+"/"+b.Object.GetName()
	})
	sort.SliceStable(p.Notes, func(i, j int) bool { return p.Notes[i].Context+p.Notes[i].Text < p.Notes[j].Context+p.Notes[j].Text })
	sort.SliceStable(p.Refused, func(i, j int) bool {
		return p.Refused[i].Context+p.Refused[i].Reason < p.Refused[j].Context+p.Refused[j].Reason
	})
}

// kindOrder applies what others refer to first.
func kindOrder(kind string) int {
	switch kind {
	case "ServiceAccount":
		return 0
	case "ClusterRole":
		return 1
	case "ClusterRoleBinding":
		return 2
	}
	return 3
}

// idSet is a set of check IDs.
type idSet map[checks.ID]bool

func ids(id ...checks.ID) idSet {
	s := idSet{}
	for _, i := range id {
		s.add(i)
	}
	return s
}

func (s idSet) add(id checks.ID)      { s[id] = true }
func (s idSet) has(id checks.ID) bool { return s[id] }
func (s idSet) merge(o idSet) {
	for id := range o {
		s[id] = true
	}
}

func (s idSet) clone() idSet {
	c := idSet{}
	c.merge(s)
	return c
}

func (s idSet) list() []checks.ID {
	out := make([]checks.ID, 0, len(s))
	for id := range s {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

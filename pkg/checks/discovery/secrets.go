package discovery

import (
	"fmt"
	"iter"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// secretKinds are what a remote-secret check reads of a primary.
var secretKinds = append(append([]model.Kind{}, mesh.IdentityKinds...), model.KindSecrets)

// primary is a primary whose identity and secrets were read, with its
// remote secrets and the mesh's other clusters.
type primary struct {
	c       *model.Cluster
	id      mesh.Identity
	secrets []mesh.RemoteSecret
}

// primaries lists the primaries of the fleet whose identity and secrets
// were read. The runner hands these checks only such clusters (their catalog
// entries need identity and secrets) and reports the others as unknown, with
// the reason; the test here keeps a check honest on any fleet.
func primaries(f *model.Fleet) []primary {
	var out []primary
	for _, c := range f.Clusters {
		if ok, _ := c.Readable(secretKinds...); !ok {
			continue
		}
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary {
			continue
		}
		out = append(out, primary{c: c, id: id, secrets: mesh.RemoteSecrets(c)})
	}
	return out
}

// readEntries yields each data key of the remote secrets p's istiod reads
// (Istio's namespace, the label), with its secret.
func (p primary) readEntries() iter.Seq2[mesh.RemoteSecret, mesh.RemoteEntry] {
	return func(yield func(mesh.RemoteSecret, mesh.RemoteEntry) bool) {
		for _, s := range p.secrets {
			if !s.Read() {
				continue // MF4002 reports it
			}
			for _, e := range s.Entries {
				if !yield(s, e) {
					return
				}
			}
		}
	}
}

// readEntry is one data key of a remote secret a primary's istiod reads.
type readEntry struct {
	p primary
	s mesh.RemoteSecret
	e mesh.RemoteEntry
}

// readEntries yields, primary by primary, every data key of the remote
// secrets istiod reads: the shape most remote-secret checks walk.
func readEntries(f *model.Fleet) iter.Seq[readEntry] {
	return func(yield func(readEntry) bool) {
		for _, p := range primaries(f) {
			for s, e := range p.readEntries() {
				if !yield(readEntry{p, s, e}) {
					return
				}
			}
		}
	}
}

// target is the cluster a remote secret entry reaches, and how that is known.
type target struct {
	c   *model.Cluster
	how string
}

// targetOf finds the cluster an entry points at: by the kube-system UID the
// credential probe read (the proof), else by the API server URL of a
// context of this run. Nil when neither tells.
func targetOf(f *model.Fleet, p primary, s mesh.RemoteSecret, e mesh.RemoteEntry) *target {
	if cp := credentialProbe(f, p.c.Context, s.Ref(), e.Key); cp != nil && cp.KubeSystemUID != "" {
		for _, c := range f.Clusters {
			if c.KubeSystemUID == cp.KubeSystemUID {
				return &target{c, fmt.Sprintf("its credentials reach kube-system UID %s, which is %s's (probed from %s)", cp.KubeSystemUID, c.Context, f.Probes.From)}
			}
		}
		return nil
	}
	if e.Server == "" {
		return nil
	}
	for _, c := range f.Clusters {
		if mesh.SameServer(c.Server, e.Server) {
			return &target{c, fmt.Sprintf("its server %s is the API server of context %s", e.Server, c.Context)}
		}
	}
	return nil
}

// credentialProbe returns the probe of one secret entry, or nil.
func credentialProbe(f *model.Fleet, context, secret, key string) *model.CredentialProbe {
	if f.Probes == nil {
		return nil
	}
	for i, cp := range f.Probes.Credentials {
		if cp.Context == context && cp.Secret == secret && cp.Key == key {
			return &f.Probes.Credentials[i]
		}
	}
	return nil
}

// clusterWithID returns the cluster of the fleet whose cluster ID is id.
func clusterWithID(f *model.Fleet, id string) *model.Cluster {
	for _, c := range f.Clusters {
		if c.Reachable && mesh.Identify(c).ClusterID == id {
			return c
		}
	}
	return nil
}

func secretRef(s mesh.RemoteSecret) *checks.ObjectRef {
	return &checks.ObjectRef{Kind: "Secret", Namespace: s.Namespace, Name: s.Name}
}

func contexts(names ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// ignoredSecret (MF4002): a secret meant as a remote secret that istiod does
// not read: outside the Istio namespace, or without istio/multiCluster=true.
func ignoredSecret(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, p := range primaries(f) {
		for _, s := range p.secrets {
			if s.Read() {
				continue
			}
			var why []string
			if !s.InIstioNamespace {
				why = append(why, fmt.Sprintf("it is in namespace %s, but istiod watches only %s", s.Namespace, p.c.IstioNamespace))
			}
			switch {
			case s.LabelValue != "":
				why = append(why, fmt.Sprintf("its label %s is %q, but istiod selects %s=true", model.MultiClusterSecretLabel, s.LabelValue, model.MultiClusterSecretLabel))
			case !s.Labelled:
				why = append(why, fmt.Sprintf("it has no label %s=true, which istiod selects on", model.MultiClusterSecretLabel))
			}
			var keys, readElsewhere []string
			ctxs := []string{p.c.Context}
			read := mesh.RemoteSecretKeys(p.c)
			for _, e := range s.Entries {
				keys = append(keys, e.Key)
				var peer *model.Cluster
				if t := targetOf(f, p, s, e); t != nil && t.c != p.c {
					peer = t.c
				} else if r := clusterWithID(f, e.Key); r != nil && r != p.c {
					peer = r
				}
				if peer == nil {
					continue
				}
				ctxs = append(ctxs, peer.Context)
				if id := mesh.Identify(peer).ClusterID; id != "" && read[id] != "" {
					readElsewhere = append(readElsewhere, fmt.Sprintf("%s from %s", peer.Context, read[id]))
				}
			}
			ev := []string{fmt.Sprintf("data keys (cluster IDs): %s", strings.Join(keys, ", "))}
			if s.Annotation != "" {
				ev = append(ev, fmt.Sprintf("annotation %s=%s", mesh.ClusterAnnotation, s.Annotation))
			}
			fd := checks.NewMF4002(checks.MF4002Subjects{Primary: p.c.Context, Peers: contexts(ctxs...)[1:]}, checks.Details{
				Object:   secretRef(s),
				Message:  fmt.Sprintf("istiod of %s ignores remote secret %s: %s", p.c.Context, s.Ref(), strings.Join(why, "; and ")),
				Evidence: ev,
			})
			if len(readElsewhere) > 0 && len(readElsewhere) == len(ctxs)-1 {
				// Every peer it names is read from a secret istiod does
				// read: this one is a stale copy, not a missing peer.
				fd.Severity = checks.SeverityWarning
				fd.Message += fmt.Sprintf("; istiod reads %s, so this copy is only stale", strings.Join(readElsewhere, " and "))
			}
			out = append(out, fd)
		}
	}
	return out
}

// ownKey (MF4003): a data key equal to the primary's own cluster ID, which
// istiod skips ("would overwrite the config cluster").
func ownKey(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for r := range readEntries(f) {
		p, s, e := r.p, r.s, r.e
		if e.Key != p.id.ClusterID {
			continue
		}
		msg := fmt.Sprintf("remote secret %s in %s has data key %q, %s's own cluster ID: istiod ignores it", s.Ref(), p.c.Context, e.Key, p.c.Context)
		ctxs := []string{p.c.Context}
		ev := []string{fmt.Sprintf("%s's cluster ID is %q (%s)", p.c.Context, p.id.ClusterID, p.id.ClusterIDSource)}
		sev := checks.SeverityWarning // an entry that does nothing
		if t := targetOf(f, p, s, e); t != nil && t.c != p.c {
			tid := mesh.Identify(t.c).ClusterID
			ctxs = append(ctxs, t.c.Context)
			ev = append(ev, t.how)
			if from := mesh.RemoteSecretKeys(p.c)[tid]; tid != "" && from != "" {
				// The peer it points at is read from another entry.
				msg += fmt.Sprintf("; it points at %s, which istiod reads from %s, so this entry only does nothing", t.c.Context, from)
			} else {
				// It was meant for a peer, which istiod therefore never reads.
				sev = checks.SeverityError
				msg += fmt.Sprintf("; it points at %s, whose cluster ID is %s: the key should be that, and until it is istiod does not read %s", t.c.Context, checks.Quote(tid, "not known"), t.c.Context)
			}
		}
		out = append(out, checks.NewMF4003(checks.MF4003Subjects{Primary: p.c.Context, Peer: peerIn(ctxs)}, checks.Details{Severity: sev, Object: secretRef(s), Message: msg, Evidence: ev}))
	}
	return out
}

// annotationMismatch (MF4004): the networking.istio.io/cluster annotation
// names a cluster that is not a data key. istiod goes by the key; the
// annotation is what people (and istioctl) read.
func annotationMismatch(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, p := range primaries(f) {
		for _, s := range p.secrets {
			if !s.Read() || s.Annotation == "" || len(s.Entries) == 0 {
				continue
			}
			var keys []string
			found, keyWrong := false, false
			for _, e := range s.Entries {
				keys = append(keys, e.Key)
				found = found || e.Key == s.Annotation
				_, wrong := judgeTarget(f, p, s, e)
				keyWrong = keyWrong || e.Key == p.id.ClusterID || (e.Err == "" && wrong)
			}
			if found || keyWrong {
				continue // agreeing, or the key itself is wrong (MF4003, MF4007)
			}
			out = append(out, checks.NewMF4004(checks.MF4004Subjects{Primary: p.c.Context}, checks.Details{
				Object:  secretRef(s),
				Message: fmt.Sprintf("remote secret %s in %s is annotated %s=%s, but its data key is %s: istiod registers the cluster by the key", s.Ref(), p.c.Context, mesh.ClusterAnnotation, s.Annotation, strings.Join(keys, ", ")),
			}))
		}
	}
	return out
}

// badKubeconfig (MF4005): a data value istiod cannot load as a kubeconfig
// (the cluster then never appears in clusterz).
func badKubeconfig(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for r := range readEntries(f) {
		p, s, e := r.p, r.s, r.e
		if e.Err == "" || e.Unread || e.Key == p.id.ClusterID {
			continue
		}
		out = append(out, checks.NewMF4005(checks.MF4005Subjects{Primary: p.c.Context, Peer: peerWithID(f, p.c.Context, e.Key)}, checks.Details{
			Object:  secretRef(s),
			Message: fmt.Sprintf("remote secret %s in %s: the kubeconfig for cluster %q cannot be used: %s; istiod never adds that cluster", s.Ref(), p.c.Context, e.Key, e.Err),
		}))
	}
	return out
}

// loopbackServer (MF4006): the kubeconfig's server is localhost or a
// loopback address; the istiod reading it runs in a pod, where that is the
// pod itself (a kind kubeconfig, typically).
func loopbackServer(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for r := range readEntries(f) {
		p, s, e := r.p, r.s, r.e
		if e.Err != "" || e.Key == p.id.ClusterID || !mesh.LoopbackServer(e.Server) {
			continue
		}
		out = append(out, checks.NewMF4006(checks.MF4006Subjects{Primary: p.c.Context, Peer: peerWithID(f, p.c.Context, e.Key)}, checks.Details{
			Object:   secretRef(s),
			Message:  fmt.Sprintf("remote secret %s in %s points istiod at %s for cluster %q: from istiod's pod that is the pod itself, so the cluster times out", s.Ref(), p.c.Context, e.Server, e.Key),
			Evidence: []string{fmt.Sprintf("istiod runs in %s as a workload (%s)", p.c.Context, p.id.ClusterIDSource)},
		}))
	}
	return out
}

// wrongTarget (MF4007): an entry whose key is one cluster ID but whose
// kubeconfig reaches another cluster (or the primary itself): istiod files
// that cluster's services under the wrong ID.
func wrongTarget(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for r := range readEntries(f) {
		p, s, e := r.p, r.s, r.e
		// Where the entry cannot be judged, the check that can explains it:
		// not a pass of this one.
		switch {
		case e.Err != "":
			out = append(out, checks.ReportedUnder("MF4005", contexts(p.c.Context, peerWithID(f, p.c.Context, e.Key))...))
			continue
		case e.Key == p.id.ClusterID:
			out = append(out, checks.ReportedUnder("MF4003", contexts(p.c.Context, peerWithID(f, p.c.Context, e.Key))...))
			continue
		case mesh.LoopbackServer(e.Server):
			out = append(out, checks.ReportedUnder("MF4006", contexts(p.c.Context, peerWithID(f, p.c.Context, e.Key))...))
			continue
		}
		if fd, ok := judgeTarget(f, p, s, e); ok {
			out = append(out, fd)
		}
	}
	return out
}

func judgeTarget(f *model.Fleet, p primary, s mesh.RemoteSecret, e mesh.RemoteEntry) (checks.Finding, bool) {
	named := clusterWithID(f, e.Key)
	t := targetOf(f, p, s, e)
	if t == nil {
		cp := credentialProbe(f, p.c.Context, s.Ref(), e.Key)
		if cp == nil || cp.KubeSystemUID == "" || named == nil || named.KubeSystemUID == "" {
			return checks.Finding{}, false // nothing tells where it points
		}
		return checks.NewMF4007(checks.MF4007Subjects{Primary: p.c.Context, Peers: []string{named.Context}}, checks.Details{
			Object:   secretRef(s),
			Message:  fmt.Sprintf("remote secret %s in %s, key %q, reaches a cluster that is not %s: kube-system UID %s, not %s", s.Ref(), p.c.Context, e.Key, named.Context, cp.KubeSystemUID, named.KubeSystemUID),
			Evidence: []string{fmt.Sprintf("server %s, probed from %s", e.Server, f.Probes.From)},
		}), true
	}
	tid := mesh.Identify(t.c).ClusterID
	switch {
	case t.c == p.c:
		ctxs := []string{p.c.Context}
		if named != nil {
			ctxs = append(ctxs, named.Context) // the peer istiod then misses
		}
		return checks.NewMF4007(checks.MF4007Subjects{Primary: p.c.Context, Peers: contexts(ctxs...)[1:]}, checks.Details{
			Object:   secretRef(s),
			Message:  fmt.Sprintf("remote secret %s in %s, key %q, points back at %s itself", s.Ref(), p.c.Context, e.Key, p.c.Context),
			Evidence: []string{t.how},
		}), true
	case tid != "" && tid != e.Key:
		ctxs := []string{p.c.Context, t.c.Context}
		msg := fmt.Sprintf("remote secret %s in %s has key %q but points at %s, whose cluster ID is %q: istiod registers %s's services as cluster %q", s.Ref(), p.c.Context, e.Key, t.c.Context, tid, t.c.Context, e.Key)
		if named != nil {
			ctxs = append(ctxs, named.Context)
			msg += fmt.Sprintf(", and reads nothing of %s", named.Context)
		}
		return checks.NewMF4007(checks.MF4007Subjects{Primary: p.c.Context, Peers: contexts(ctxs...)[1:]}, checks.Details{Object: secretRef(s), Message: msg, Evidence: []string{t.how}}), true
	}
	return checks.Finding{}, false
}

// covers reports whether any secret of p, read or not, is meant for r: a key
// equal to r's cluster ID, or a kubeconfig that points at r. MF4001 is for
// peers no secret is meant for; the others are reported by the check that
// says what is wrong with the secret.
func covers(f *model.Fleet, p primary, r *model.Cluster, rid string) bool {
	for _, s := range p.secrets {
		for _, e := range s.Entries {
			if e.Key == rid {
				return true
			}
			if t := targetOf(f, p, s, e); t != nil && t.c == r {
				return true
			}
		}
	}
	return false
}

// duplicateKey (MF4013): two remote secrets istiod reads name the same
// cluster ID. istiod registers the cluster from whichever it processes
// first and ignores the others ("cluster has already been registered",
// pkg/kube/multicluster/secretcontroller.go addRemoteConfig). Its
// /debug/clusterz names the secret it kept: the finding says which one is
// in use and which is the ignored duplicate, with what each one's
// credentials get from the peer's API server. Without istiod's view it
// says which one istiod keeps when it starts: its informer lists the
// secrets by namespace/name and the queue takes them in that order.
func duplicateKey(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, p := range primaries(f) {
		holders, order := p.holders()
		for _, k := range order {
			ss := holders[k]
			if len(ss) < 2 {
				continue
			}
			out = append(out, duplicateFinding(f, p, k, ss))
		}
	}
	return out
}

func duplicateFinding(f *model.Fleet, p primary, key string, ss []mesh.RemoteSecret) checks.Finding {
	var refs []string
	for _, s := range ss {
		refs = append(refs, s.Ref())
	}
	first := refs[0] // the one istiod keeps when it starts
	subjects := checks.MF4013Subjects{Primary: p.c.Context, Peer: peerWithID(f, p.c.Context, key)}
	var used []string
	if f.Probes != nil {
		used = f.Probes.SecretsInUse(p.c.Context, key)
	}
	credentials := func(ref string) string { return describeCredentials(f, p.c.Context, ref, key) }
	switch {
	case len(used) == 1 && slices.Contains(refs, used[0]):
		inUse := used[0]
		var ignored []string
		for _, r := range refs {
			if r != inUse {
				ignored = append(ignored, r)
			}
		}
		ev := []string{fmt.Sprintf("in use: %s (istiod's /debug/clusterz names it for %q); %s", inUse, key, credentials(inUse))}
		for _, r := range ignored {
			ev = append(ev, fmt.Sprintf("ignored duplicate: %s; %s", r, credentials(r)))
		}
		restart := fmt.Sprintf("at a restart istiod lists the secrets by namespace/name and keeps the first, %s", first)
		if first == inUse {
			restart += ", the one in use"
		} else {
			restart += ", not the one in use: a restart switches the link to it"
		}
		ev = append(ev, restart)
		msg := fmt.Sprintf("%d remote secrets in %s name cluster %q: istiod uses %s and ignores %s as a duplicate", len(refs), p.c.Context, key, inUse, strings.Join(ignored, " and "))
		if w := working(f, p.c.Context, key, ignored); len(w) > 0 && !credentialsWork(f, p.c.Context, inUse, key) {
			msg += fmt.Sprintf("; the one in use does not work (%s), while the ignored %s does", credentials(inUse), strings.Join(w, " and "))
		}
		for _, r := range ignored {
			if cp := credentialProbe(f, p.c.Context, r, key); cp != nil && cp.Outcome == model.CredUnauthorized {
				msg += fmt.Sprintf("; the API server rejects the token of %s (401): a fault of that secret wherever it is used, which would cut istiod off %q were it ever the one istiod reads", r, key)
			}
		}
		return checks.NewMF4013(subjects, checks.Details{Object: secretObject(ignored[0]), Message: msg, Evidence: ev})
	case len(used) > 1:
		return checks.NewMF4013(subjects, checks.Details{Object: secretObject(refs[len(refs)-1]),
			Message: fmt.Sprintf("%d remote secrets in %s name cluster %q (%s), and istiod's replicas do not agree which one they use (%s): each kept the one it read first", len(refs), p.c.Context, key, strings.Join(refs, ", "), strings.Join(used, ", ")),
		})
	}
	ev := []string{fmt.Sprintf("which one istiod uses now is not known: its /debug/clusterz %s", clusterzState(f, p.c.Context, key))}
	for _, r := range refs {
		ev = append(ev, fmt.Sprintf("%s: %s", r, credentials(r)))
	}
	return checks.NewMF4013(subjects, checks.Details{Object: secretObject(refs[1]),
		Message:  fmt.Sprintf("%d remote secrets in %s name cluster %q (%s): istiod uses whichever it reads first and ignores the others; when it starts, that is %s (it lists them by namespace/name)", len(refs), p.c.Context, key, strings.Join(refs, ", "), first),
		Evidence: ev,
	})
}

// holders lists, per cluster ID other than the primary's own, the secrets
// istiod reads that name it, sorted by namespace/name: the order istiod's
// informer lists them in when it starts. order holds the IDs as first seen.
func (p primary) holders() (map[string][]mesh.RemoteSecret, []string) {
	by := map[string][]mesh.RemoteSecret{}
	var order []string
	for s, e := range p.readEntries() {
		if e.Key == p.id.ClusterID {
			continue
		}
		if _, ok := by[e.Key]; !ok {
			order = append(order, e.Key)
		}
		by[e.Key] = append(by[e.Key], s)
	}
	for _, ss := range by {
		sort.Slice(ss, func(i, j int) bool { return ss[i].Ref() < ss[j].Ref() })
	}
	return by, order
}

// ignoredDuplicate reports whether istiod's view says it registered the
// cluster key from a secret other than ref: ref is then a duplicate istiod
// ignores, reported by MF4013, and judging the link by it would contradict
// istiod.
func ignoredDuplicate(f *model.Fleet, context, ref, key string) bool {
	if f.Probes == nil {
		return false
	}
	used := f.Probes.SecretsInUse(context, key)
	return len(used) > 0 && !slices.Contains(used, ref)
}

// describeCredentials says what the peer's API server made of a secret's
// credentials, called from this machine.
func describeCredentials(f *model.Fleet, context, ref, key string) string {
	cp := credentialProbe(f, context, ref, key)
	switch {
	case cp == nil:
		return "its credentials were not probed"
	case cp.Outcome == model.CredOK:
		return fmt.Sprintf("its credentials work (kube-system UID %s, from %s)", cp.KubeSystemUID, f.Probes.From)
	case cp.Outcome == model.CredNotRun:
		return "its credentials were not probed: " + cp.Detail
	}
	if what, ok := credentialFailure[cp.Outcome]; ok {
		return fmt.Sprintf("%s, seen from %s", what, f.Probes.From)
	}
	return fmt.Sprintf("its credentials get %s from %s", cp.Outcome, f.Probes.From)
}

// credentialsWork reports whether the probe of a secret's entry
// authenticated and the reader's permissions were all granted.
func credentialsWork(f *model.Fleet, context, ref, key string) bool {
	cp := credentialProbe(f, context, ref, key)
	return cp != nil && cp.Outcome == model.CredOK && len(cp.RBACDenied) == 0
}

// working keeps the refs whose credentials work.
func working(f *model.Fleet, context, key string, refs []string) []string {
	var out []string
	for _, r := range refs {
		if credentialsWork(f, context, r, key) {
			out = append(out, r)
		}
	}
	return out
}

// clusterzState says why istiod's view does not name the secret in use.
func clusterzState(f *model.Fleet, context, key string) string {
	if f.Probes == nil || len(f.Probes.IstiodViews(context)) == 0 {
		return "was not read"
	}
	for _, v := range f.Probes.IstiodViews(context) {
		if v.Read() {
			return fmt.Sprintf("does not list cluster %q", key)
		}
	}
	return "could not be read"
}

// peerIn is the peer of a finding whose contexts are its primary and, when
// known, one peer.
func peerIn(ctxs []string) string {
	if len(ctxs) > 1 {
		return ctxs[1]
	}
	return ""
}

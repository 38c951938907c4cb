package discovery

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// TokenWarn is how close to its expiry a remote secret's token is reported.
const TokenWarn = 7 * 24 * time.Hour

// The checks of this file read the probes' results, which the runner's view
// of the fleet keeps; their catalog entries need identity and secrets, so a
// cluster where those could not be read is "unknown" for them, with the
// reason, and its probe results are not judged here.

var credentialFailure = map[model.CredentialOutcome]string{
	model.CredUnauthorized: "the API server rejects the credentials (401 Unauthorized)",
	model.CredTLS:          "the API server's certificate does not verify against the kubeconfig's certificate-authority-data",
	model.CredUnreachable:  "the API server cannot be reached",
	model.CredTimeout:      "the API server did not answer in time",
	model.CredError:        "the call failed",
}

// credentialProbes yields the credential probes of the primaries in f: in
// the runner's view, those whose identity and secrets were read.
func credentialProbes(f *model.Fleet) iter.Seq[model.CredentialProbe] {
	return func(yield func(model.CredentialProbe) bool) {
		for _, cp := range f.Probes.Credentials {
			if f.Cluster(cp.Context) == nil {
				continue
			}
			if !yield(cp) {
				return
			}
		}
	}
}

// notSynced keeps the replicas that do not report the cluster synced.
func notSynced(sts []model.ReplicaStatus) []model.ReplicaStatus {
	var out []model.ReplicaStatus
	for _, s := range sts {
		if s.Status != "synced" {
			out = append(out, s)
		}
	}
	return out
}

// tokenExpired reports whether the probe saw a token that had expired by
// the time the probes ran.
func tokenExpired(f *model.Fleet, cp model.CredentialProbe) bool {
	return cp.TokenExpiry != nil && !cp.TokenExpiry.After(f.Probes.Deadline)
}

// credentialsFail (MF4008): this machine, with a remote secret's own
// credentials, is rejected by or cannot reach the peer's API server. When
// istiod's view was read and shows the peer not synced, MF4011 reports it
// with this result as the explanation; when istiod shows it synced, only the
// path from this machine fails, and the finding says so (info).
func credentialsFail(f *model.Fleet) []checks.Finding {
	if f.Probes == nil {
		return nil
	}
	var out []checks.Finding
	for cp := range credentialProbes(f) {
		what, failed := credentialFailure[cp.Outcome]
		if !failed {
			continue
		}
		if cp.Outcome == model.CredUnauthorized && tokenExpired(f, cp) {
			out = append(out, checks.ReportedUnder("MF4009", contexts(cp.Context, peerWithID(f, cp.Context, cp.Key))...)) // it says why it is rejected
			continue
		}
		if ignoredDuplicate(f, cp.Context, cp.Secret, cp.Key) {
			// istiod reads the cluster from another secret: this one is an
			// ignored duplicate, and MF4013 says so with this result.
			out = append(out, checks.ReportedUnder("MF4013", contexts(cp.Context, peerWithID(f, cp.Context, cp.Key))...))
			continue
		}
		statuses := model.ClusterStatuses(f.Probes.IstiodViews(cp.Context), cp.Key)
		if len(notSynced(statuses)) > 0 {
			out = append(out, checks.ReportedUnder("MF4011", contexts(cp.Context, peerWithID(f, cp.Context, cp.Key))...)) // with this probe as its explanation
			continue
		}
		fd := checks.NewMF4008(checks.MF4008Subjects{Primary: cp.Context, Peer: peerWithID(f, cp.Context, cp.Key)}, checks.Details{
			Object:   secretObject(cp.Secret),
			Message:  fmt.Sprintf("remote secret %s in %s, cluster %q at %s: from %s, %s", cp.Secret, cp.Context, cp.Key, cp.Server, f.Probes.From, what),
			Evidence: []string{"probe: " + string(cp.Outcome) + detail(cp.Detail)},
		})
		switch {
		case len(statuses) == 0:
		case cp.Outcome == model.CredUnauthorized:
			// A rejected token is rejected from wherever it is presented:
			// istiod's synced state lives on connections it opened before,
			// and ends when they are re-established.
			fd.Message += fmt.Sprintf("; istiod of %s still reports %q synced from this secret, on connections it opened before: the token is rejected wherever it is presented, so istiod loses the cluster when it reconnects or restarts", cp.Context, cp.Key)
		default:
			fd.Severity = checks.SeverityInfo
			fd.Message += fmt.Sprintf("; but istiod of %s reports %q synced, so only the path from %s fails, not istiod's", cp.Context, cp.Key, f.Probes.From)
		}
		out = append(out, fd)
	}
	return out
}

// tokenExpiry (MF4009): the token of a remote secret is a JWT that has
// expired, or expires within TokenWarn, when the probes ran.
func tokenExpiry(f *model.Fleet) []checks.Finding {
	if f.Probes == nil {
		return nil
	}
	var out []checks.Finding
	for cp := range credentialProbes(f) {
		if cp.TokenExpiry == nil {
			continue
		}
		left := cp.TokenExpiry.Sub(f.Probes.Deadline)
		if left > TokenWarn {
			continue
		}
		fd := checks.NewMF4009(checks.MF4009Subjects{Primary: cp.Context, Peer: peerWithID(f, cp.Context, cp.Key)}, checks.Details{
			Object:   secretObject(cp.Secret),
			Evidence: []string{fmt.Sprintf("token subject %s, expiry %s (from its claims, unverified)", cp.TokenSubject, cp.TokenExpiry.UTC().Format(time.RFC3339))},
		})
		if left <= 0 {
			fd.Message = fmt.Sprintf("the token of remote secret %s in %s (cluster %q) expired at %s: istiod can no longer read that cluster", cp.Secret, cp.Context, cp.Key, cp.TokenExpiry.UTC().Format(time.RFC3339))
		} else {
			fd.Severity = checks.SeverityWarning
			fd.Message = fmt.Sprintf("the token of remote secret %s in %s (cluster %q) expires in %s", cp.Secret, cp.Context, cp.Key, left.Round(time.Minute))
		}
		out = append(out, fd)
	}
	return out
}

// readerRBAC (MF4010): the remote secret's identity lacks permissions of
// Istio's reader ClusterRole on the peer.
func readerRBAC(f *model.Fleet) []checks.Finding {
	if f.Probes == nil {
		return nil
	}
	var out []checks.Finding
	for cp := range credentialProbes(f) {
		switch {
		case len(cp.RBACDenied) > 0:
			out = append(out, checks.NewMF4010(checks.MF4010Subjects{Primary: cp.Context, Peer: peerWithID(f, cp.Context, cp.Key)}, checks.Details{
				Object:   secretObject(cp.Secret),
				Message:  fmt.Sprintf("the identity of remote secret %s in %s may not %s on cluster %q: istiod's reader needs all of them", cp.Secret, cp.Context, strings.Join(cp.RBACDenied, ", "), cp.Key),
				Evidence: []string{fmt.Sprintf("%d of %d SelfSubjectAccessReviews refused, asked from %s as %s", len(cp.RBACDenied), cp.RBACChecked, f.Probes.From, subject(cp))},
			}))
		case cp.RBACError != "":
			out = append(out, checks.NewMF4010(checks.MF4010Subjects{Primary: cp.Context, Peer: peerWithID(f, cp.Context, cp.Key)}, checks.Details{
				Severity: checks.SeverityUnknown,
				Object:   secretObject(cp.Secret),
				Message:  fmt.Sprintf("the permissions of remote secret %s in %s on cluster %q could not be reviewed: %s", cp.Secret, cp.Context, cp.Key, cp.RBACError),
			}))
		}
	}
	return out
}

// istiodView (MF4011): every istiod replica of each primary must report
// every peer it has a usable remote secret for as synced. A peer that is not
// is explained by what the credential probe saw; when the probe from this
// machine succeeds where istiod fails, the path from istiod is what is
// broken. Replicas that disagree are named: they read the same secrets, so
// what differs is the replica.
func istiodView(f *model.Fleet) []checks.Finding {
	if f.Probes == nil {
		return nil
	}
	var out []checks.Finding
	for _, p := range primaries(f) {
		views := f.Probes.IstiodViews(p.c.Context)
		if len(views) == 0 {
			continue
		}
		obj := &checks.ObjectRef{Kind: "Deployment", Namespace: p.c.IstioNamespace, Name: mesh.IstiodApp}
		var read []model.IstiodView
		var evidence []string
		for _, v := range views {
			if v.Read() {
				read = append(read, v)
				evidence = append(evidence, fmt.Sprintf("/debug/clusterz of %s (%s)", v.Replica(), v.Address))
				continue
			}
			out = append(out, unreadView(p, v, obj))
		}
		if len(read) == 0 {
			continue
		}
		expected := map[string]bool{}
		for s, e := range p.readEntries() {
			if e.Key == p.id.ClusterID {
				continue
			}
			expected[e.Key] = true
			if ignoredDuplicate(f, p.c.Context, s.Ref(), e.Key) {
				continue // istiod reads the cluster from another secret (MF4013)
			}
			statuses := model.ClusterStatuses(read, e.Key)
			behind := notSynced(statuses)
			if len(behind) == 0 {
				continue
			}
			cp := credentialProbe(f, p.c.Context, s.Ref(), e.Key)
			disagree := len(behind) < len(statuses)
			if !disagree && explainedElsewhere(f, p, s, e, cp) {
				continue // istiod agrees with the finding that names the cause
			}
			if peerCluster := peerOf(f, p, e); !disagree && peerCluster != nil && len(crdSkews(p, peerCluster)) > 0 {
				// The peer does not serve a version istiod lists: istiod
				// never syncs it, whatever the secret and the path.
				out = append(out, checks.ReportedUnder("MF4035", contexts(p.c.Context, peerCluster.Context)...))
				continue
			}
			peer := peerWithID(f, p.c.Context, e.Key)
			if cp != nil {
				peer = peerWithID(f, cp.Context, cp.Key)
			}
			why := explain(f, p, s, e, behind[0].Status, cp, logsOf(read))
			if w := workingDuplicates(f, p, s, e.Key); len(w) > 0 {
				why += fmt.Sprintf("; %s also names %q and its credentials work, but istiod ignores it as a duplicate of %s (MF4013)", strings.Join(w, " and "), e.Key, s.Ref())
			}
			msg := fmt.Sprintf("istiod of %s %s: %s", p.c.Context, describeStatuses(e.Key, statuses), why)
			if disagree {
				msg = fmt.Sprintf("istiod replicas of %s disagree: %s. They read the same remote secret, so what differs is the replica (its pod's network or node, or a restart it has not recovered from); for the ones behind: %s",
					p.c.Context, describeStatuses(e.Key, statuses), why)
			}
			out = append(out, checks.NewMF4011(checks.MF4011Subjects{Primary: p.c.Context, Peer: peer}, checks.Details{
				Object: obj, Message: msg,
				Evidence: append(append([]string(nil), evidence...), fmt.Sprintf("remote secret %s, server %s", s.Ref(), e.Server)),
			}))
		}
		for _, v := range read {
			for _, c := range v.Clusters {
				if c.ID == p.id.ClusterID || expected[c.ID] || c.SyncStatus == "synced" {
					continue
				}
				out = append(out, checks.NewMF4011(checks.MF4011Subjects{Primary: p.c.Context}, checks.Details{
					Severity: checks.SeverityWarning, Object: obj,
					Message: fmt.Sprintf("%s of %s reports cluster %q %s, from %s, which holds no remote secret entry the doctor read for it", v.Replica(), p.c.Context, c.ID, c.SyncStatus, c.SecretName),
				}))
			}
		}
	}
	return out
}

// workingDuplicates lists the other secrets of p istiod reads that name
// key and whose credentials work, when istiod's view says it uses s.
func workingDuplicates(f *model.Fleet, p primary, s mesh.RemoteSecret, key string) []string {
	if f.Probes == nil || !slices.Contains(f.Probes.SecretsInUse(p.c.Context, key), s.Ref()) {
		return nil
	}
	holders, _ := p.holders()
	var others []string
	for _, o := range holders[key] {
		if o.Ref() != s.Ref() {
			others = append(others, o.Ref())
		}
	}
	return working(f, p.c.Context, key, others)
}

// unreadView is the unknown finding for an istiod view that could not be
// read; a replica read through a port-forward is named as its Pod.
func unreadView(p primary, v model.IstiodView, deployment *checks.ObjectRef) checks.Finding {
	why := v.NotRun
	if why == "" {
		why = fmt.Sprintf("reading /debug/clusterz (%s) failed: %s", v.Address, v.Error)
	}
	fd := checks.NewMF4011(checks.MF4011Subjects{Primary: p.c.Context}, checks.Details{
		Severity: checks.SeverityUnknown, Object: deployment,
		Message: fmt.Sprintf("istiod's own view of %s's remote clusters is unknown: %s", p.c.Context, why),
	})
	if ns, name, ok := strings.Cut(v.Pod, "/"); ok {
		fd.Object = &checks.ObjectRef{Kind: "Pod", Namespace: ns, Name: name}
		fd.Message = fmt.Sprintf("the view of %s's remote clusters of istiod replica %s is unknown: %s", p.c.Context, name, why)
	}
	return fd
}

// describeStatuses says what the replicas report of a cluster, naming the
// replicas when they were read one by one.
func describeStatuses(id string, sts []model.ReplicaStatus) string {
	var order []string
	by := map[string][]string{}
	for _, s := range sts {
		if _, ok := by[s.Status]; !ok {
			order = append(order, s.Status)
		}
		by[s.Status] = append(by[s.Status], s.Replica)
	}
	phrase := func(status string, plural bool) string {
		verb := map[bool][2]string{false: {"does not list", "reports"}, true: {"do not list", "report"}}[plural]
		if status == model.StatusMissing {
			return fmt.Sprintf("%s cluster %q", verb[0], id)
		}
		return fmt.Sprintf("%s cluster %q %s", verb[1], id, status)
	}
	var parts []string
	for _, st := range order {
		replicas := by[st]
		switch {
		case len(replicas) == 1 && replicas[0] == "istiod":
			parts = append(parts, phrase(st, false)) // a debug address: the control plane as a whole
		case len(replicas) == 1:
			parts = append(parts, fmt.Sprintf("replica %s %s", replicas[0], phrase(st, false)))
		default:
			parts = append(parts, fmt.Sprintf("replicas %s %s", strings.Join(replicas, ", "), phrase(st, true)))
		}
	}
	return strings.Join(parts, "; ")
}

// explainedElsewhere reports whether another discovery check already names
// the cause of a peer istiod has not synced: a kubeconfig istiod cannot load
// (MF4005), a loopback server (MF4006), a secret pointing at another cluster
// (MF4007), an expired token (MF4009), missing reader permissions (MF4010).
// Reporting istiod's state as well would tell one fact twice.
func explainedElsewhere(f *model.Fleet, p primary, s mesh.RemoteSecret, e mesh.RemoteEntry, cp *model.CredentialProbe) bool {
	if e.Err != "" || mesh.LoopbackServer(e.Server) {
		return true
	}
	if _, wrong := judgeTarget(f, p, s, e); wrong {
		return true
	}
	return cp != nil && (len(cp.RBACDenied) > 0 || (cp.Outcome == model.CredUnauthorized && tokenExpired(f, *cp)))
}

// explain says why istiod does not have a peer synced, from the probe.
func explain(f *model.Fleet, p primary, s mesh.RemoteSecret, e mesh.RemoteEntry, status string, cp *model.CredentialProbe, logs istiodLogs) string {
	if status == model.StatusMissing {
		return "it has not loaded remote secret " + s.Ref() + " (an istiod that has not caught up, or a second secret for the same cluster ID)"
	}
	if mesh.LoopbackServer(e.Server) {
		return fmt.Sprintf("its server %s is istiod's own pod (MF4006)", e.Server)
	}
	if cp == nil {
		return "no credential probe ran to tell why"
	}
	from := f.Probes.From
	switch {
	case cp.Outcome == model.CredOK || cp.Outcome == model.CredForbidden:
		if len(cp.RBACDenied) > 0 {
			return fmt.Sprintf("its credentials authenticate from %s but may not %s (MF4010)", from, strings.Join(cp.RBACDenied, ", "))
		}
		if frag := logs.about(e.Server, pathFailure); frag != "" {
			return fmt.Sprintf("istiod's log says %q: the path from %s's istiod to %s is broken (firewall, private endpoint, DNS or proxy seen only from there), while from %s the same credentials work (kube-system UID %s)",
				frag, p.c.Context, e.Server, from, cp.KubeSystemUID)
		}
		return fmt.Sprintf("cause unknown: from %s, %s answers these very credentials (kube-system UID %s), so the credentials are good and the server is up; %s; %s; what is left is the path from %s's istiod to %s (firewall, private endpoint, DNS or proxy seen only from there), or something else only istiod sees",
			from, e.Server, cp.KubeSystemUID, servedWords(f, p, e), logs.describe(e.Server), p.c.Context, e.Server)
	case cp.Outcome == model.CredUnauthorized && tokenExpired(f, *cp):
		return fmt.Sprintf("its token expired at %s (MF4009)", cp.TokenExpiry.UTC().Format(time.RFC3339))
	case cp.Outcome == model.CredUnauthorized:
		return fmt.Sprintf("the API server rejects the secret's token (401, from %s too): the token is wrong, revoked, or from another cluster", from)
	case cp.Outcome == model.CredTLS:
		return fmt.Sprintf("the server's certificate does not verify against the secret's CA (from %s too): %s", from, cp.Detail)
	case cp.Outcome == model.CredUnreachable || cp.Outcome == model.CredTimeout:
		return fmt.Sprintf("%s cannot reach %s either (%s): the server address is wrong or down, or unreachable from both", from, e.Server, cp.Outcome)
	case cp.Outcome == model.CredNotRun:
		return "the credential probe did not run: " + cp.Detail
	}
	return fmt.Sprintf("the probe from %s failed too: %s", from, cp.Detail)
}

// servedWords says what the doctor saw of the peer's Istio APIs, which
// rules out a CRD version istiod lists and the peer does not serve.
func servedWords(f *model.Fleet, p primary, e mesh.RemoteEntry) string {
	peer := peerOf(f, p, e)
	if peer == nil {
		return fmt.Sprintf("cluster %q was not read, so whether it serves every version istiod lists is not known", e.Key)
	}
	if ok, why := peer.Readable(model.KindIstioAPIs); !ok {
		return fmt.Sprintf("whether %s serves every version istiod lists is not known (%s)", peer.Context, why)
	}
	return fmt.Sprintf("%s serves every Istio CRD version istiod lists from it", peer.Context)
}

// peerWithID names the cluster of the fleet whose ID a remote secret's key
// is, or "" when it is not in the fleet (or is the primary itself).
func peerWithID(f *model.Fleet, primary, key string) string {
	if r := clusterWithID(f, key); r != nil && r.Context != primary {
		return r.Context
	}
	return ""
}

func secretObject(ref string) *checks.ObjectRef {
	ns, name, _ := strings.Cut(ref, "/")
	return &checks.ObjectRef{Kind: "Secret", Namespace: ns, Name: name}
}

func subject(cp model.CredentialProbe) string {
	if cp.TokenSubject != "" {
		return cp.TokenSubject
	}
	return "the secret's identity"
}

func detail(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

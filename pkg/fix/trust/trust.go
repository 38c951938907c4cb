// Package trust plans the trust fixes: one intermediate per primary, issued
// from the mesh root the user gives (--root-cert/--root-key, or another
// pki.Issuer such as AWS Private CA), installed as the primary's `cacerts`
// secret in the layout the cluster already uses.
//
// What a fresh intermediate really fixes, and so what this fixer answers:
//   - MF2001 no common root: every primary then signs under the one root;
//   - MF2002 self-signed root: istiod prefers a plugged-in cacerts;
//   - MF2004 key/certificate mismatch, MF2005 unusable CA, MF2006 chain not
//     to the root: the new secret is a matching key, a CA certificate with
//     path length 0, and the chain up to the root it holds;
//   - MF2007 expired or expiring: when the intermediate is what expires (a
//     root that expires is refused: an intermediate cannot outlive it);
//   - MF2015 a CA constraint (a name constraint excluding the trust
//     domain, an extended key usage without serverAuth/clientAuth): the new
//     intermediate carries neither;
//   - MF2009 only for the CA secret (istiod rewrites a broken
//     istio-ca-root-cert ConfigMap itself once its CA loads);
//   - MF6001 a cluster not under the AWS Private CA's root (with the
//     Private CA as the issuer, fix --ca aws-pca).
//
// It does not answer MF2010 (a ConfigMap with a stray root: istiod's
// restart or another writer is the cause), MF2008 (weak crypto may sit in
// the root), MF2003/MF2013 (an external CA is not replaced behind its
// owner's back).
//
// The intermediate's key and certificate are made when applying, in the
// change's Complete, never to print a plan: a printed plan holds no key, a
// cloud CA issues nothing for a plan nobody applies, and the plan text is
// the same from run to run. Complete issues once per plan, on its first
// call (the engine's server-side dry run), so the dry run validates the
// very Secret the apply sends; an issuer outside this process (AWS Private
// CA, which records and bills each certificate) is asked only at the apply. With Options.IntermediateKeyDir the key is
// written there (mode 0600) on the first call that is not a dry run
// (fix.IsDryRun), before the Secret is applied: --dry-run=server and a
// failed dry run leave no key file, and if the file cannot be written the
// Secret is not applied, so the key never lives only in a cluster when the
// user asked for a copy. The plan text holds fingerprints only.
package trust

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	checktrust "github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// The checks whose findings a new intermediate answers.
const (
	noCommonRoot  checks.ID = "MF2001"
	selfSigned    checks.ID = "MF2002"
	keyMismatch   checks.ID = "MF2004"
	notUsableCA   checks.ID = "MF2005"
	chainNotRoot  checks.ID = "MF2006"
	expiry        checks.ID = "MF2007"
	unparseableCA checks.ID = "MF2009"
	caConstraint  checks.ID = "MF2015"
	notPCARoot    checks.ID = "MF6001"
)

// why says in a few words what each answered finding is about.
var why = map[checks.ID]string{
	noCommonRoot:  "it does not share a root with the other primaries",
	selfSigned:    "istiod signs with a self-signed root no other cluster can share",
	keyMismatch:   "its CA key is not the key of its certificate",
	notUsableCA:   "its signing certificate is not a usable CA",
	chainNotRoot:  "its signing chain does not lead to the root it distributes",
	expiry:        "a certificate of its CA is expired, not yet valid or expiring soon",
	unparseableCA: "its CA secret is incomplete or does not parse",
	caConstraint:  "a constraint of its CA makes peers refuse the certificates it signs",
	notPCARoot:    "it does not sign under the AWS Private CA's root",
}

// Fixer issues intermediates for the trust findings.
type Fixer struct{}

// New returns the trust fixer.
func New() Fixer { return Fixer{} }

// Answers lists the checks a new intermediate answers.
func (Fixer) Answers() []checks.ID {
	return []checks.ID{noCommonRoot, selfSigned, keyMismatch, notUsableCA, chainNotRoot, expiry, unparseableCA, caConstraint, notPCARoot}
}

// Plan turns the findings into one cacerts change per primary that needs one.
func (f Fixer) Plan(in fix.Input) (fix.Plan, error) {
	byContext := map[string][]checks.ID{}
	var all []checks.ID
	for _, fd := range in.FindingsOf(f.Answers()...) {
		if fd.Check == unparseableCA && (fd.Object == nil || fd.Object.Kind != "Secret") {
			continue
		}
		for _, ctx := range fd.Contexts {
			byContext[ctx] = addID(byContext[ctx], fd.Check)
		}
		all = addID(all, fd.Check)
	}
	if len(byContext) == 0 {
		return fix.Plan{}, nil
	}
	now := in.Options.Now
	if now.IsZero() {
		now = time.Now()
	}
	issuer, err := issuerOf(in.Options, now)
	if err != nil {
		return fix.Plan{}, err
	}
	if issuer == nil {
		return fix.Plan{Refused: []fix.Refusal{{Answers: all, Reason: "no mesh root to issue intermediates from: " +
			"make one with `kubectl meshfed ca init --out-dir DIR` (or use your organisation's root), then run " +
			"`kubectl meshfed fix --root-cert DIR/root-cert.pem --root-key DIR/root-key.pem`; or issue from an AWS Private CA " +
			"with `--ca aws-pca --pca-arn ARN`"}}}, nil
	}
	root := issuer.Root()
	limits := checktrust.DefaultOptions()
	if v := pki.CheckValidity(root, now, limits.CertWarn, limits.CertError); v != pki.Valid {
		return fix.Plan{}, fmt.Errorf("the root %s is %s: every intermediate issued from it would be too (an intermediate never outlives its issuer); make a new root (ca init) and migrate to it", pki.Describe(root), validityWord(v))
	}

	peers := map[string]checktrust.Peer{}
	for _, p := range checktrust.Peers(in.Fleet) {
		peers[p.Context] = p
	}
	var plan fix.Plan
	contexts := make([]string, 0, len(byContext))
	for ctx := range byContext {
		contexts = append(contexts, ctx)
	}
	sort.Strings(contexts)
	for _, ctx := range contexts {
		c := in.Fleet.Cluster(ctx)
		p, primary := peers[ctx]
		if c == nil || !primary {
			// A remote cluster has no CA of its own: its primary's answers
			// for it.
			continue
		}
		t := target{cluster: c, peer: p, answers: byContext[ctx], issuer: issuer, root: root, now: now, opts: in.Options, limits: limits}
		plan.Add(t.plan())
	}
	return plan, nil
}

// issuerOf is Options.Issuer, or a local issuer over Options.Root, or nil.
func issuerOf(o fix.Options, now time.Time) (pki.Issuer, error) {
	if o.Issuer != nil {
		return o.Issuer, nil
	}
	if o.Root == nil {
		return nil, nil
	}
	iss, err := pki.NewLocalIssuer(o.Root.Cert, o.Root.Chain, o.Root.Key, now)
	if err != nil {
		return nil, fmt.Errorf("--root-cert/--root-key cannot issue intermediates: %w", err)
	}
	return iss, nil
}

// target is one primary to plan for.
type target struct {
	cluster *model.Cluster
	peer    checktrust.Peer
	answers []checks.ID
	issuer  pki.Issuer
	root    *x509.Certificate
	now     time.Time
	opts    fix.Options
	limits  checktrust.Options
}

func (t target) refuse(format string, args ...any) fix.Plan {
	return fix.Plan{Refused: []fix.Refusal{{Context: t.peer.Context, Answers: t.answers, Reason: fmt.Sprintf(format, args...)}}}
}

func (t target) plan() fix.Plan {
	ca, ctx := t.peer.CA, t.peer.Context
	secret, hasSecret := findSecret(t.cluster, mesh.CACertsSecret)
	switch {
	case ca.Source == mesh.CAExternal:
		return t.refuse("istiod in %s does not sign workload certificates itself (%s); fix does not replace an external CA: make it issue under root %s",
			ctx, strings.Join(ca.External, "; "), pki.Describe(t.root))
	case hasSecret && secret.Annotations["cert-manager.io/certificate-name"] != "":
		return t.refuse("%s/%s is written by cert-manager (Certificate %s, issuer %s %s): a change here would be overwritten; make that issuer sign under root %s",
			secret.Namespace, secret.Name, secret.Annotations["cert-manager.io/certificate-name"], secret.Annotations["cert-manager.io/issuer-kind"],
			secret.Annotations["cert-manager.io/issuer-name"], pki.Describe(t.root))
	case hasSecret && hasKey(secret, mesh.KeyIstioGenerated):
		return t.refuse("%s/%s was written by istiod itself (key %s, USE_CACERTS_FOR_SELF_SIGNED_CA); a server-side apply cannot remove that key, so istiod would keep treating the secret as its own: delete the secret (istiod keeps running on the root it loaded), then run fix again",
			secret.Namespace, secret.Name, mesh.KeyIstioGenerated)
	case ca.Withheld:
		return t.refuse("the CA secret's values are not in this snapshot (read from a dump): run fix against the live cluster")
	}
	if t.sound(ca) {
		return fix.Plan{}
	}
	current := t.currentRoots()
	bundle := []*x509.Certificate{t.root}
	for _, r := range current {
		if !r.Equal(t.root) && pki.CheckValidity(r, t.now, 0, 0) == pki.Valid {
			bundle = append(bundle, r)
		}
	}
	var plan fix.Plan
	change := len(current) > 0 && !pki.ContainsCert(current, t.root)
	if change {
		plan.Notes = append(plan.Notes, fix.Note{Context: ctx, Answers: t.answers, Text: t.migrationNote(current, bundle)})
		if !t.opts.AllowRootChange {
			plan.Refused = append(plan.Refused, fix.Refusal{Context: ctx, Answers: t.answers, Reason: fmt.Sprintf(
				"%s trusts %s, not the given root %s: replacing a cluster's root breaks every connection until all its workloads have new certificates; pass --allow-root-change to install the new intermediate with a two-root bundle (see the note)",
				ctx, describeAll(current), pki.Describe(t.root))})
			return plan
		}
	}
	plan.Changes = append(plan.Changes, t.change(secret, hasSecret, ca, bundle))
	plan.Notes = append(plan.Notes, fix.Note{Context: ctx, Answers: t.answers, Text: t.restartNote()})
	return plan
}

// sound tells a cluster whose cacerts already do the job under the given
// root: a plugged-in CA whose key matches, that is a usable CA, whose chain
// verifies to that root (which root-cert.pem holds), and whose every
// certificate is valid beyond the warning window. Such a cluster gets no
// change: running fix twice changes nothing.
func (t target) sound(ca mesh.CA) bool {
	if ca.Source != mesh.CAPluggedIn || len(ca.Problems) > 0 || ca.Signing == nil || ca.Key() == nil || !ca.Key().Matches(ca.Signing) {
		return false
	}
	if !pki.ContainsCert(ca.Roots, t.root) || !pki.ContainsCert(ca.Chain, ca.Signing) {
		return false
	}
	path := pki.BuildPath(ca.Signing, append(append([]*x509.Certificate{}, ca.Chain...), t.root))
	if !path[len(path)-1].Equal(t.root) || len(pki.PathLenProblems(path)) > 0 {
		return false
	}
	if len(pki.ConstraintProblems(path, pki.SPIFFEID(t.peer.TrustDomain, "default", "default"))) > 0 {
		return false // its workload certificates are refused (MF2015)
	}
	for _, c := range path {
		if len(pki.CAProblems(c)) > 0 || pki.CheckValidity(c, t.now, t.limits.CertWarn, t.limits.CertError) != pki.Valid {
			return false
		}
	}
	_, err := pki.Verify(ca.Signing, ca.Chain, []*x509.Certificate{t.root}, t.now)
	return err == nil
}

// currentRoots are the roots the cluster's workloads trust now: those istiod
// distributes, or when its CA cannot be read, those of the
// istio-ca-root-cert ConfigMaps it published before.
func (t target) currentRoots() []*x509.Certificate {
	var out []*x509.Certificate
	add := func(cs []*x509.Certificate) {
		for _, c := range cs {
			if !pki.ContainsCert(out, c) {
				out = append(out, c)
			}
		}
	}
	add(t.peer.CA.Roots)
	if len(out) == 0 {
		for _, b := range t.peer.Bundles {
			add(b.Roots)
		}
	}
	return out
}

func (t target) clusterID() string {
	if id := mesh.Identify(t.cluster).ClusterID; id != "" {
		return id
	}
	return t.peer.Context
}

// change is the cacerts Secret with a new intermediate, in the cluster's
// layout (Istio's when it has none), its data made when applying.
func (t target) change(existing model.Secret, hasSecret bool, ca mesh.CA, bundle []*x509.Certificate) fix.Change {
	ns := t.cluster.IstioNamespace
	layout := "istio"
	if hasSecret && ca.Source == mesh.CAPluggedIn && ca.Layout == "tls" {
		layout = "tls"
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": mesh.CACertsSecret, "namespace": ns},
	}}
	// A Secret's type is immutable: keep the existing one.
	if hasSecret && existing.Type != "" {
		obj.Object["type"] = existing.Type
	}
	keys := []string{mesh.KeyCACert, mesh.KeyCAKey, mesh.KeyCertChain, mesh.KeyRootCert}
	if layout == "tls" {
		keys = []string{mesh.KeyTLSCert, mesh.KeyTLSKey, mesh.KeyTLSRoot}
	}
	// The keys, empty until applying: the plan shows them as filled in then.
	placeholders := map[string]any{}
	for _, k := range keys {
		placeholders[k] = ""
	}
	obj.Object["data"] = placeholders
	subject := pki.IntermediateSubject(organization(t.root), t.clusterID())
	is := &issuance{target: t, base: obj, layout: layout, bundle: bundle}

	verb := "create"
	if hasSecret {
		verb = "replace the CA material of"
	}
	reason := fmt.Sprintf("%s %s/%s with a new intermediate %q (%s key, CA:TRUE pathlen %d, keyCertSign, valid %s) issued from %s, in the %s layout, because %s. root-cert.pem will hold %s.",
		verb, ns, mesh.CACertsSecret, subject.String(), keyText, t.issuer.Template().PathLen, validityText(t.root, t.now), t.issuer.Describe(), layout,
		strings.Join(t.reasons(), "; "), describeAll(bundle))
	pending := fmt.Sprintf("data %s: a new %s key made on this machine and its certificate, issued when applying", strings.Join(keys, ", "), keyText)
	if t.opts.IntermediateKeyDir != "" {
		pending += "; the key is also written to " + filepath.Join(t.opts.IntermediateKeyDir, keyFileStem(t.peer.Context)+"-<fingerprint>-ca-key.pem") + " (mode 0600)"
	} else {
		pending += "; the key goes only into this Secret"
	}
	if hasSecret {
		// Every key of the CA material is rewritten: whoever wrote them
		// (kubectl create secret, an installer) owns them, and the apply
		// takes them over rather than conflict on each.
		reason += " The apply takes these keys over from the field manager that wrote them."
	}
	return fix.Change{Context: t.peer.Context, Object: obj, Answers: t.answers, Reason: reason, Phase: fix.PhaseIdentity,
		Complete: is.complete, Pending: pending, TakeOver: hasSecret}
}

// keyText describes the intermediate key every issuance makes
// (pki.DefaultIntermediateAlgorithm).
const keyText = "ECDSA P-256"

func (t target) reasons() []string {
	var out []string
	for _, id := range t.answers {
		out = append(out, why[id]+" ("+string(id)+")")
	}
	return out
}

func (t target) restartNote() string {
	ctx, ns := t.peer.Context, t.cluster.IstioNamespace
	return fmt.Sprintf("after cacerts changes in %s, restart istiod (kubectl --context %s -n %s rollout restart deployment/istiod): it reads its CA only when it starts, "+
		"and then republishes istio-ca-root-cert in every namespace; then restart the workloads (kubectl --context %s rollout restart deployment -n NAMESPACE for every injected namespace) "+
		"so that their certificates come from the new intermediate instead of waiting for their rotation (24 h by default)", ctx, ctx, ns, ctx)
}

func (t target) migrationNote(current, bundle []*x509.Certificate) string {
	kept := "the old root is expired or unreadable and is left out, so workloads still on it fail until they restart"
	if len(bundle) > 1 {
		kept = "root-cert.pem holds the new root and the old one (" + fingerprints(bundle[1:]) + ") during the transition, so certificates under either are trusted"
	}
	return fmt.Sprintf("%s moves from root %s to root %s, a multi-root migration: %s. "+
		"1) apply this in every primary; 2) restart istiod in each (it loads the new intermediate and publishes the two-root bundle; a running istiod takes a new root without restart only with ISTIO_MULTIROOT_MESH=true); "+
		"3) restart every workload, so that it gets a certificate from the new intermediate and the new bundle; "+
		"4) once no workload holds a certificate under the old root (after the restarts, or the certificate lifetime, 24 h by default), rewrite root-cert.pem in %s/%s with the new root alone and restart istiod again: kubectl meshfed never drops a root by itself",
		t.peer.Context, fingerprints(current), pki.Fingerprint(t.root.Raw), kept, t.cluster.IstioNamespace, mesh.CACertsSecret)
}

// issuance makes the intermediate when the change is applied, once.
type issuance struct {
	target target
	base   *unstructured.Unstructured
	layout string
	bundle []*x509.Certificate

	once   sync.Once
	obj    *unstructured.Unstructured
	issued pki.Issued
	key    *pki.Key
	err    error

	keep    sync.Once
	keepErr error
}

// complete issues on its first call, whatever the call is for, so that the
// dry run validates what the apply sends. The key file is written on the
// first call that is not a dry run, before the Secret is applied: if it
// cannot be written, nothing is applied.
func (is *issuance) complete(ctx context.Context, _ fix.Clients) (*unstructured.Unstructured, error) {
	if _, local := is.target.issuer.(*pki.LocalIssuer); fix.IsDryRun(ctx) && !local {
		// A CA outside this process (AWS Private CA) records and bills
		// every certificate: it is asked only when applying, and the dry
		// run validates the Secret without its data.
		return nil, fmt.Errorf("the intermediate is issued by %s only when applying", is.target.issuer.Describe())
	}
	is.once.Do(func() { is.obj, is.err = is.issue(ctx) })
	if is.err != nil {
		return nil, is.err
	}
	if dir := is.target.opts.IntermediateKeyDir; dir != "" && !fix.IsDryRun(ctx) {
		is.keep.Do(func() { is.keepErr = writeKeyFiles(dir, is.target.peer.Context, is.issued, is.key) })
		if is.keepErr != nil {
			return nil, is.keepErr
		}
	}
	return is.obj.DeepCopy(), nil
}

func (is *issuance) issue(ctx context.Context) (*unstructured.Unstructured, error) {
	t := is.target
	now := t.opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	// NewIntermediate refuses a certificate that cannot serve as istiod's
	// CA, or that does not chain to the root the plan named
	// (pki.CheckIssued), the same check ca issue makes: the Secret is not
	// applied unless it passed.
	out, key, err := pki.NewIntermediate(ctx, t.issuer, pki.IntermediateSpec{
		Subject: pki.IntermediateSubject(organization(t.root), t.clusterID()), DNSNames: []string{pki.IntermediateDNSName(t.cluster.IstioNamespace)},
		NotBefore: now, Validity: pki.DefaultIntermediateValidity, Root: t.root,
	})
	if err != nil {
		return nil, fmt.Errorf("issuing the intermediate for %s: %w", t.peer.Context, err)
	}
	keyPEM, err := key.PrivateKeyPEM()
	if err != nil {
		return nil, err
	}
	is.issued, is.key = out, key
	data := map[string][]byte{}
	if is.layout == "tls" {
		var chain []*x509.Certificate
		for _, c := range out.CertChain() {
			if !c.Equal(out.Root) {
				chain = append(chain, c)
			}
		}
		data[mesh.KeyTLSCert] = pki.EncodeCertificates(chain...)
		data[mesh.KeyTLSKey] = keyPEM
		data[mesh.KeyTLSRoot] = pki.EncodeCertificates(is.bundle...)
	} else {
		data[mesh.KeyCACert] = pki.EncodeCertificates(out.Cert)
		data[mesh.KeyCAKey] = keyPEM
		data[mesh.KeyCertChain] = pki.EncodeCertificates(out.CertChain()...)
		data[mesh.KeyRootCert] = pki.EncodeCertificates(is.bundle...)
	}
	obj := is.base.DeepCopy()
	enc := map[string]any{}
	for k, v := range data {
		enc[k] = base64.StdEncoding.EncodeToString(v)
	}
	obj.Object["data"] = enc
	return obj, nil
}

// writeKeyFiles keeps a copy of the intermediate's key (0600) and its
// certificate chain (0644) in dir, named after the context and the
// certificate's fingerprint so that no earlier key is ever overwritten.
func writeKeyFiles(dir, context string, out pki.Issued, key *pki.Key) error {
	keyPEM, err := key.PrivateKeyPEM()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--intermediate-key-dir: %v", err)
	}
	stem := filepath.Join(dir, keyFileStem(context)+"-"+keyFileID(out.Cert))
	if err := writeNew(stem+"-ca-key.pem", keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(stem+"-cert-chain.pem", pki.EncodeCertificates(out.CertChain()...), 0o644); err != nil {
		_ = os.Remove(stem + "-ca-key.pem")
		return err
	}
	return nil
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("--intermediate-key-dir: %v", err)
	}
	err = f.Chmod(perm) // exactly perm, whatever the umask
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("--intermediate-key-dir: writing %s: %v", path, err)
	}
	return nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// keyFileStem makes a context name (an EKS ARN has ':' and '/') a file name.
func keyFileStem(context string) string {
	return strings.Trim(unsafeChars.ReplaceAllString(context, "_"), "._")
}

// keyFileID is a certificate's fingerprint as a key file's name carries it:
// its hex digits only.
func keyFileID(c *x509.Certificate) string {
	return strings.NewReplacer("sha256 ", "", ":", "").Replace(pki.Fingerprint(c.Raw))
}

func organization(root *x509.Certificate) string {
	if len(root.Subject.Organization) > 0 {
		return root.Subject.Organization[0]
	}
	return pki.DefaultOrganization
}

func validityText(root *x509.Certificate, now time.Time) string {
	end := now.Add(pki.DefaultIntermediateValidity)
	if end.After(root.NotAfter) {
		return "until " + root.NotAfter.UTC().Format("2006-01-02") + ", the root's end"
	}
	return fmt.Sprintf("%d days", int(pki.DefaultIntermediateValidity.Hours()/24))
}

func validityWord(v pki.Validity) string {
	switch v {
	case pki.Expired:
		return "expired"
	case pki.NotYetValid:
		return "not yet valid"
	}
	return "expiring within the warning window"
}

func findSecret(c *model.Cluster, name string) (model.Secret, bool) {
	for _, s := range c.Secrets {
		if s.Namespace == c.IstioNamespace && s.Name == name {
			return s, true
		}
	}
	return model.Secret{}, false
}

func hasKey(s model.Secret, key string) bool {
	_, ok := s.Data[key]
	return ok
}

func addID(ids []checks.ID, id checks.ID) []checks.ID {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	ids = append(ids, id)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func describeAll(cs []*x509.Certificate) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = pki.Describe(c)
	}
	return strings.Join(parts, " and ")
}

func fingerprints(cs []*x509.Certificate) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = pki.Fingerprint(c.Raw)
	}
	return strings.Join(parts, ", ")
}

package trust

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// Peer is one primary as the trust checks see it: the CA its istiod signs
// with and the bundles its workloads trust.
type Peer struct {
	Context     string
	TrustDomain string
	Aliases     []string
	CA          mesh.CA
	// Bundles are the distinct trust bundles of the cluster's workloads.
	Bundles []Bundle
}

// Bundle is a set of roots that a group of workloads trusts.
type Bundle struct {
	// Source says where the roots were read: "ConfigMap istio-ca-root-cert
	// in default, foo" or "secret istio-system/cacerts root-cert.pem".
	Source string
	// Namespaces holding this bundle (empty when read from the CA secret).
	Namespaces []string
	Roots      []*x509.Certificate
}

// Peers reads every reachable primary of the fleet, ordered by context.
func Peers(f *model.Fleet) []Peer {
	var out []Peer
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary {
			continue
		}
		td := id.TrustDomain
		if td == "" {
			td = "cluster.local"
		}
		p := Peer{Context: c.Context, TrustDomain: td, Aliases: id.TrustDomainAliases, CA: mesh.ReadCA(c)}
		p.Bundles = bundles(c, p.CA)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Context < out[j].Context })
	return out
}

// bundles groups the cluster's istio-ca-root-cert ConfigMaps by content; a
// cluster without any falls back on the roots istiod distributes.
func bundles(c *model.Cluster, ca mesh.CA) []Bundle {
	var out []Bundle
	for _, cm := range mesh.RootConfigMaps(c) {
		if cm.Err != nil || len(cm.Roots) == 0 {
			continue
		}
		found := false
		for i := range out {
			if sameCerts(out[i].Roots, cm.Roots) {
				out[i].Namespaces = append(out[i].Namespaces, cm.Namespace)
				found = true
				break
			}
		}
		if !found {
			out = append(out, Bundle{Namespaces: []string{cm.Namespace}, Roots: cm.Roots})
		}
	}
	for i := range out {
		out[i].Source = "ConfigMap " + model.RootCertConfigMap + " in " + strings.Join(out[i].Namespaces, ", ")
	}
	if len(out) == 0 && len(ca.Roots) > 0 {
		key := mesh.KeyRootCert
		if ca.Layout == "tls" {
			key = mesh.KeyTLSRoot
		}
		out = append(out, Bundle{Source: "secret " + ca.Secret + " " + key + " (no " + model.RootCertConfigMap + " ConfigMap was read)", Roots: ca.Roots})
	}
	return out
}

func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !containsCert(b, x) {
			return false
		}
	}
	return true
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, l := range list {
		if l.Equal(c) {
			return true
		}
	}
	return false
}

// Method names.
const (
	MethodLeaf    = "issued leaf"
	MethodChain   = "signing chain"
	MethodBundles = "trust bundles compared"
)

// disjoint reports whether a's bundles are known and no root of them is in
// any of b's bundles.
func disjoint(a, b []Bundle) bool {
	ra := unionRoots(a)
	if len(ra) == 0 {
		return false
	}
	for _, r := range unionRoots(b) {
		if containsCert(ra, r) {
			return false
		}
	}
	return true
}

func unionRoots(bs []Bundle) []*x509.Certificate {
	var out []*x509.Certificate
	for _, b := range bs {
		for _, r := range b.Roots {
			if !containsCert(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// BuildMatrix decides, for every ordered pair (A, B) of primaries, whether a
// workload certificate issued by A's istiod verifies under B's trust bundles,
// with crypto/x509's verification at opts.Now. When A's signing key is
// readable it issues a throwaway leaf (SPIFFE ID
// spiffe://<A's trust domain>/ns/default/sa/default) and verifies it with the
// chain istiod sends along, for both serverAuth and clientAuth; otherwise it
// verifies A's signing certificate and chain. Trust domains are not part of
// the verdict: that is the trust-domain check's.
func BuildMatrix(f *model.Fleet, opts Options) model.TrustMatrix {
	opts = opts.withDefaults()
	peers := Peers(f)
	m := model.TrustMatrix{At: opts.Now}
	for _, p := range peers {
		m.Contexts = append(m.Contexts, p.Context)
	}
	for _, a := range peers {
		leaf, method, why := issue(a, opts.Now)
		for _, b := range peers {
			cell := model.TrustCell{From: a.Context, To: b.Context, Method: method}
			switch {
			case why != "" && len(b.Bundles) > 0 && disjoint(a.Bundles, b.Bundles):
				// A's chain is unknown, but whatever A's workloads present
				// chains to a root A's own workloads trust; if B trusts none
				// of those, B rejects it (two istio-csr installs that each
				// discovered their own root).
				cell.Verdict, cell.Method = model.TrustFail, MethodBundles
				cell.Reason = fmt.Sprintf("%s's signing chain is not readable (%s), but its workloads trust only %s and %s's bundle holds none of those roots: %s",
					a.Context, why, describeAll(unionRoots(a.Bundles)), b.Context, describeAll(unionRoots(b.Bundles)))
			case why != "":
				cell.Verdict, cell.Reason, cell.Method = model.TrustUnknown, why, ""
			case len(b.Bundles) == 0:
				cell.Verdict, cell.Reason, cell.Method = model.TrustUnknown, noBundle(b), ""
			default:
				cell.Verdict, cell.Reason = judge(a, b, leaf, opts.Now)
			}
			m.Cells = append(m.Cells, cell)
		}
	}
	return m
}

// issued is what a peer presents: a leaf and istiod's chain, or the chain alone.
type issued struct {
	cert  *x509.Certificate
	chain []*x509.Certificate
	// fail is set when istiod could not have issued anything.
	fail string
}

// issue makes the certificate A's workloads would present. why is set when
// A's CA cannot be read (the cells are unknown).
func issue(a Peer, now time.Time) (issued, string, string) {
	ca := a.CA
	switch {
	case ca.Source == mesh.CAExternal:
		return issued{}, "", fmt.Sprintf("%s's istiod does not sign workload certificates itself (%s); its CA's chain is not in the snapshot", a.Context, strings.Join(ca.External, "; "))
	case ca.Source == mesh.CANone:
		return issued{}, "", fmt.Sprintf("%s has no cacerts or istio-ca-secret: its CA cannot be read", a.Context)
	}
	for _, p := range ca.Problems {
		if p.Fatal {
			// istiod refuses an incomplete or unparsable bundle at start
			// (pilot/pkg/bootstrap createIstioCA, security/pkg/pki/util
			// Verify), or hands out a chain no peer can parse.
			return issued{fail: fmt.Sprintf("%s's CA material is broken, so nothing it issues can verify: %v", a.Context, p.Err)}, MethodLeaf, ""
		}
	}
	if ca.Signing == nil {
		return issued{}, "", fmt.Sprintf("%s's signing certificate cannot be read: %v", a.Context, ca.Err)
	}
	// Peers receive exactly what istiod appends to each leaf: cert-chain.pem
	// (or tls.crt and ca.crt), not necessarily the signing certificate.
	chain := ca.Chain
	key := ca.Key()
	if key == nil {
		return issued{cert: ca.Signing, chain: chain}, MethodChain, ""
	}
	if !key.Matches(ca.Signing) {
		return issued{fail: fmt.Sprintf("%s's CA key does not match its certificate %s: istiod refuses to load it and issues no certificates", a.Context, pki.Describe(ca.Signing))}, MethodLeaf, ""
	}
	if !key.CanSign() {
		// From a bundle: the key's public half matched; the leaf it issued
		// when the bundle was written stands for the one issued here.
		if ca.IssuedLeaf == nil {
			return issued{cert: ca.Signing, chain: chain}, MethodChain, ""
		}
		return issued{cert: ca.IssuedLeaf, chain: chain}, MethodLeaf, ""
	}
	leaf, _, err := pki.IssueLeaf(ca.Signing, key, pki.SPIFFEID(a.TrustDomain, "default", "default"), nil, now)
	if err != nil {
		return issued{fail: fmt.Sprintf("%s's CA cannot issue a workload certificate: %v", a.Context, err)}, MethodLeaf, ""
	}
	return issued{cert: leaf, chain: chain}, MethodLeaf, ""
}

func noBundle(b Peer) string {
	return fmt.Sprintf("%s's workloads' trust bundle cannot be read: no %s ConfigMap and no readable CA roots", b.Context, model.RootCertConfigMap)
}

// judge verifies what A presents under each of B's bundles.
func judge(a, b Peer, is issued, now time.Time) (model.TrustVerdict, string) {
	if is.fail != "" {
		return model.TrustFail, is.fail
	}
	var fails []string
	for _, bundle := range b.Bundles {
		if err := verifyBoth(is, bundle.Roots, now); err != nil {
			fails = append(fails, fmt.Sprintf("%s's bundle (%s: %s) rejects it: %s", b.Context, bundle.Source, describeAll(bundle.Roots), explain(err)))
		}
	}
	if len(fails) == 0 {
		return model.TrustOK, ""
	}
	what := fmt.Sprintf("a workload certificate from %s (signed by %s)", a.Context, pki.Describe(a.CA.Signing))
	return model.TrustFail, what + ": " + strings.Join(fails, "; ")
}

func verifyBoth(is issued, roots []*x509.Certificate, now time.Time) error {
	if is.cert == nil {
		return errors.New("nothing to verify")
	}
	if is.cert.IsCA {
		// The chain alone: the signing certificate must lead to a root of the bundle.
		_, err := pki.Verify(is.cert, is.chain, roots, now)
		return err
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := pki.Verify(is.cert, is.chain, roots, now, usage); err != nil {
			return err
		}
	}
	return nil
}

// explain turns crypto/x509's errors into words that say what to look at.
func explain(err error) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		if unknown.Cert != nil {
			end := pki.Name(unknown.Cert)
			if !unknown.Cert.IsCA {
				end = "the workload certificate"
			}
			why := fmt.Sprintf("no root of the bundle issued the chain (it ends at %s, issued by %s)", end, pki.IssuerName(unknown.Cert))
			if _, hint, ok := strings.Cut(err.Error(), "possibly because of "); ok {
				why += ", possibly because of " + strings.TrimSuffix(hint, ")")
			}
			return why
		}
		return "no root of the bundle issued the chain"
	case errors.As(err, &invalid):
		if invalid.Cert != nil {
			switch invalid.Reason {
			case x509.Expired:
				return fmt.Sprintf("%s is outside its validity (%s to %s)", pki.Name(invalid.Cert), day(invalid.Cert.NotBefore), day(invalid.Cert.NotAfter))
			}
			return fmt.Sprintf("%s: %v", pki.Name(invalid.Cert), err)
		}
	}
	return err.Error()
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func describeAll(certs []*x509.Certificate) string {
	out := make([]string, len(certs))
	for i, c := range certs {
		out[i] = pki.Describe(c)
	}
	return strings.Join(out, " + ")
}

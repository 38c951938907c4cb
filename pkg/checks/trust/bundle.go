package trust

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// rootConfigMaps: the istio-ca-root-cert ConfigMaps are what workloads trust;
// each must hold a root that istiod's signing certificate leads to, or the
// workloads of that namespace reject their own cluster's certificates.
func rootConfigMaps(f *model.Fleet, opts Options) []checks.Finding {
	var out []checks.Finding
	for _, p := range signers(f) {
		ca := p.CA
		if fd, ok := brokenCA(p); ok {
			out = append(out, fd)
			continue
		}
		if ca.Signing == nil {
			continue
		}
		c := f.Cluster(p.Context)
		at := clamp(opts.Now, ca.Signing.NotBefore, ca.Signing.NotAfter)
		// Group the ConfigMaps by content, and verify each distinct bundle
		// once: every namespace holds the same root as a rule, and a
		// signature check per namespace is most of the cost at thousands.
		type group struct {
			roots    []*x509.Certificate
			nss      []string
			disagree bool
		}
		var groups []group
		for _, cm := range mesh.RootConfigMaps(c) {
			if cm.Err != nil {
				out = append(out, checks.ReportedUnder("MF2009", p.Context))
				continue
			}
			i := slices.IndexFunc(groups, func(g group) bool { return sameCerts(g.roots, cm.Roots) })
			if i < 0 {
				_, err := pki.Verify(ca.Signing, ca.Chain, cm.Roots, at)
				groups = append(groups, group{roots: cm.Roots, disagree: err != nil && !otherCheck(err)})
				i = len(groups) - 1
			}
			groups[i].nss = append(groups[i].nss, cm.Namespace)
		}
		top := path(ca)
		for _, g := range groups {
			if !g.disagree {
				continue
			}
			ns := g.nss[0]
			if slices.Contains(g.nss, c.IstioNamespace) {
				ns = c.IstioNamespace
			}
			out = append(out, checks.NewMF2010(checks.MF2010Subjects{Primary: p.Context}, checks.Details{
				Object: &checks.ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: model.RootCertConfigMap},
				Message: fmt.Sprintf("%s: %s in %s holds %s, but istiod signs under %s; workloads there reject certificates from their own istiod and from every peer signing under that root",
					p.Context, model.RootCertConfigMap, namespaceList(g.nss), describeAll(g.roots), pki.Describe(top[len(top)-1])),
				Evidence: []string{
					"signing certificate " + pki.Describe(ca.Signing) + " in " + ca.Secret,
					"istiod distributes " + describeAll(ca.Roots),
				}}))
		}
	}
	return out
}

func namespaceList(nss []string) string {
	if len(nss) == 1 {
		return "namespace " + nss[0]
	}
	if len(nss) > 6 {
		return fmt.Sprintf("%d namespaces (%s, …)", len(nss), strings.Join(nss[:6], ", "))
	}
	return "namespaces " + strings.Join(nss, ", ")
}

// multiRoot describes trust bundles that hold more than one root: a root
// rotation or a mesh merge in progress. It is not a mismatch; it says which
// root signs for whom, so the next step of the transition is clear.
func multiRoot(f *model.Fleet, _ Options) []checks.Finding {
	peers := Peers(f)
	var out []checks.Finding
	for _, p := range peers {
		var multi []Bundle
		if len(p.CA.Roots) > 1 {
			key := keyName(p.CA, mesh.KeyTLSRoot, mesh.KeyRootCert)
			multi = append(multi, Bundle{Source: "secret " + p.CA.Secret + " " + key, Roots: p.CA.Roots})
		}
		for _, b := range p.Bundles {
			if len(b.Roots) > 1 && !(len(multi) > 0 && sameCerts(multi[0].Roots, b.Roots)) {
				multi = append(multi, b)
			} else if len(b.Roots) > 1 {
				multi[0].Source += " and " + b.Source
			}
		}
		if len(multi) == 0 {
			continue
		}
		var ev []string
		for _, b := range multi {
			for _, r := range b.Roots {
				ev = append(ev, fmt.Sprintf("%s: root %s, %s", b.Source, pki.Describe(r), signsFor(r, peers)))
			}
		}
		env := "ISTIO_MULTIROOT_MESH is not set on istiod"
		if c := f.Cluster(p.Context); c != nil {
			if v, ok := istiodEnv(c, "ISTIO_MULTIROOT_MESH"); ok {
				env = "istiod sets ISTIO_MULTIROOT_MESH=" + v
			}
		}
		ev = append(ev, env)
		out = append(out, checks.NewMF2011(checks.MF2011Subjects{Primary: p.Context}, checks.Details{
			Message: fmt.Sprintf("%s: the trust bundle holds %d roots (%s): a root rotation or mesh merge is in progress; workloads accept certificates under any of them. Finish by moving every primary to the new root, then dropping the old one",
				p.Context, len(multi[0].Roots), multi[0].Source),
			Evidence: ev}))
	}
	return out
}

// signsFor says which primaries' signing certificates lead to root.
func signsFor(root *x509.Certificate, peers []Peer) string {
	var who []string
	for _, p := range peers {
		if p.CA.Signing == nil {
			continue
		}
		at := clamp(p.CA.Signing.NotBefore, p.CA.Signing.NotBefore, p.CA.Signing.NotAfter)
		if _, err := pki.Verify(p.CA.Signing, p.CA.Chain, []*x509.Certificate{root}, at); err == nil {
			who = append(who, p.Context)
		}
	}
	if len(who) == 0 {
		return "no primary of this fleet signs under it (an old root still trusted, or a peer outside the fleet)"
	}
	return "signs for " + strings.Join(who, ", ")
}

func istiodEnv(c *model.Cluster, name string) (string, bool) {
	for _, list := range [][]model.Workload{c.Deployments, c.Pods} {
		for _, w := range list {
			if w.Namespace == c.IstioNamespace && (w.Labels["app"] == mesh.IstiodApp || w.PodLabels["app"] == mesh.IstiodApp) {
				return w.Env(name)
			}
		}
	}
	return "", false
}

// trustDomains: a peer's SPIFFE identity (spiffe://<its trust domain>/ns/…/sa/…)
// is matched by a cluster's authorization policies only when that trust
// domain is the cluster's own or one of its trustDomainAliases.
func trustDomains(f *model.Fleet, _ Options) []checks.Finding {
	peers := Peers(f)
	var out []checks.Finding
	accepts := func(to, from Peer) bool {
		return to.TrustDomain == from.TrustDomain || slices.Contains(to.Aliases, from.TrustDomain)
	}
	for i, a := range peers {
		for _, b := range peers[i+1:] {
			var broken []string
			for _, d := range [][2]Peer{{a, b}, {b, a}} {
				from, to := d[0], d[1]
				if !accepts(to, from) {
					broken = append(broken, fmt.Sprintf("%s's workloads are spiffe://%s/ns/…/sa/…, but %s's trust domain is %s and its trustDomainAliases %s do not include %s",
						from.Context, from.TrustDomain, to.Context, to.TrustDomain, aliasList(to.Aliases), from.TrustDomain))
				}
			}
			if len(broken) == 0 {
				continue
			}
			out = append(out, checks.NewMF2012(checks.MF2012Subjects{Primaries: []string{a.Context, b.Context}}, checks.Details{
				Message: strings.Join(broken, "; ") + ". AuthorizationPolicies that name principals (<trust domain>/ns/<ns>/sa/<sa>) or namespaces do not match the peer's identities, so cross-cluster requests are denied where a policy applies, and telemetry and peer authentication see foreign SPIFFE IDs",
				Evidence: []string{
					fmt.Sprintf("%s: trustDomain %s, aliases %s", a.Context, a.TrustDomain, aliasList(a.Aliases)),
					fmt.Sprintf("%s: trustDomain %s, aliases %s", b.Context, b.TrustDomain, aliasList(b.Aliases)),
				}}))
		}
	}
	return out
}

func aliasList(a []string) string {
	if len(a) == 0 {
		return "[]"
	}
	return "[" + strings.Join(a, ", ") + "]"
}

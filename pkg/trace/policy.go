package trace

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Peer is the caller as the destination's sidecar sees it: the SPIFFE
// identity of its certificate, <trust domain>/ns/<namespace>/sa/<account>.
type Peer struct {
	TrustDomain, Namespace, ServiceAccount string
}

// Principal is the peer's identity as AuthorizationPolicies name it (the
// SPIFFE ID without spiffe://).
func (p Peer) Principal() string {
	return p.TrustDomain + "/ns/" + p.Namespace + "/sa/" + p.ServiceAccount
}

// Callee is the workload a call lands on: its namespace, the labels of its
// pods (each pod's; policies with a selector bind to the pods it matches),
// and the trust domain and aliases of the istiod that configures it.
type Callee struct {
	Namespace     string
	RootNamespace string
	TrustDomain   string
	Aliases       []string
	Pods          []map[string]string
	// TargetPort is the container port the call reaches (0: unknown), for
	// PeerAuthentication's portLevelMtls.
	TargetPort uint32
}

// Decision is what the callee's AuthorizationPolicies do with a peer.
type Decision string

const (
	Allowed Decision = "allowed"
	Denied  Decision = "denied"
	// Depends: a rule that would decide names the request (ports, paths,
	// methods, when conditions, request principals, IP blocks), which
	// trace does not know: some calls are decided one way, some the other.
	Depends Decision = "depends on the request"
)

// AuthzVerdict is the decision and the policies that made it.
type AuthzVerdict struct {
	Decision Decision
	// Why is one line; Evidence names every policy that binds and what it
	// did with the peer.
	Why      string
	Evidence []string
	// Policy names the policy that denied (namespace/name), for the fix.
	Policy string
}

// Authorize judges the callee's AuthorizationPolicies for a peer as its
// sidecar's RBAC filters would, for the parts of a call known before the
// request (Istio's semantics, istio.io/latest/docs/reference/config/security/
// authorization-policy and pilot/pkg/security/authz/builder): CUSTOM policies
// first (trace cannot judge an external authorizer: Depends), then DENY
// (any matching rule denies), then ALLOW (when any ALLOW policy binds, a
// call is allowed only when one of their rules matches). A policy binds when
// it is in the callee's namespace or the root namespace and its selector
// matches a pod of the callee; policies with targetRefs bind to gateways and
// waypoints only. Principals are expanded with the callee's trust domain
// aliases as istiod does (pilot/pkg/security/trustdomain/bundle.go).
func Authorize(policies []model.AuthorizationPolicy, callee Callee, peer Peer) AuthzVerdict {
	var deny, allow, custom []model.AuthorizationPolicy
	var evidence []string
	for _, p := range policies {
		if !binds(p, callee) {
			continue
		}
		switch strings.ToUpper(p.Action) {
		case "DENY":
			deny = append(deny, p)
		case "ALLOW", "":
			allow = append(allow, p)
		case "CUSTOM":
			custom = append(custom, p)
		} // AUDIT decides nothing
	}
	bundle := append([]string{callee.TrustDomain}, callee.Aliases...)
	v := AuthzVerdict{Decision: Allowed}
	for _, p := range custom {
		evidence = append(evidence, fmt.Sprintf("CUSTOM policy %s asks an external authorizer: not judged", ref(p)))
		v = AuthzVerdict{Decision: Depends, Why: "CUSTOM policy " + ref(p) + " asks an external authorizer", Policy: ref(p)}
	}
	for _, p := range deny {
		switch m, why := policyMatches(p, peer, bundle); m {
		case matchAll:
			evidence = append(evidence, fmt.Sprintf("DENY policy %s matches %s: %s", ref(p), peer.Principal(), why))
			return AuthzVerdict{Decision: Denied, Why: fmt.Sprintf("DENY policy %s matches %s (%s)", ref(p), peer.Principal(), why), Evidence: evidence, Policy: ref(p)}
		case matchSome:
			evidence = append(evidence, fmt.Sprintf("DENY policy %s matches %s for some requests: %s", ref(p), peer.Principal(), why))
			if v.Decision == Allowed {
				v = AuthzVerdict{Decision: Depends, Why: "DENY policy " + ref(p) + " denies some of its requests (" + why + ")", Policy: ref(p)}
			}
		default:
			evidence = append(evidence, fmt.Sprintf("DENY policy %s does not match %s", ref(p), peer.Principal()))
		}
	}
	if len(allow) > 0 {
		best := matchNone
		var bestWhy, bestRef string
		for _, p := range allow {
			m, why := policyMatches(p, peer, bundle)
			switch m {
			case matchAll:
				evidence = append(evidence, fmt.Sprintf("ALLOW policy %s matches %s: %s", ref(p), peer.Principal(), why))
			case matchSome:
				evidence = append(evidence, fmt.Sprintf("ALLOW policy %s matches %s for some requests: %s", ref(p), peer.Principal(), why))
			default:
				evidence = append(evidence, fmt.Sprintf("ALLOW policy %s does not match %s", ref(p), peer.Principal()))
			}
			if m > best {
				best, bestWhy, bestRef = m, why, ref(p)
			}
		}
		switch best {
		case matchNone:
			names := make([]string, len(allow))
			for i, p := range allow {
				names[i] = ref(p)
			}
			return AuthzVerdict{Decision: Denied, Why: fmt.Sprintf("ALLOW %s %s bind to the callee and none allows %s", plural(len(names), "policy", "policies"), strings.Join(names, ", "), peer.Principal()), Evidence: evidence, Policy: names[0]}
		case matchSome:
			if v.Decision == Allowed {
				v = AuthzVerdict{Decision: Depends, Why: "ALLOW policy " + bestRef + " allows only some requests (" + bestWhy + ")", Policy: bestRef}
			}
		}
	}
	if len(evidence) == 0 {
		evidence = []string{"no AuthorizationPolicy binds to the callee in namespaces " + callee.Namespace + " and " + callee.RootNamespace}
	}
	v.Evidence = evidence
	if v.Decision == Allowed && v.Why == "" {
		v.Why = "no policy denies " + peer.Principal()
	}
	return v
}

func ref(p model.AuthorizationPolicy) string { return p.Namespace + "/" + p.Name }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// binds reports whether policy p applies to the callee's sidecars.
func binds(p model.AuthorizationPolicy, c Callee) bool {
	if p.Namespace != c.Namespace && p.Namespace != c.RootNamespace {
		return false
	}
	if len(p.TargetRefs) > 0 {
		return false // gateways and waypoints only (targetRef binds no sidecar)
	}
	if len(p.Selector) == 0 {
		return true
	}
	for _, labels := range c.Pods {
		if mesh.LabelsMatch(p.Selector, labels) {
			return true
		}
	}
	return false
}

type match int

const (
	matchNone match = iota
	matchSome       // matches when the request fits conditions trace cannot see
	matchAll
)

// policyMatches is the best match of the policy's rules for the peer. A
// policy without rules matches nothing (ALLOW: allow-nothing; DENY: deny
// nothing); a rule without from matches every peer.
func policyMatches(p model.AuthorizationPolicy, peer Peer, bundle []string) (match, string) {
	best, why := matchNone, "no rule matches"
	for i, r := range p.Rules {
		m, w := ruleMatches(r, peer, bundle)
		if m > best {
			best, why = m, fmt.Sprintf("rule %d: %s", i+1, w)
		}
	}
	return best, why
}

func ruleMatches(r model.AuthzRule, peer Peer, bundle []string) (match, string) {
	m, why := matchAll, "every source"
	if len(r.From) > 0 {
		m, why = matchNone, "no source matches"
		for _, s := range r.From {
			sm, sw := sourceMatches(s, peer, bundle)
			if sm > m {
				m, why = sm, sw
			}
		}
	}
	if m == matchAll && (len(r.To) > 0 || len(r.When) > 0) {
		var conds []string
		if len(r.To) > 0 {
			conds = append(conds, "to: "+strings.Join(r.To, "; "))
		}
		if len(r.When) > 0 {
			conds = append(conds, "when: "+strings.Join(r.When, ", "))
		}
		m, why = matchSome, why+", "+strings.Join(conds, ", ")
	}
	return m, why
}

// sourceMatches: every field of the source must match.
func sourceMatches(s model.AuthzSource, peer Peer, bundle []string) (match, string) {
	var why []string
	if len(s.Principals) > 0 {
		v, ok := anyPrincipal(s.Principals, peer, bundle)
		if !ok {
			return matchNone, ""
		}
		why = append(why, "principals "+v)
	}
	if v, ok := anyPrincipal(s.NotPrincipals, peer, bundle); ok {
		_ = v
		return matchNone, ""
	}
	if len(s.Namespaces) > 0 {
		v, ok := anyValue(s.Namespaces, peer.Namespace)
		if !ok {
			return matchNone, ""
		}
		why = append(why, "namespaces "+v)
	}
	if _, ok := anyValue(s.NotNamespaces, peer.Namespace); ok {
		return matchNone, ""
	}
	if len(why) == 0 {
		why = append(why, "a source without principals or namespaces")
	}
	if len(s.Other) > 0 {
		return matchSome, strings.Join(why, ", ") + ", if " + strings.Join(s.Other, ", ")
	}
	return matchAll, strings.Join(why, ", ")
}

// anyPrincipal reports the first value that matches the peer, after the
// trust-domain expansion istiod applies to principals: a value whose trust
// domain is the callee's, one of its aliases, or cluster.local (which
// stands for the local trust domain) matches that identity in every trust
// domain of the bundle.
func anyPrincipal(values []string, peer Peer, bundle []string) (string, bool) {
	for _, v := range values {
		for _, e := range expandPrincipal(v, bundle) {
			if wildcardMatch(e, peer.Principal()) {
				return v, true
			}
		}
	}
	return "", false
}

// expandPrincipal is trustdomain.Bundle.ReplaceTrustDomainAliases for one
// principal.
func expandPrincipal(v string, bundle []string) []string {
	parts := strings.Split(v, "/")
	if len(parts) != 5 || parts[0] == "*" {
		return []string{v}
	}
	td := parts[0]
	if !tdInBundle(td, bundle) && td != "cluster.local" {
		return []string{v}
	}
	out := []string{}
	for _, b := range bundle {
		if b == "" {
			continue
		}
		n := v
		if !(strings.HasPrefix(b, "*") && strings.HasSuffix(td, strings.TrimPrefix(b, "*"))) {
			n = b + "/" + strings.Join(parts[1:], "/")
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return []string{v}
	}
	return out
}

func tdInBundle(td string, bundle []string) bool {
	for _, b := range bundle {
		if b != "" && (b == td || wildcardMatch(b, td) || wildcardMatch(td, b)) {
			return true
		}
	}
	return false
}

func anyValue(values []string, s string) (string, bool) {
	for _, v := range values {
		if wildcardMatch(v, s) {
			return v, true
		}
	}
	return "", false
}

// wildcardMatch is Istio's string match for policy values: "*" any,
// "x*" prefix, "*x" suffix, else exact.
func wildcardMatch(pattern, s string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(s, strings.TrimSuffix(pattern, "*"))
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(s, strings.TrimPrefix(pattern, "*"))
	}
	return pattern == s
}

// MTLSMode is the PeerAuthentication mode that governs the callee's port:
// the most specific policy wins (a selector's in the callee's namespace,
// then the namespace's, then the root namespace's), a port-level mode over
// the policy's own, UNSET inheriting from the next; the mesh default is
// PERMISSIVE (pilot/pkg/security/authn/policy_applier.go,
// pilot/pkg/model/authentication.go). Source names the policy that set it.
func MTLSMode(peers []model.PeerAuthentication, c Callee) (mode, source string) {
	var workload, namespace, root []model.PeerAuthentication
	for _, p := range peers {
		switch {
		case p.Namespace == c.Namespace && len(p.Selector) > 0:
			for _, labels := range c.Pods {
				if mesh.LabelsMatch(p.Selector, labels) {
					workload = append(workload, p)
					break
				}
			}
		case p.Namespace == c.Namespace:
			namespace = append(namespace, p)
		case p.Namespace == c.RootNamespace && len(p.Selector) == 0:
			root = append(root, p)
		}
	}
	for _, level := range [][]model.PeerAuthentication{workload, namespace, root} {
		// istiod takes the oldest when several apply at one level; trace
		// has no creation times and takes the first by name, saying so.
		sort.Slice(level, func(i, j int) bool { return level[i].Name < level[j].Name })
		for _, p := range level {
			m := strings.ToUpper(p.Mode)
			if c.TargetPort != 0 {
				if pm, ok := p.PortModes[c.TargetPort]; ok && strings.ToUpper(pm) != "UNSET" && pm != "" {
					return strings.ToUpper(pm), p.Namespace + "/" + p.Name + fmt.Sprintf(" (port %d)", c.TargetPort)
				}
			}
			if m != "" && m != "UNSET" {
				return m, p.Namespace + "/" + p.Name
			}
			break
		}
	}
	return "PERMISSIVE", "the mesh default (no PeerAuthentication sets a mode)"
}

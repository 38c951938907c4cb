package model

// SecurityPolicies are the AuthorizationPolicies and PeerAuthentications of
// a few namespaces of one cluster (security.istio.io), reduced to what
// decides whether a peer identity may call a workload. trace reads them for
// the destination's namespace and the mesh's root namespace only: the
// doctor does not read them.
type SecurityPolicies struct {
	Context string `json:"context"`
	// Namespaces are the namespaces read (nil: every namespace, as a
	// bundle records them).
	Namespaces []string `json:"namespaces"`
	// Error says why they could not be read (then neither list is known).
	Error                 string                `json:"error,omitempty"`
	AuthorizationPolicies []AuthorizationPolicy `json:"authorizationPolicies,omitempty"`
	PeerAuthentications   []PeerAuthentication  `json:"peerAuthentications,omitempty"`
}

// AuthorizationPolicy is a security.istio.io AuthorizationPolicy.
type AuthorizationPolicy struct {
	Meta
	// Selector is spec.selector.matchLabels (nil: every workload of the
	// namespace, or of the mesh in the root namespace).
	Selector map[string]string `json:"selector,omitempty"`
	// TargetRefs are spec.targetRef(s) as "Kind/name": such a policy binds
	// to gateways and waypoints, never to a sidecar.
	TargetRefs []string `json:"targetRefs,omitempty"`
	// Action is ALLOW (the default), DENY, AUDIT or CUSTOM.
	Action string `json:"action"`
	// Rules nil: spec.rules absent (an ALLOW policy then allows nothing, a
	// DENY policy denies nothing).
	Rules []AuthzRule `json:"rules,omitempty"`
}

// AuthzRule is one rule: it matches when one of From matches (or From is
// empty) and every To and When condition holds.
type AuthzRule struct {
	From []AuthzSource `json:"from,omitempty"`
	// To and When are kept as counts of conditions on the request (ports,
	// methods, paths, hosts, and when keys): trace cannot know the request,
	// so a rule with them matches some requests only.
	To   []string `json:"to,omitempty"`
	When []string `json:"when,omitempty"`
}

// AuthzSource is one source of a rule's from: every field set must match.
type AuthzSource struct {
	Principals    []string `json:"principals,omitempty"`
	NotPrincipals []string `json:"notPrincipals,omitempty"`
	Namespaces    []string `json:"namespaces,omitempty"`
	NotNamespaces []string `json:"notNamespaces,omitempty"`
	// Other names the source fields that depend on the request or the
	// connection's address (requestPrincipals, ipBlocks, remoteIpBlocks and
	// their not-forms), which trace cannot judge.
	Other []string `json:"other,omitempty"`
}

// PeerAuthentication is a security.istio.io PeerAuthentication.
type PeerAuthentication struct {
	Meta
	Selector map[string]string `json:"selector,omitempty"`
	// Mode is spec.mtls.mode: UNSET, PERMISSIVE, STRICT or DISABLE ("" unset).
	Mode string `json:"mode,omitempty"`
	// PortModes is spec.portLevelMtls: target port → mode.
	PortModes map[uint32]string `json:"portModes,omitempty"`
}

// In is p narrowed to the policies of namespaces, in their order, as if
// only they had been read: a bundle records every namespace, a trace reads
// the destination's and the root namespace.
func (p SecurityPolicies) In(namespaces []string) SecurityPolicies {
	out := SecurityPolicies{Context: p.Context, Namespaces: namespaces, Error: p.Error}
	if p.Error != "" {
		return out
	}
	for _, ns := range namespaces {
		for _, a := range p.AuthorizationPolicies {
			if a.Namespace == ns {
				out.AuthorizationPolicies = append(out.AuthorizationPolicies, a)
			}
		}
		for _, pa := range p.PeerAuthentications {
			if pa.Namespace == ns {
				out.PeerAuthentications = append(out.PeerAuthentications, pa)
			}
		}
	}
	return out
}

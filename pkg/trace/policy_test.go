package trace

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func authz(ns, name, action string, selector map[string]string, rules ...model.AuthzRule) model.AuthorizationPolicy {
	return model.AuthorizationPolicy{Meta: model.Meta{Namespace: ns, Name: name}, Action: action, Selector: selector, Rules: rules}
}

func from(src ...model.AuthzSource) model.AuthzRule { return model.AuthzRule{From: src} }

func principals(p ...string) model.AuthzSource { return model.AuthzSource{Principals: p} }

func TestAuthorize(t *testing.T) {
	callee := Callee{Namespace: "sample", RootNamespace: "istio-system", TrustDomain: "cluster.local",
		Pods: []map[string]string{{"app": "helloworld", "version": "v1"}}}
	peer := Peer{TrustDomain: "cluster.local", Namespace: "sample", ServiceAccount: "default"}
	hello := map[string]string{"app": "helloworld"}
	cases := []struct {
		name     string
		policies []model.AuthorizationPolicy
		callee   *Callee
		peer     *Peer
		want     Decision
		policy   string
	}{
		{name: "no policy", want: Allowed},
		{name: "deny the principal", want: Denied, policy: "sample/deny",
			policies: []model.AuthorizationPolicy{authz("sample", "deny", "DENY", hello, from(principals("cluster.local/ns/sample/sa/default")))}},
		{name: "deny another principal", want: Allowed,
			policies: []model.AuthorizationPolicy{authz("sample", "deny", "DENY", hello, from(principals("cluster.local/ns/sample/sa/other")))}},
		{name: "deny the namespace mesh-wide from the root namespace", want: Denied, policy: "istio-system/deny-ns",
			policies: []model.AuthorizationPolicy{authz("istio-system", "deny-ns", "DENY", nil, from(model.AuthzSource{Namespaces: []string{"sam*"}}))}},
		{name: "a policy of another namespace does not bind", want: Allowed,
			policies: []model.AuthorizationPolicy{authz("other", "deny", "DENY", nil, from(principals("*")))}},
		{name: "a selector that matches no pod of the callee does not bind", want: Allowed,
			policies: []model.AuthorizationPolicy{authz("sample", "deny", "DENY", map[string]string{"app": "httpbin"}, from(principals("*")))}},
		{name: "targetRefs bind gateways and waypoints only", want: Allowed,
			policies: []model.AuthorizationPolicy{{Meta: model.Meta{Namespace: "sample", Name: "wp"}, Action: "DENY", TargetRefs: []string{"Service/helloworld"}, Rules: []model.AuthzRule{from(principals("*"))}}}},
		{name: "DENY without rules denies nothing", want: Allowed,
			policies: []model.AuthorizationPolicy{authz("sample", "deny", "DENY", nil)}},
		{name: "ALLOW without rules allows nothing", want: Denied, policy: "sample/allow-nothing",
			policies: []model.AuthorizationPolicy{authz("sample", "allow-nothing", "ALLOW", nil)}},
		{name: "ALLOW of other principals only", want: Denied, policy: "sample/allow",
			policies: []model.AuthorizationPolicy{authz("sample", "allow", "", nil, from(principals("cluster.local/ns/frontend/sa/web")))}},
		{name: "ALLOW of the namespace", want: Allowed,
			policies: []model.AuthorizationPolicy{authz("sample", "allow", "ALLOW", nil, from(model.AuthzSource{Namespaces: []string{"sample"}}))}},
		{name: "ALLOW everyone with an empty rule", want: Allowed,
			policies: []model.AuthorizationPolicy{authz("sample", "allow", "ALLOW", nil, model.AuthzRule{})}},
		{name: "notPrincipals excludes the peer from a DENY", want: Allowed,
			policies: []model.AuthorizationPolicy{authz("sample", "deny", "DENY", nil, from(model.AuthzSource{NotPrincipals: []string{"*/ns/sample/sa/default"}}))}},
		{name: "DENY that names the request depends on it", want: Depends, policy: "sample/deny-post",
			policies: []model.AuthorizationPolicy{authz("sample", "deny-post", "DENY", nil, model.AuthzRule{From: []model.AuthzSource{principals("*")}, To: []string{"methods=POST"}})}},
		{name: "DENY wins over ALLOW", want: Denied, policy: "sample/deny",
			policies: []model.AuthorizationPolicy{
				authz("sample", "allow", "ALLOW", nil, model.AuthzRule{}),
				authz("sample", "deny", "DENY", nil, from(principals("cluster.local/ns/sample/*"))),
			}},
		{name: "CUSTOM is not judged", want: Depends, policy: "sample/ext",
			policies: []model.AuthorizationPolicy{authz("sample", "ext", "CUSTOM", nil, model.AuthzRule{})}},
		// Trust domains (pilot/pkg/security/trustdomain/bundle.go): a
		// principal in the callee's trust domain, an alias of it, or
		// cluster.local stands for the identity in every trust domain of
		// the bundle; another trust domain stays as written.
		{name: "an alias's principal matches the peer of the new trust domain", want: Denied, policy: "sample/deny",
			callee:   &Callee{Namespace: "sample", RootNamespace: "istio-system", TrustDomain: "new.td", Aliases: []string{"old.td"}},
			peer:     &Peer{TrustDomain: "new.td", Namespace: "sample", ServiceAccount: "default"},
			policies: []model.AuthorizationPolicy{authz("sample", "deny", "DENY", nil, from(principals("old.td/ns/sample/sa/default")))}},
		{name: "cluster.local means the callee's own trust domain", want: Allowed,
			callee:   &Callee{Namespace: "sample", RootNamespace: "istio-system", TrustDomain: "west.local"},
			policies: []model.AuthorizationPolicy{authz("sample", "deny", "DENY", nil, from(principals("cluster.local/ns/sample/sa/default")))}},
		{name: "an ALLOW of cluster.local lets an alias's peer in", want: Allowed,
			callee:   &Callee{Namespace: "sample", RootNamespace: "istio-system", TrustDomain: "west.local", Aliases: []string{"cluster.local"}},
			policies: []model.AuthorizationPolicy{authz("sample", "allow", "ALLOW", nil, from(principals("west.local/ns/sample/sa/default")))}},
		{name: "an ALLOW of the callee's trust domain only shuts an unaliased peer out", want: Denied, policy: "sample/allow",
			callee:   &Callee{Namespace: "sample", RootNamespace: "istio-system", TrustDomain: "west.local"},
			policies: []model.AuthorizationPolicy{authz("sample", "allow", "ALLOW", nil, from(principals("west.local/ns/sample/sa/default")))}},
		{name: "a wildcard trust domain is not enforced", want: Denied, policy: "sample/deny",
			callee:   &Callee{Namespace: "sample", RootNamespace: "istio-system", TrustDomain: "west.local"},
			policies: []model.AuthorizationPolicy{authz("sample", "deny", "DENY", nil, from(principals("*/ns/sample/sa/default")))}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, p := callee, peer
			if tc.callee != nil {
				c = *tc.callee
			}
			if tc.peer != nil {
				p = *tc.peer
			}
			v := Authorize(tc.policies, c, p)
			if v.Decision != tc.want || v.Policy != tc.policy {
				t.Errorf("%s by %q, want %s by %q (%s; %v)", v.Decision, v.Policy, tc.want, tc.policy, v.Why, v.Evidence)
			}
			if len(v.Evidence) == 0 {
				t.Errorf("no evidence")
			}
		})
	}
}

func TestMTLSMode(t *testing.T) {
	callee := Callee{Namespace: "sample", RootNamespace: "istio-system", Pods: []map[string]string{{"app": "helloworld"}}, TargetPort: 5000}
	pa := func(ns, name, mode string, selector map[string]string, ports map[uint32]string) model.PeerAuthentication {
		return model.PeerAuthentication{Meta: model.Meta{Namespace: ns, Name: name}, Mode: mode, Selector: selector, PortModes: ports}
	}
	cases := []struct {
		name  string
		peers []model.PeerAuthentication
		want  string
	}{
		{"mesh default", nil, "PERMISSIVE"},
		{"root namespace", []model.PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil)}, "STRICT"},
		{"namespace over root", []model.PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil), pa("sample", "default", "DISABLE", nil, nil)}, "DISABLE"},
		{"UNSET inherits", []model.PeerAuthentication{pa("istio-system", "default", "STRICT", nil, nil), pa("sample", "default", "UNSET", nil, nil)}, "STRICT"},
		{"workload over namespace", []model.PeerAuthentication{pa("sample", "default", "STRICT", nil, nil), pa("sample", "hello", "DISABLE", map[string]string{"app": "helloworld"}, nil)}, "DISABLE"},
		{"a selector for other pods", []model.PeerAuthentication{pa("sample", "default", "STRICT", nil, nil), pa("sample", "db", "DISABLE", map[string]string{"app": "db"}, nil)}, "STRICT"},
		{"port level", []model.PeerAuthentication{pa("sample", "hello", "STRICT", map[string]string{"app": "helloworld"}, map[uint32]string{5000: "DISABLE"})}, "DISABLE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, src := MTLSMode(tc.peers, callee); got != tc.want {
				t.Errorf("%s (from %s), want %s", got, src, tc.want)
			}
		})
	}
}

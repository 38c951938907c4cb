package model

import "testing"

// In keeps the policies of the namespaces asked, in their order, as a read
// of only those namespaces would have listed them.
func TestSecurityPoliciesIn(t *testing.T) {
	ap := func(ns, name string) AuthorizationPolicy {
		return AuthorizationPolicy{Meta: Meta{Namespace: ns, Name: name}}
	}
	all := SecurityPolicies{Context: "east",
		AuthorizationPolicies: []AuthorizationPolicy{ap("istio-system", "root"), ap("other", "x"), ap("sample", "a"), ap("sample", "b")},
		PeerAuthentications:   []PeerAuthentication{{Meta: Meta{Namespace: "other", Name: "p"}}, {Meta: Meta{Namespace: "sample", Name: "strict"}}}}
	got := all.In([]string{"sample", "istio-system"})
	var names []string
	for _, a := range got.AuthorizationPolicies {
		names = append(names, a.Namespace+"/"+a.Name)
	}
	if want := "sample/a sample/b istio-system/root"; join(names) != want {
		t.Errorf("authorization policies %s, want %s", join(names), want)
	}
	if len(got.PeerAuthentications) != 1 || got.PeerAuthentications[0].Name != "strict" || len(got.Namespaces) != 2 {
		t.Errorf("got %+v", got)
	}
	if failed := (SecurityPolicies{Context: "east", Error: "forbidden"}).In([]string{"sample"}); failed.Error != "forbidden" {
		t.Errorf("the read's error is lost: %+v", failed)
	}
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}

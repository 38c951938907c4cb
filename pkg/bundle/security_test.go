package bundle

import (
	"bytes"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The security policies dump records come back by context, the merge
// takes each cluster's from the bundle its cluster came from, and a
// bundle without them (an older dump) has none: trace then says "not in
// the bundle".
func TestSecurityPoliciesRoundTrip(t *testing.T) {
	f, err := fleet.LoadDir("../checks/all/testdata/MF4001/pass-both-ways", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	ctx := f.Clusters[0].Context
	deny := model.AuthorizationPolicy{Meta: model.Meta{Namespace: "sample", Name: "deny"}, Action: "DENY"}
	security := []model.SecurityPolicies{{Context: ctx, AuthorizationPolicies: []model.AuthorizationPolicy{deny}}}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	if err := WriteWith(&buf, f, security, Manifest{ReadAt: t0, WrittenAt: t0}); err != nil {
		t.Fatal(err)
	}
	with, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := with.Security[ctx]
	if !ok || len(got.AuthorizationPolicies) != 1 || got.AuthorizationPolicies[0].Name != "deny" || got.Namespaces != nil {
		t.Fatalf("security of %s: %+v (recorded %v)", ctx, got, ok)
	}
	without := roundTrip(t, f, t0.Add(-time.Hour))
	if without.Security != nil {
		t.Errorf("a bundle written without policies holds %+v", without.Security)
	}
	with.Path, without.Path = "new.tar.gz", "old.tar.gz"
	m, err := Merge([]*Bundle{without, with}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := m.Security[ctx]; !ok || len(p.AuthorizationPolicies) != 1 {
		t.Errorf("merged security of %s: %+v (%v), want the newer bundle's", ctx, p, ok)
	}
	m, err = Merge([]*Bundle{with, without}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Security) != 1 {
		t.Errorf("merge order changed the policies kept: %+v", m.Security)
	}
}

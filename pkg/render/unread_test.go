package render

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// partialReport is the healthy report of a read of east alone, whose
// remote secrets name west (read with context prod-west) and south (no
// context); MF1001 compared east with nobody.
func partialReport(t *testing.T) *checks.Report {
	r := healthyReport(t)
	r.UnreadMembers = []model.Member{
		{ClusterID: "south", SeenBy: []string{"remote secret istio-system/istio-remote-secret-south in east"}},
		{ClusterID: "west", Network: "network-west", Context: "prod-west", MatchedBy: model.MatchedByServer,
			SeenBy: []string{"remote secret istio-system/istio-remote-secret-west in east", "istiod of east lists it (synced)"}},
	}
	for i := range r.Checks {
		if r.Checks[i].ID == checks.MF1001 {
			r.Checks[i].NotCompared = []string{"south", "west"}
		}
	}
	return r
}

func TestUnreadMembersInEveryFormat(t *testing.T) {
	r := partialReport(t)
	var text bytes.Buffer
	if err := Text(&text, r, mustCatalog(t), NewStyles(&text, false)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"In the mesh, not read",
		"west        network-west  prod-west (same API server)",
		"south       -             -",
		"pairs with south, west not compared: not read",
		"2 more in the mesh not read",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}

	var js bytes.Buffer
	if err := JSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		UnreadMembers []model.Member `json:"unreadMembers"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.UnreadMembers) != 2 || doc.UnreadMembers[1].Context != "prod-west" {
		t.Errorf("json unreadMembers: %+v (%v)", doc.UnreadMembers, err)
	}

	sarif := renderSARIF(t, r)
	if err := validateSARIF(t, sarifSchema(t), sarif); err != nil {
		t.Errorf("sarif does not match the schema: %v", err)
	}
	for _, want := range []string{"cluster west is in the mesh but was not read (context prod-west reads it: same API server)",
		"MF1001 compared the clusters read only"} {
		if !bytes.Contains(sarif, []byte(want)) {
			t.Errorf("sarif lacks %q", want)
		}
	}

	junit := renderJUnit(t, r)
	if err := xmllintSchema(t, junit); err != nil {
		t.Errorf("junit does not match junit-10.xsd: %v", err)
	}
	if !bytes.Contains(junit, []byte("in the mesh, not read: south (no context of the kubeconfig reads it)")) ||
		bytes.Contains(junit, []byte("<failure")) {
		t.Errorf("junit: unread members not listed, or a failure:\n%s", junit)
	}
}

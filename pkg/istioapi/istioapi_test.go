package istioapi

import (
	"os"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/istiosrc"
)

// TestTableMatchesIstio fails when remotekinds_gen.go and the pinned
// istio.io/istio source disagree: run `go generate ./pkg/istioapi` after
// moving Istio (and read what changed in how istiod watches its remotes).
func TestTableMatchesIstio(t *testing.T) {
	want, err := istiosrc.RemoteKindsTable("istioapi")
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("remotekinds_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != string(want) {
		t.Errorf("remotekinds_gen.go is stale: run go generate ./pkg/istioapi\nhave:\n%s\nsource says:\n%s", have, want)
	}
}

func TestOn(t *testing.T) {
	k := RemoteKind{Flags: []Flag{{Env: "A", Default: true}, {Env: "B", Default: true}}}
	env := func(m map[string]string) func(string) (string, bool) {
		return func(n string) (string, bool) { v, ok := m[n]; return v, ok }
	}
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{nil, true},
		{map[string]string{"A": "false"}, false},
		{map[string]string{"B": "0"}, false},
		{map[string]string{"A": "true", "B": "1"}, true},
		{map[string]string{"A": "nonsense"}, true}, // istiod keeps the default
	} {
		if got := k.On(env(c.env)); got != c.want {
			t.Errorf("env %v: On = %v, want %v", c.env, got, c.want)
		}
	}
}

func TestSameRelease(t *testing.T) {
	for _, c := range []struct {
		tag         string
		same, known bool
	}{
		{Release + ".2", true, true},
		{Release + "-alpha.eed52ebb66ad", true, true},
		{Release + "-dev", true, true},
		{"1.21.6", false, true},
		{"v1.21.6-distroless", false, true},
		{"latest", false, false},
		{"", false, false},
	} {
		same, known := SameRelease(c.tag)
		if same != c.same || known != c.known {
			t.Errorf("SameRelease(%q) = %v, %v; want %v, %v", c.tag, same, known, c.same, c.known)
		}
	}
}

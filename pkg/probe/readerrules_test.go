package probe

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestReaderAccessMatchesIstio fails when readerrules_gen.go and the reader
// ClusterRole of the istio.io/istio module this module requires disagree:
// run `go generate ./pkg/probe` after moving Istio.
func TestReaderAccessMatchesIstio(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
	if err != nil {
		t.Fatalf("go list istio.io/istio: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("istio.io/istio is not in the module cache (go mod download istio.io/istio)")
	}
	chart, err := os.ReadFile(filepath.Join(dir, ReaderChart))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseReaderRules(chart)
	if err != nil {
		t.Fatal(err)
	}
	control, err := ParseRemoteControlRules(chart)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(RemoteControlAccess, control) {
		t.Errorf("readerrules_gen.go is stale: run go generate ./pkg/probe\n table %v\n chart %v", RemoteControlAccess, control)
	}
	for _, a := range []Access{{"", "configmaps", "create"}, {"admissionregistration.k8s.io", "mutatingwebhookconfigurations", "patch"}} {
		if !contains(control, a) {
			t.Errorf("the remote's extra rules lack %s", a)
		}
	}
	if contains(control, Access{"", "configmaps", "get"}) {
		t.Error("the remote's extra rules repeat the reader's")
	}
	reader, remote, err := ParseReaderPolicy(chart)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ReaderPolicy, reader) || !reflect.DeepEqual(RemoteControlPolicy, remote) {
		t.Errorf("readerrules_gen.go's policies are stale: run go generate ./pkg/probe")
	}
	if !reflect.DeepEqual(ReaderAccess, want) {
		t.Errorf("readerrules_gen.go is stale: run go generate ./pkg/probe\n table %v\n chart %v", ReaderAccess, want)
	}
	for _, a := range []Access{{"", "pods", "list"}, {"discovery.k8s.io", "endpointslices", "watch"}, {"networking.istio.io", "*", "get"}} {
		if !contains(want, a) {
			t.Errorf("the reader's rules lack %s", a)
		}
	}
}

func TestParseReaderRulesRefusesUnknownTemplates(t *testing.T) {
	chart := "{{ $mcsAPIGroup := or .Values.env.MCS_API_GROUP \"multicluster.x-k8s.io\" }}\nrules:\n  - apiGroups: [\"{{ .Values.other }}\"]\n    resources: [x]\n    verbs: [get]\n"
	if _, err := ParseReaderRules([]byte(chart)); err == nil {
		t.Error("a template the parser does not know must be an error, not a guess")
	}
}

func contains(as []Access, a Access) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

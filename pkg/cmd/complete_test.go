package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// TestCompletion: --context and --contexts complete the kubeconfig's
// contexts (a list from its last comma), --checks/--skip/--only the areas
// and check IDs, -o the command's formats; as cobra's __complete answers
// them, which kubectl_complete-meshfed and `completion SHELL` both call.
func TestCompletion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
current-context: east
clusters:
- {name: c, cluster: {server: "https://c.example:6443"}}
users:
- {name: u, user: {}}
contexts:
- {name: east, context: {cluster: c, user: u}}
- {name: west, context: {cluster: c, user: u}}
- {name: central, context: {cluster: c, user: u}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := (&fakeMesh{t: t}).backend()
	complete := func(args ...string) []string {
		t.Helper()
		r := run(t, b, append([]string{"__complete", "--kubeconfig", path}, args...)...)
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if !strings.HasPrefix(line, ":") { // the directive line
				name, _, _ := strings.Cut(line, "\t")
				out = append(out, name)
			}
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"doctor", "--context", ""}, "central east west"},
		{[]string{"doctor", "--contexts", ""}, "central east west"},
		{[]string{"doctor", "--contexts", "east,"}, "east,central east,west"},
		{[]string{"topology", "--contexts", "east,w"}, "east,west"},
		{[]string{"doctor", "-o", ""}, "text short wide json yaml sarif junit"},
		{[]string{"topology", "-o", ""}, "text json yaml dot"},
		{[]string{"doctor", "--checks", "tr"}, "trust"},
		{[]string{"fix", "--only", "trust,MF200"}, ""},
	} {
		got := strings.Join(complete(tc.args...), " ")
		if tc.want == "" {
			// the test catalog's IDs: some offered, each under the prefix
			if got == "" {
				t.Errorf("%v: nothing offered", tc.args)
			}
			for _, g := range strings.Fields(got) {
				if !strings.HasPrefix(g, "trust,MF200") {
					t.Errorf("%v: offered %q", tc.args, g)
				}
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.args, got, tc.want)
		}
	}
	// Every check of the catalog is offered, with its title.
	cat := b.Catalog()
	got := strings.Join(complete("doctor", "--skip", "MF"), " ")
	for _, m := range cat.Entries() {
		if !strings.Contains(got, string(m.ID)) {
			t.Errorf("--skip MF: %s not offered (got %q)", m.ID, got)
		}
	}
	if len(cat.Entries()) == 0 || len(checks.Areas) == 0 {
		t.Fatal("no catalog to complete from")
	}
}

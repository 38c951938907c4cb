package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// TestKubectlPluginCompletion: kubectl completes `kubectl meshfed …` through
// the kubectl_complete-meshfed the release ships (plugins/), which asks the
// plugin: the real kubectl, the built plugin, no cluster needed.
func TestKubectlPluginCompletion(t *testing.T) {
	bin := os.Getenv("MESHFED_LAB_BIN")
	root, err := lab.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if bin == "" {
		bin = filepath.Join(root, ".bin")
	}
	kubectl := filepath.Join(bin, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl: %v (tools/build.sh)", err)
	}
	// PATH as krew leaves it, with the completion script linked next to the binary.
	dir := t.TempDir()
	for name, target := range map[string]string{
		"kubectl-meshfed":          labtest.Plugin(t),
		"kubectl_complete-meshfed": filepath.Join(root, "plugins", "kubectl_complete-meshfed"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
current-context: east
clusters:
- {name: c, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: u, user: {}}
contexts:
- {name: east, context: {cluster: c, user: u}}
- {name: west, context: {cluster: c, user: u}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"meshfed", "doctor", "--contexts", "east,"}, []string{"east,west"}},
		{[]string{"meshfed", "doctor", "--context", ""}, []string{"east", "west"}},
		{[]string{"meshfed", "doctor", "--checks", "MF200"}, []string{"MF2001"}},
		{[]string{"meshfed", "topology", "-o", ""}, []string{"text", "json", "yaml", "dot"}},
		{[]string{"meshfed", "ex"}, []string{"explain"}},
	} {
		cmd := exec.Command(kubectl, append([]string{"__complete"}, tc.args...)...)
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl __complete %v: %v", tc.args, err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !strings.HasPrefix(line, ":") {
				name, _, _ := strings.Cut(line, "\t")
				got = append(got, name)
			}
		}
		for _, w := range tc.want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("kubectl __complete %v: %q not offered; got %q", tc.args, w, got)
			}
		}
	}
}

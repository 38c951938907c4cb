package kube

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// TestFlagsAreKubectls: the plugin takes the kubeconfig flags kubectl takes
// (and took when it used cli-runtime's ConfigFlags): the same names,
// shorthands, types, defaults and help.
func TestFlagsAreKubectls(t *testing.T) {
	want := pflag.NewFlagSet("kubectl", pflag.ContinueOnError)
	genericclioptions.NewConfigFlags(true).AddFlags(want)
	got := pflag.NewFlagSet("meshfed", pflag.ContinueOnError)
	NewFlags().AddFlags(got)
	n := 0
	want.VisitAll(func(w *pflag.Flag) {
		n++
		g := got.Lookup(w.Name)
		if g == nil {
			t.Errorf("--%s: kubectl takes it, the plugin does not", w.Name)
			return
		}
		if g.Shorthand != w.Shorthand || g.Value.Type() != w.Value.Type() || g.DefValue != w.DefValue || g.Usage != w.Usage {
			t.Errorf("--%s: got -%s %s %q %q, kubectl has -%s %s %q %q", w.Name,
				g.Shorthand, g.Value.Type(), g.DefValue, g.Usage, w.Shorthand, w.Value.Type(), w.DefValue, w.Usage)
		}
	})
	got.VisitAll(func(g *pflag.Flag) {
		if want.Lookup(g.Name) == nil {
			t.Errorf("--%s: the plugin takes it, kubectl does not", g.Name)
		}
	})
	if n < 19 {
		t.Errorf("kubectl has %d kubeconfig flags, want at least 19", n)
	}
}

const twoContexts = `apiVersion: v1
kind: Config
current-context: east
clusters:
- name: east
  cluster: {server: "https://east.example:6443", insecure-skip-tls-verify: true}
- name: west
  cluster: {server: "https://west.example:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: test-token-never-shown}
contexts:
- name: east
  context: {cluster: east, user: u}
- name: west
  context: {cluster: west, user: u}
- name: dangling
  context: {cluster: north, user: u}
`

func writeKubeconfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFlagsParse: --kubeconfig, KUBECONFIG, --context and --as reach every
// context's configuration as they did through cli-runtime.
func TestFlagsParse(t *testing.T) {
	path := writeKubeconfig(t, twoContexts)
	f := NewFlags()
	fs := pflag.NewFlagSet("meshfed", pflag.ContinueOnError)
	f.AddFlags(fs)
	if err := fs.Parse([]string{"--kubeconfig", path, "--context", "west", "--as", "someone", "-n", "ignored", "--request-timeout", "5s"}); err != nil {
		t.Fatal(err)
	}
	if f.Context() != "west" {
		t.Errorf("Context() = %q", f.Context())
	}
	raw, err := f.RawConfig()
	if err != nil || raw.CurrentContext != "east" || len(raw.Contexts) != 3 {
		t.Fatalf("RawConfig: %v, current %q, %d contexts", err, raw.CurrentContext, len(raw.Contexts))
	}
	for _, name := range []string{"east", "west"} {
		cfg, err := f.RESTConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Host != "https://"+name+".example:6443" || cfg.Impersonate.UserName != "someone" || cfg.BearerToken != "test-token-never-shown" || cfg.QPS >= 0 {
			t.Errorf("%s: host %q, impersonating %q, QPS %v", name, cfg.Host, cfg.Impersonate.UserName, cfg.QPS)
		}
	}
	if _, err := f.RESTConfig("dangling"); err == nil || err.Error() != `context "dangling" names cluster "north", which the kubeconfig does not define` {
		t.Errorf("dangling: %v", err)
	}
	if _, err := f.RESTConfig("absent"); err == nil || err.Error() != `context "absent" is not in the kubeconfig` {
		t.Errorf("absent: %v", err)
	}

	// Without --kubeconfig, KUBECONFIG's files, as kubectl reads them.
	t.Setenv("KUBECONFIG", path)
	if raw, err := NewFlags().RawConfig(); err != nil || len(raw.Contexts) != 3 {
		t.Errorf("KUBECONFIG: %v, %d contexts", err, len(raw.Contexts))
	}
	if _, err := ForKubeconfig(filepath.Join(t.TempDir(), "absent")).RawConfig(); err == nil {
		t.Error("a --kubeconfig that does not exist: no error")
	}
}

package kube

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
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

// TestOverridesAreConfigFlags: every kubeconfig flag changes a context's REST
// configuration exactly as it changes kubectl's, which is cli-runtime's
// ConfigFlags.ToRESTConfig with the same flags and --context.
func TestOverridesAreConfigFlags(t *testing.T) {
	dir := t.TempDir()
	path := writeKubeconfig(t, twoContexts)
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("not read until a request"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := [][]string{
		nil,
		{"--server", "https://elsewhere.example:8443"},
		{"-s", "https://elsewhere.example:8443", "--tls-server-name", "kubernetes"},
		{"--cluster", "west"},
		{"--user", "u"},
		{"--token", "other-token"},
		{"--certificate-authority", ca, "--insecure-skip-tls-verify=false"},
		{"--insecure-skip-tls-verify"},
		{"--request-timeout", "7s"},
		{"--disable-compression"},
		{"--as", "someone", "--as-group", "g1", "--as-group", "g2", "--as-uid", "42", "--as-user-extra", "k=v", "--as-user-extra", "bad"},
		{"--client-certificate", ca, "--client-key", ca},
	}
	for _, args := range cases {
		for _, context := range []string{"east", "west"} {
			want := pflag.NewFlagSet("kubectl", pflag.ContinueOnError)
			cf := genericclioptions.NewConfigFlags(true)
			cf.AddFlags(want)
			got := pflag.NewFlagSet("meshfed", pflag.ContinueOnError)
			f := NewFlags()
			f.AddFlags(got)
			all := append([]string{"--kubeconfig", path, "--context", context}, args...)
			if err := want.Parse(all); err != nil {
				t.Fatal(err)
			}
			if err := got.Parse(all); err != nil {
				t.Fatal(err)
			}
			wantCfg, wantErr := cf.ToRESTConfig()
			gotCfg, gotErr := f.RESTConfig(context)
			if (wantErr != nil) != (gotErr != nil) {
				t.Errorf("%s %v: kubectl's error %v, ours %v", context, args, wantErr, gotErr)
				continue
			}
			if wantErr != nil {
				continue
			}
			gotCfg.QPS, gotCfg.Burst, gotCfg.UserAgent = wantCfg.QPS, wantCfg.Burst, wantCfg.UserAgent
			if g, w := fmt.Sprintf("%#v|%#v|%#v", gotCfg.TLSClientConfig, gotCfg.Impersonate, *gotCfg), fmt.Sprintf("%#v|%#v|%#v", wantCfg.TLSClientConfig, wantCfg.Impersonate, *wantCfg); g != w {
				t.Errorf("%s %v:\n got %s\nwant %s", context, args, g, w)
			}
		}
	}
}

// TestOneClusterFlags: the flags that describe one cluster or user reach
// only the context they are scoped to; the rest reach every context.
func TestOneClusterFlags(t *testing.T) {
	path := writeKubeconfig(t, twoContexts)
	f := NewFlags()
	fs := pflag.NewFlagSet("meshfed", pflag.ContinueOnError)
	f.AddFlags(fs)
	if err := fs.Parse([]string{"--kubeconfig", path, "-s", "https://elsewhere.example:8443", "--token", "t2", "--request-timeout", "3s", "--as", "a"}); err != nil {
		t.Fatal(err)
	}
	if got := f.OneClusterFlags(); fmt.Sprint(got) != "[--server --token]" {
		t.Errorf("OneClusterFlags() = %v", got)
	}
	scoped := f.OneClusterContext("east")
	east, err := scoped.RESTConfig("east")
	if err != nil {
		t.Fatal(err)
	}
	west, err := scoped.RESTConfig("west")
	if err != nil {
		t.Fatal(err)
	}
	if east.Host != "https://elsewhere.example:8443" || east.BearerToken != "t2" {
		t.Errorf("east: host %q token given %v", east.Host, east.BearerToken == "t2")
	}
	if west.Host != "https://west.example:6443" || west.BearerToken != "test-token-never-shown" {
		t.Errorf("west: host %q, its own token %v", west.Host, west.BearerToken == "test-token-never-shown")
	}
	for _, c := range []*rest.Config{east, west} {
		if c.Timeout != 3*time.Second || c.Impersonate.UserName != "a" {
			t.Errorf("%s: timeout %v, as %q", c.Host, c.Timeout, c.Impersonate.UserName)
		}
	}
}

// TestKubeconfigFiles: a KUBECONFIG naming a file that does not exist is
// named as missing (the loader skips it silently).
func TestKubeconfigFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	t.Setenv("KUBECONFIG", missing)
	present, absent := NewFlags().KubeconfigFiles()
	if len(present) != 0 || fmt.Sprint(absent) != "["+missing+"]" {
		t.Errorf("present %v, missing %v", present, absent)
	}
}

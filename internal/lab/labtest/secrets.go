package labtest

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
)

// Fix runs `fix` with args on every context of l and returns its stdout and
// stderr together, failing t if either shows a private key.
func Fix(t testing.TB, l *lab.Lab, args ...string) (string, int) {
	t.Helper()
	out, stderr, code := Run(t, l, append(append([]string{"fix"}, args...), "--contexts", strings.Join(l.Contexts(), ","))...)
	if strings.Contains(out+stderr, "PRIVATE KEY") {
		t.Fatalf("fix %v printed a private key", args)
	}
	return out + stderr, code
}

// Secrets returns every secret value in the lab that must never be
// printed: the data of Istio's Secrets (not certificates, which are
// public), the bearer tokens inside remote secrets' kubeconfigs, and the
// lab kubeconfig's tokens and client keys.
func Secrets(t testing.TB, l *lab.Lab) []string {
	t.Helper()
	var out []string
	for _, ctx := range l.Contexts() {
		list, err := l.Client(ctx).CoreV1().Secrets("istio-system").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Items {
			for k, v := range s.Data {
				if (strings.HasSuffix(k, ".pem") || k == "ca.crt") && !strings.Contains(k, "key") || k == "namespace" {
					continue // certificates are public; so is a token secret's namespace
				}
				out = append(out, string(v))
				out = append(out, TokensIn(string(v))...)
			}
		}
	}
	cfg, err := clientcmd.LoadFromFile(l.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cfg.AuthInfos {
		for _, s := range []string{u.Token, string(u.ClientKeyData)} {
			if s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// TokensIn pulls bearer tokens out of a kubeconfig value, so a token shown
// on its own (not the whole kubeconfig) is caught as well.
func TokensIn(kubeconfig string) []string {
	cfg, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		return nil
	}
	var out []string
	for _, u := range cfg.AuthInfos {
		if u.Token != "" {
			out = append(out, u.Token)
		}
	}
	return out
}

package mesh

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

func clusterWith(t testing.TB, s pkitest.Secret, env map[string]string) *model.Cluster {
	c := &model.Cluster{Context: "east", IstioNamespace: "istio-system", Reachable: true}
	pc := pkitest.Cluster{Context: "east", Secrets: []pkitest.Secret{s}, IstiodEnv: env}
	if err := fleet.AddManifests(c, pc.Manifests("istio-system")); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReadCALayouts(t *testing.T) {
	root := pkitest.NewRoot("root", pkitest.Opts{})
	inter := root.Issue("inter", pkitest.Opts{})
	for name, tc := range map[string]struct {
		secret pkitest.Secret
		env    map[string]string
		source CASource
		layout string
		chain  int
	}{
		"istio layout": {pkitest.CACerts(inter), nil, CAPluggedIn, "istio", 2},
		"tls layout":   {pkitest.TLSCACerts(inter), nil, CAPluggedIn, "tls", 2},
		"self-signed":  {pkitest.SelfSigned(root), nil, CASelfSigned, "istio", 0},
		"external":     {pkitest.CACerts(inter), map[string]string{"ENABLE_CA_SERVER": "false"}, CAExternal, "", 0},
	} {
		ca := ReadCA(clusterWith(t, tc.secret, tc.env))
		if ca.Source != tc.source || ca.Layout != tc.layout || len(ca.Chain) != tc.chain || ca.Err != nil {
			t.Errorf("%s: got source %s layout %q chain %d err %v", name, ca.Source, ca.Layout, len(ca.Chain), ca.Err)
		}
		if tc.source != CAExternal && (ca.Key() == nil || !ca.Key().Matches(ca.Signing)) {
			t.Errorf("%s: the key was not read or does not match", name)
		}
	}
}

// FuzzReadCA feeds arbitrary bytes to every key of cacerts: reading must
// never panic, and no problem may quote the data.
func FuzzReadCA(f *testing.F) {
	root := pkitest.NewRoot("root", pkitest.Opts{})
	inter := root.Issue("inter", pkitest.Opts{})
	good := pkitest.CACerts(inter)
	f.Add(good.Data["ca-cert.pem"], good.Data["ca-key.pem"], good.Data["cert-chain.pem"], good.Data["root-cert.pem"])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("x"), []byte{}, []byte("-----BEGIN"))
	f.Fuzz(func(t *testing.T, cert, key, chain, root []byte) {
		c := &model.Cluster{Context: "east", IstioNamespace: "istio-system", Reachable: true}
		c.Secrets = []model.Secret{{Meta: model.Meta{Namespace: "istio-system", Name: "cacerts"},
			Data: model.SecretData{"ca-cert.pem": cert, "ca-key.pem": key, "cert-chain.pem": chain, "root-cert.pem": root}}}
		ca := readCA(c)
		out := fmt.Sprintf("%v %+v", ca, ca.Problems)
		if len(key) >= 16 && strings.Contains(out, string(key)) {
			t.Fatalf("the key's bytes appear in %q", out)
		}
	})
}

// A snapshot loaded from a dump keeps key names only: the CA is withheld,
// which is not a parse error.
func TestReadCAFromDump(t *testing.T) {
	c := &model.Cluster{Context: "east", IstioNamespace: "istio-system", Reachable: true}
	c.Secrets = []model.Secret{{Meta: model.Meta{Namespace: "istio-system", Name: "cacerts"},
		Data: model.SecretData{"ca-cert.pem": nil, "ca-key.pem": nil, "cert-chain.pem": nil, "root-cert.pem": nil}}}
	ca := readCA(c)
	if !ca.Withheld || ca.Signing != nil || ca.Key() != nil || len(ca.Problems) != 1 || ca.Problems[0].Fatal {
		t.Errorf("got withheld=%v problems=%v", ca.Withheld, ca.Problems)
	}
}

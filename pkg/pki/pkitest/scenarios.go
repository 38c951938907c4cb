package pkitest

import (
	"crypto/x509"
	"encoding/pem"
	"time"
)

// Scenario is a fleet of clusters sharing (or failing to share) trust.
type Scenario struct {
	Name     string
	Clusters []Cluster
}

// Expect is a finding a failing fixture must produce.
type Expect struct {
	Check    string   `json:"check"`
	Severity string   `json:"severity"`
	Contexts []string `json:"contexts"`
	Object   *Object  `json:"object,omitempty"`
}

// Object names a finding's object.
type Object struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Fixture is a scenario written as testdata/<Check>/<Case>/<context>/istio.yaml.
type Fixture struct {
	Check    string
	Case     string // pass-… or fail-…
	Scenario Scenario
	Expect   []Expect
}

const istioNS = "istio-system"

var (
	cacertsRef = &Object{Kind: "Secret", Namespace: istioNS, Name: "cacerts"}
	selfRef    = &Object{Kind: "Secret", Namespace: istioNS, Name: "istio-ca-secret"}
)

func cmRef(ns string) *Object {
	return &Object{Kind: "ConfigMap", Namespace: ns, Name: "istio-ca-root-cert"}
}

func exp(check, sev string, obj *Object, ctxs ...string) Expect {
	return Expect{Check: check, Severity: sev, Contexts: ctxs, Object: obj}
}

// plugged is a primary with cacerts from ca whose workloads trust ca's root
// in istio-system and default.
func plugged(ctx string, ca *CA) Cluster {
	root := ca.Root().CertPEM()
	return Cluster{Context: ctx, Secrets: []Secret{CACerts(ca)}, RootCerts: map[string][]byte{istioNS: root, "default": root}}
}

// Scenarios builds every trust scenario with fresh keys. The names are
// those of the issue's lab scenarios where there is one.
func Scenarios() map[string]Scenario {
	s := map[string]Scenario{}
	add := func(name string, cs ...Cluster) { s[name] = Scenario{Name: name, Clusters: cs} }

	root := NewRoot("meshfed test root A", Opts{})
	east, west := root.Issue("intermediate east", Opts{}), root.Issue("intermediate west", Opts{})
	add("shared-root", plugged("east", east), plugged("west", west))

	tlsWest := plugged("west", west)
	tlsWest.Secrets = []Secret{TLSCACerts(west)}
	add("tls-layout", plugged("east", east), tlsWest)

	rootB := NewRoot("meshfed test root B", Opts{})
	add("two-roots", plugged("east", east), plugged("west", rootB.Issue("intermediate west", Opts{})))

	self := NewRoot("Istio self-signed root east", Opts{Organization: "cluster.local"})
	selfEast := Cluster{Context: "east", Secrets: []Secret{SelfSigned(self)},
		RootCerts: map[string][]byte{istioNS: self.CertPEM(), "default": self.CertPEM()}}
	add("self-signed", selfEast, plugged("west", west))
	add("self-signed-single-primary", selfEast)

	generated := SelfSigned(self)
	generated.Name, generated.Type = "cacerts", ""
	generated.Data["istio-generated"] = []byte{}
	genEast := selfEast
	genEast.Secrets = []Secret{generated}
	add("istio-generated", genEast, plugged("west", west))

	expired := root.Issue("intermediate east (expired)", Opts{NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})
	add("expired-intermediate", plugged("east", expired), plugged("west", west))

	future := root.Issue("intermediate east (not yet valid)", Opts{NotBefore: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)})
	add("not-yet-valid", plugged("east", future), plugged("west", west))

	// east's intermediate was issued by another root than the one in root-cert.pem.
	rootX := NewRoot("meshfed test root X", Opts{})
	stray := rootX.Issue("intermediate east", Opts{})
	strayEast := plugged("east", stray)
	strayEast.Secrets[0].Data["root-cert.pem"] = root.CertPEM()
	strayEast.RootCerts = map[string][]byte{istioNS: root.CertPEM(), "default": root.CertPEM()}
	add("chain-not-to-root", strayEast, plugged("west", west))

	noInter := plugged("east", east)
	noInter.Secrets = []Secret{CACerts(east)}
	noInter.Secrets[0].Data["cert-chain.pem"] = root.CertPEM()
	add("chain-missing-intermediate", noInter, plugged("west", west))

	mismatched := plugged("east", east)
	mismatched.RootCerts = map[string][]byte{istioNS: root.CertPEM(), "default": rootB.CertPEM()}
	add("mismatched-root-configmap", mismatched, plugged("west", west))

	// Rotation from root A to root C: east already signs under C, west still
	// under A; both trust both.
	rootC := NewRoot("meshfed test root C (new)", Opts{})
	eastC := rootC.Issue("intermediate east (root C)", Opts{})
	both := Bundle(root.CertPEM(), rootC.CertPEM())
	rot := func(ctx string, ca *CA) Cluster {
		c := plugged(ctx, ca)
		c.Secrets[0].Data["root-cert.pem"] = both
		c.RootCerts = map[string][]byte{istioNS: both, "default": both}
		c.IstiodEnv = map[string]string{"ISTIO_MULTIROOT_MESH": "true"}
		return c
	}
	add("multi-root-rotation", rot("east", eastC), rot("west", west))

	tdEast, tdWest := plugged("east", east), plugged("west", west)
	tdEast.TrustDomain, tdWest.TrustDomain = "east.example", "west.example"
	add("different-trust-domains", tdEast, tdWest)
	tdEast.Aliases, tdWest.Aliases = []string{"west.example"}, []string{"east.example"}
	add("trust-domain-aliases", tdEast, tdWest)

	csr := Cluster{Context: "east", IstiodEnv: map[string]string{"ENABLE_CA_SERVER": "false"},
		CAAddress: "cert-manager-istio-csr.cert-manager.svc:443",
		RootCerts: map[string][]byte{istioNS: root.CertPEM(), "default": root.CertPEM()}}
	add("istio-csr", csr, plugged("west", west))
	csrWest := csr
	csrWest.Context = "west"
	csrWest.RootCerts = map[string][]byte{istioNS: rootB.CertPEM(), "default": rootB.CertPEM()}
	add("istio-csr-two-roots", csr, csrWest)

	other := NewRoot("unrelated key holder", Opts{})
	wrongKey := plugged("east", east.WithKey(other.Key))
	add("key-mismatch", wrongKey, plugged("west", west))

	add("not-ca", plugged("east", root.Issue("intermediate east (not a CA)", Opts{NotCA: true})), plugged("west", west))

	add("no-cert-sign", plugged("east", root.Issue("intermediate east (no keyCertSign)", Opts{NoCertSign: true})), plugged("west", west))

	root0 := NewRoot("meshfed test root pathlen 0", Opts{PathLen: IntPtr(0)})
	add("root-pathlen-zero", plugged("east", root0.Issue("intermediate east", Opts{})), plugged("west", root0.Issue("intermediate west", Opts{})))

	// east's intermediate comes from the shared root but carries a name
	// constraint excluding the trust domain: peers trust its root, and
	// still refuse every SPIFFE ID it signs.
	add("name-constraint", plugged("east", root.Issue("intermediate east (excludes cluster.local)", Opts{ExcludedURIDomains: []string{"cluster.local"}})), plugged("west", west))
	// east's intermediate may only sign code: workload certificates below
	// it fail verification for serverAuth and clientAuth.
	add("intermediate-eku", plugged("east", root.Issue("intermediate east (codeSigning only)", Opts{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})), plugged("west", west))

	rsaRoot := NewRoot("meshfed test RSA root", Opts{RSABits: 2048})
	weak := rsaRoot.Issue("intermediate east (weak)", Opts{RSABits: 1024, SignatureAlgorithm: x509.SHA1WithRSA})
	add("weak-intermediate", plugged("east", weak), plugged("west", rsaRoot.Issue("intermediate west", Opts{RSABits: 2048})))

	bad := plugged("east", east)
	bad.Secrets = []Secret{CACerts(east)}
	bad.Secrets[0].Data["cert-chain.pem"] = Bundle(east.CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("truncated certificate")}), root.CertPEM())
	bad.RootCerts = map[string][]byte{istioNS: root.CertPEM(), "default": []byte("root-cert.pem was overwritten with text\n")}
	add("malformed-pem", bad, plugged("west", west))

	incomplete := plugged("east", east)
	incomplete.Secrets = []Secret{CACerts(east)}
	delete(incomplete.Secrets[0].Data, "ca-key.pem")
	add("incomplete-bundle", incomplete, plugged("west", west))

	pca := func(ctx string, ca *CA) Cluster {
		c := plugged(ctx, ca)
		c.Secrets[0].Annotations = map[string]string{
			"cert-manager.io/certificate-name": "istio-ca-" + ctx, "cert-manager.io/issuer-name": "pca",
			"cert-manager.io/issuer-kind": "AWSPCAClusterIssuer", "cert-manager.io/issuer-group": "awspca.cert-manager.io",
		}
		return c
	}
	add("aws-private-ca", pca("east", east), pca("west", west))

	cm := func(ctx string, ca *CA) Cluster {
		c := plugged(ctx, ca)
		c.Secrets = []Secret{TLSCACerts(ca)}
		c.Secrets[0].Annotations = map[string]string{
			"cert-manager.io/certificate-name": "istio-ca", "cert-manager.io/issuer-name": "mesh-root",
			"cert-manager.io/issuer-kind": "ClusterIssuer", "cert-manager.io/issuer-group": "cert-manager.io",
		}
		return c
	}
	add("cert-manager", cm("east", east), cm("west", west))
	return s
}

// Fixtures are the trust checks' fixtures: each scenario under the checks it
// passes or fails, with the findings a failing one must produce.
func Fixtures() []Fixture {
	s := Scenarios()
	var out []Fixture
	pass := func(check string, names ...string) {
		for _, n := range names {
			out = append(out, Fixture{Check: check, Case: "pass-" + n, Scenario: s[n]})
		}
	}
	fail := func(check, name string, e ...Expect) {
		out = append(out, Fixture{Check: check, Case: "fail-" + name, Scenario: s[name], Expect: e})
	}
	const errS, warnS, infoS, unkS = "error", "warning", "info", "unknown"

	// The roots are the same; the cause is east's CA, which MF2015 names.
	pass("MF2001", "shared-root", "tls-layout", "multi-root-rotation", "different-trust-domains", "name-constraint", "intermediate-eku")
	for _, n := range []string{"two-roots", "self-signed", "expired-intermediate", "chain-not-to-root", "mismatched-root-configmap", "not-yet-valid", "key-mismatch"} {
		fail("MF2001", n, exp("MF2001", errS, nil, "east", "west"))
	}
	fail("MF2001", "no-cert-sign", exp("MF2001", errS, nil, "east", "west"))
	fail("MF2001", "istio-csr", exp("MF2001", unkS, nil, "east"))
	fail("MF2001", "istio-csr-two-roots", exp("MF2001", errS, nil, "east", "west"))

	pass("MF2015", "shared-root", "tls-layout", "two-roots")
	fail("MF2015", "name-constraint", exp("MF2015", errS, cacertsRef, "east"))
	fail("MF2015", "intermediate-eku", exp("MF2015", errS, cacertsRef, "east"))

	pass("MF2002", "shared-root", "tls-layout")
	fail("MF2002", "self-signed", exp("MF2002", errS, selfRef, "east"))
	fail("MF2002", "self-signed-single-primary", exp("MF2002", infoS, selfRef, "east"))
	fail("MF2002", "istio-generated", exp("MF2002", errS, cacertsRef, "east"))

	pass("MF2003", "shared-root")
	fail("MF2003", "istio-csr", exp("MF2003", infoS, nil, "east"))

	pass("MF2004", "shared-root", "tls-layout")
	fail("MF2004", "key-mismatch", exp("MF2004", errS, cacertsRef, "east"))

	pass("MF2005", "shared-root")
	fail("MF2005", "not-ca", exp("MF2005", errS, cacertsRef, "east"))
	fail("MF2005", "no-cert-sign", exp("MF2005", errS, cacertsRef, "east"))
	fail("MF2005", "root-pathlen-zero", exp("MF2005", errS, cacertsRef, "east"), exp("MF2005", errS, cacertsRef, "west"))

	pass("MF2006", "shared-root", "tls-layout", "self-signed")
	fail("MF2006", "chain-not-to-root", exp("MF2006", errS, cacertsRef, "east"))
	fail("MF2006", "chain-missing-intermediate", exp("MF2006", errS, cacertsRef, "east"))

	pass("MF2007", "shared-root")
	fail("MF2007", "expired-intermediate", exp("MF2007", errS, cacertsRef, "east"))
	fail("MF2007", "not-yet-valid", exp("MF2007", errS, cacertsRef, "east"))

	pass("MF2008", "shared-root")
	fail("MF2008", "weak-intermediate", exp("MF2008", warnS, cacertsRef, "east"))

	pass("MF2009", "shared-root", "tls-layout")
	fail("MF2009", "malformed-pem", exp("MF2009", errS, cacertsRef, "east"), exp("MF2009", errS, cmRef("default"), "east"))
	fail("MF2009", "incomplete-bundle", exp("MF2009", errS, cacertsRef, "east"))

	pass("MF2010", "shared-root", "multi-root-rotation")
	fail("MF2010", "mismatched-root-configmap", exp("MF2010", errS, cmRef("default"), "east"))

	pass("MF2011", "shared-root")
	fail("MF2011", "multi-root-rotation", exp("MF2011", infoS, nil, "east"), exp("MF2011", infoS, nil, "west"))

	pass("MF2012", "shared-root", "trust-domain-aliases")
	fail("MF2012", "different-trust-domains", exp("MF2012", errS, nil, "east", "west"))

	pass("MF2013", "shared-root")
	fail("MF2013", "aws-private-ca", exp("MF2013", infoS, cacertsRef, "east"), exp("MF2013", infoS, cacertsRef, "west"))
	fail("MF2013", "cert-manager", exp("MF2013", infoS, cacertsRef, "east"), exp("MF2013", infoS, cacertsRef, "west"))
	return out
}

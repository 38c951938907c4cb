package trust

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

func fleetOf(t *testing.T, cs ...pkitest.Cluster) *model.Fleet {
	t.Helper()
	f := &model.Fleet{IstioNamespace: "istio-system"}
	for _, pc := range cs {
		c := &model.Cluster{Context: pc.Context, IstioNamespace: "istio-system", Reachable: true}
		if err := fleet.AddManifests(c, pc.Manifests("istio-system")); err != nil {
			t.Fatal(err)
		}
		f.Clusters = append(f.Clusters, c)
	}
	return f
}

func plugged(ctx string, ca *pkitest.CA) pkitest.Cluster {
	return pkitest.Cluster{Context: ctx, Secrets: []pkitest.Secret{pkitest.CACerts(ca)},
		RootCerts: map[string][]byte{"istio-system": ca.Root().CertPEM()}}
}

func run(opts Options, id checks.ID, f *model.Fleet) []checks.Finding {
	for _, c := range ChecksWith(opts) {
		if c.ID() == id {
			return c.Run(f)
		}
	}
	panic("no check " + id)
}

// The expiry windows follow Options, judged at Options.Now.
func TestExpiryWindows(t *testing.T) {
	notAfter := time.Date(2031, 6, 30, 0, 0, 0, 0, time.UTC)
	root := pkitest.NewRoot("root", pkitest.Opts{})
	inter := root.Issue("inter", pkitest.Opts{NotAfter: notAfter})
	f := fleetOf(t, plugged("east", inter))
	day := 24 * time.Hour
	for _, tc := range []struct {
		left   time.Duration
		opts   Options
		want   checks.Severity
		expect bool
	}{
		{60 * day, DefaultOptions(), 0, false},
		{20 * day, DefaultOptions(), checks.SeverityWarning, true},
		{3 * day, DefaultOptions(), checks.SeverityOK, true}, // the catalog's severity: error
		{20 * day, Options{CertWarn: 10 * day, CertError: 5 * day}, 0, false},
		{20 * day, Options{CertWarn: 90 * day, CertError: 30 * day}, checks.SeverityOK, true},
		{-day, DefaultOptions(), checks.SeverityOK, true},
	} {
		o := tc.opts
		o.Now = notAfter.Add(-tc.left)
		got := run(o, "MF2007", f)
		if !tc.expect {
			if len(got) != 0 {
				t.Errorf("%v left, %+v: want nothing, got %v", tc.left, o, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Severity != tc.want {
			t.Errorf("%v left, warn %v error %v: want one finding of severity %v, got %+v", tc.left, o.CertWarn, o.CertError, tc.want, got)
		}
	}
}

// The matrix is data a renderer can draw: every ordered pair once.
func TestMatrixShape(t *testing.T) {
	rootA, rootB := pkitest.NewRoot("A", pkitest.Opts{}), pkitest.NewRoot("B", pkitest.Opts{})
	f := fleetOf(t, plugged("a", rootA.Issue("a", pkitest.Opts{})), plugged("b", rootA.Issue("b", pkitest.Opts{})), plugged("c", rootB.Issue("c", pkitest.Opts{})))
	m := BuildMatrix(f, Options{})
	if len(m.Contexts) != 3 || len(m.Cells) != 9 {
		t.Fatalf("contexts %v, %d cells", m.Contexts, len(m.Cells))
	}
	for i, from := range m.Contexts {
		for j, to := range m.Contexts {
			c := m.Cells[i*3+j]
			want := model.TrustOK
			if (from == "c") != (to == "c") {
				want = model.TrustFail
			}
			if c.From != from || c.To != to || c.Verdict != want || c.Method != MethodLeaf {
				t.Errorf("cell %d: %+v, want %s→%s %s", i*3+j, c, from, to, want)
			}
		}
	}
	if got := run(Options{}, "MF2001", f); len(got) != 2 {
		t.Errorf("want one finding per failing pair (a,c) and (b,c), got %d", len(got))
	}
}

// No private key ever reaches a finding, the matrix, or their printed forms:
// every trust check runs on every trust fixture, and the output is searched
// for each key's PEM, base64, DER and scalar.
func TestNoKeyMaterialInOutput(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "all", "testdata", "MF2*", "*"))
	keysSeen := 0
	for _, dir := range dirs {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		var forbidden []string
		for _, c := range f.Clusters {
			for _, s := range c.Secrets {
				for _, k := range []string{mesh.KeyCAKey, mesh.KeyTLSKey} {
					if v := s.Data[k]; len(v) > 0 {
						keysSeen++
						forbidden = append(forbidden, keyForms(t, v)...)
					}
				}
			}
		}
		var out strings.Builder
		var all []checks.Finding
		for _, c := range Checks() {
			all = append(all, c.Run(f)...)
		}
		js, _ := json.Marshal(all)
		out.Write(js)
		m := BuildMatrix(f, Options{})
		js, _ = json.Marshal(m)
		out.Write(js)
		for _, p := range Peers(f) {
			fmt.Fprintf(&out, "%v %+v %#v %v", p, p, p.CA, p.CA.Key())
		}
		for _, bad := range forbidden {
			if strings.Contains(out.String(), bad) {
				t.Errorf("%s: output holds key material %q", dir, bad)
			}
		}
		if strings.Contains(out.String(), "PRIVATE KEY") {
			t.Errorf("%s: output holds a PEM private key header", dir)
		}
	}
	if keysSeen == 0 {
		t.Fatal("no fixture holds a key: the test proves nothing")
	}
}

// keyForms are the ways a key could leak: PEM body lines, base64 and hex of
// its DER, and its secret scalar in hex and decimal.
func keyForms(t *testing.T, pemData []byte) []string {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil
	}
	var out []string
	b64 := base64.StdEncoding.EncodeToString(block.Bytes)
	h := hex.EncodeToString(block.Bytes)
	for i := 0; i+24 <= len(b64); i += 24 {
		out = append(out, b64[i:i+24])
	}
	for i := 0; i+32 <= len(h); i += 64 {
		out = append(out, h[i:i+32])
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if ek, ok := k.(interface{ Bytes() ([]byte, error) }); ok {
			if raw, err := ek.Bytes(); err == nil {
				out = append(out, hex.EncodeToString(raw))
			}
		}
	}
	return out
}

// An AWS Private CA address in the chain is clear evidence; a subject that
// says "Amazon" is not.
func TestProvenanceFromCertificates(t *testing.T) {
	root := pkitest.NewRoot("root", pkitest.Opts{Organization: "Amazon"})
	pca := root.Issue("inter", pkitest.Opts{OCSPServer: []string{"http://ocsp.acm-pca.eu-west-1.amazonaws.com"}})
	named := root.Issue("inter", pkitest.Opts{Organization: "Amazon Web Services"})
	if got := run(Options{}, "MF2013", fleetOf(t, plugged("east", pca))); len(got) != 1 || !strings.Contains(got[0].Message, "AWS Private CA") {
		t.Errorf("OCSP address of AWS Private CA: got %+v", got)
	}
	if got := run(Options{}, "MF2013", fleetOf(t, plugged("east", named))); len(got) != 0 {
		t.Errorf("a subject name is not evidence: got %+v", got)
	}
}

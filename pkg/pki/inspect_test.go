package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func mkCA(t *testing.T, cn string, parent *ca, mod func(*x509.Certificate)) *ca {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	if mod != nil {
		mod(tmpl)
	}
	p, pk := tmpl, k
	if parent != nil {
		p, pk = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, &k.PublicKey, pk)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &ca{c, k}
}

func TestIssueLeafIsWhatIstiodIssues(t *testing.T) {
	root := mkCA(t, "root", nil, nil)
	inter := mkCA(t, "inter", root, nil)
	leaf, key, err := IssueLeaf(inter.cert, inter.key, SPIFFEID("example.org", "default", "default"), nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://example.org/ns/default/sa/default" {
		t.Errorf("URI SAN: %v", leaf.URIs)
	}
	if leaf.IsCA || !key.Matches(leaf) {
		t.Error("the leaf must not be a CA and must match its key")
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := Verify(leaf, []*x509.Certificate{inter.cert}, []*x509.Certificate{root.cert}, t0, u); err != nil {
			t.Errorf("usage %v: %v", u, err)
		}
	}
	// Clamped to the signer's NotAfter, like istiod.
	late := inter.cert.NotAfter.Add(-time.Minute)
	leaf, _, _ = IssueLeaf(inter.cert, inter.key, SPIFFEID("example.org", "a", "b"), nil, late)
	if !leaf.NotAfter.Equal(inter.cert.NotAfter) {
		t.Errorf("NotAfter %v, want the signer's %v", leaf.NotAfter, inter.cert.NotAfter)
	}
}

func TestPathAndConstraints(t *testing.T) {
	root := mkCA(t, "root", nil, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 0, true })
	inter := mkCA(t, "inter", root, nil)
	path := BuildPath(inter.cert, []*x509.Certificate{root.cert, inter.cert})
	if len(path) != 2 || !path[1].Equal(root.cert) {
		t.Fatalf("path %v", path)
	}
	if p := PathLenProblems(path); len(p) != 1 {
		t.Errorf("root pathLen 0 above an intermediate: got %v", p)
	}
	if p := PathLenProblems(path[:1]); len(p) != 0 {
		t.Errorf("an intermediate with pathLen 0 may sign leaves: got %v", p)
	}
	notCA := mkCA(t, "leafish", root, func(c *x509.Certificate) { c.IsCA, c.KeyUsage = false, x509.KeyUsageDigitalSignature })
	if p := CAProblems(notCA.cert); len(p) != 2 {
		t.Errorf("not a CA, no certSign: got %v", p)
	}
	if p := CAProblems(inter.cert); len(p) != 0 {
		t.Errorf("a sound CA: got %v", p)
	}
}

func TestCheckValidity(t *testing.T) {
	c := &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(40 * 24 * time.Hour)}
	day := 24 * time.Hour
	for at, want := range map[time.Time]Validity{
		t0.Add(-time.Second): NotYetValid, t0.Add(day): Valid, t0.Add(15 * day): ExpiresSoon,
		t0.Add(35 * day): ExpiresVerySoon, t0.Add(41 * day): Expired,
	} {
		if got := CheckValidity(c, at, 30*day, 7*day); got != want {
			t.Errorf("at %v: got %v, want %v", at, got, want)
		}
	}
}

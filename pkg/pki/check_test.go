package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// bentIssuer signs like a LocalIssuer, but lets bend change the certificate
// first: what a CA returns that does not do what its template says, or a
// request rewritten on its way.
type bentIssuer struct {
	cert     *x509.Certificate   // the signing CA
	chain    []*x509.Certificate // cert and its issuers up to the root
	key      *Key
	template Template
	bend     func(c *x509.Certificate)
	otherKey *Key // when set, the certificate is for this key, not the CSR's
	noChain  bool // when set, the chain is left out
}

func (b *bentIssuer) Root() *x509.Certificate { return b.chain[len(b.chain)-1] }
func (b *bentIssuer) Describe() string        { return "bent issuer" }
func (b *bentIssuer) Template() Template      { return b.template }

func (b *bentIssuer) IssueIntermediate(_ context.Context, req IntermediateRequest) (Issued, error) {
	tmpl, err := IntermediateTemplate(req, b.cert.NotAfter)
	if err != nil {
		return Issued{}, err
	}
	if b.bend != nil {
		b.bend(tmpl)
	}
	pub := req.CSR.PublicKey
	if b.otherKey != nil {
		pub = b.otherKey.Public()
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.cert, pub, b.key)
	if err != nil {
		return Issued{}, err
	}
	c, err := x509.ParseCertificate(der)
	if b.noChain {
		return Issued{Cert: c}, err
	}
	return Issued{Cert: c, Chain: b.chain, Root: b.Root()}, err
}

// subCA makes a CA below parent with the given path length (-1: none).
func subCA(t *testing.T, parent *x509.Certificate, parentKey *Key, pathLen int) (*x509.Certificate, *Key) {
	t.Helper()
	key, _ := GenerateKey(ECDSAP256)
	tmpl := &x509.Certificate{SerialNumber: big1(), Subject: IntermediateSubject("", "issuing"), NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(5 * 365 * 24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func big1() *big.Int { n, _ := randomSerial(); return n }

func TestCheckIssued(t *testing.T) {
	root, rootKey := newRoot(t, ECDSAP256)
	otherRoot, _ := newRoot(t, ECDSAP256)
	sub0, sub0Key := subCA(t, root, rootKey, 0)
	sub1, sub1Key := subCA(t, root, rootKey, 1)
	stranger, _ := GenerateKey(ECDSAP256)
	pathLen1 := Template{Name: "PathLen1 template", PathLen: 1}
	day := 24 * time.Hour

	underRoot := func(tmpl Template, bend func(*x509.Certificate)) *bentIssuer {
		return &bentIssuer{cert: root, chain: []*x509.Certificate{root}, key: rootKey, template: tmpl, bend: bend}
	}
	for _, tc := range []struct {
		name     string
		issuer   *bentIssuer
		validity time.Duration
		planRoot *x509.Certificate
		want     string // "" passes; else a reason the refusal must give
	}{
		// The passing side.
		{name: "pathlen 0 under the root", issuer: underRoot(LocalTemplate, nil)},
		{name: "pathlen 1 when the template asks for 1", issuer: underRoot(pathLen1, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 1, false })},
		{name: "pathlen 0 below a CA of pathlen 1", issuer: &bentIssuer{cert: sub1, chain: []*x509.Certificate{sub1, root}, key: sub1Key, template: LocalTemplate}},
		{name: "clipped to the signing CA's end", issuer: &bentIssuer{cert: sub1, chain: []*x509.Certificate{sub1, root}, key: sub1Key, template: LocalTemplate}, validity: 20 * 365 * day},
		{name: "no keyUsage at all", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) { c.KeyUsage = 0 })},

		// Not a CA: what EndEntityCertificate/V1 makes.
		{name: "end entity", want: "basicConstraints does not mark it as a CA", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) {
			c.IsCA, c.MaxPathLen, c.MaxPathLenZero = false, -1, false
			c.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		})},
		{name: "keyUsage without keyCertSign", want: "keyUsage lacks keyCertSign", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature })},

		// Path lengths that are not what was asked, or that the chain forbids.
		{name: "pathlen 1 when 0 was asked", want: "path length is 1, but the template asks for pathlen 0", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 1, false })},
		{name: "no pathlen when 0 was asked", want: "unlimited", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = -1, false })},
		{name: "pathlen 0 when 1 was asked", want: "path length is 0, but the template asks for pathlen 1", issuer: underRoot(pathLen1, nil)},
		{name: "below a CA of pathlen 0", want: "the chain forbids it", issuer: &bentIssuer{cert: sub0, chain: []*x509.Certificate{sub0, root}, key: sub0Key, template: LocalTemplate}},
		{name: "pathlen 1 below a CA of pathlen 1", want: "needs 2: the chain forbids it", issuer: &bentIssuer{cert: sub1, chain: []*x509.Certificate{sub1, root}, key: sub1Key, template: pathLen1,
			bend: func(c *x509.Certificate) { c.MaxPathLen, c.MaxPathLenZero = 1, false }}},

		// Another key, another root.
		{name: "for another key", want: "not for the key made here", issuer: &bentIssuer{cert: root, chain: []*x509.Certificate{root}, key: rootKey, template: LocalTemplate, otherKey: stranger}},
		{name: "under another root", want: "not at the root the plan named", issuer: underRoot(LocalTemplate, nil), planRoot: otherRoot},
		{name: "without its chain", want: "without the chain", issuer: &bentIssuer{cert: root, chain: []*x509.Certificate{root}, key: rootKey, template: LocalTemplate, noChain: true}},

		// Validity.
		{name: "shorter than asked", want: "not 2032-01-01T00:00:00Z as asked", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) { c.NotAfter = t0.Add(day) })},
		{name: "longer than its CA", want: "after the CA that signed it", issuer: &bentIssuer{cert: sub1, chain: []*x509.Certificate{sub1, root}, key: sub1Key, template: LocalTemplate,
			bend: func(c *x509.Certificate) { c.NotAfter = sub1.NotAfter.Add(day) }}},
		{name: "already expired", want: "already expired", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) { c.NotBefore, c.NotAfter = t0.Add(-3*day), t0.Add(-day) })},
		{name: "not yet valid", want: "valid only from", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) { c.NotBefore = t0.Add(day) })},

		// What only the trial workload certificate finds: an extended key
		// usage that leaves out mTLS.
		{name: "extended key usage without mTLS", want: "a workload certificate it signs does not verify", issuer: underRoot(LocalTemplate, func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := IntermediateSpec{Subject: IntermediateSubject("", "east"), DNSNames: []string{IntermediateDNSName("istio-system")}, NotBefore: t0, Validity: tc.validity, Root: tc.planRoot}
			out, key, err := NewIntermediate(context.Background(), tc.issuer, spec)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if key == nil || !key.Matches(out.Cert) {
					t.Error("the key returned is not the certificate's")
				}
				return
			}
			t.Log(err)
			var refused *RefusedError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a refusal saying %q, got %v", tc.want, err)
			}
			if !strings.Contains(err.Error(), tc.issuer.template.Name) {
				t.Errorf("the refusal does not name the template %q: %v", tc.issuer.template.Name, err)
			}
			if key != nil || out.Cert != nil {
				t.Error("a refused intermediate came back with its key")
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Error("the refusal shows a key")
			}
		})
	}
}

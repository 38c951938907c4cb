package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func newRoot(t *testing.T, alg KeyAlgorithm) (*x509.Certificate, *Key) {
	t.Helper()
	key, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	root, err := NewRoot(key, RootOptions{NotBefore: t0})
	if err != nil {
		t.Fatal(err)
	}
	return root, key
}

func issue(t *testing.T, iss Issuer, cluster string, validity time.Duration) (Issued, *Key) {
	t.Helper()
	key, err := GenerateKey(DefaultIntermediateAlgorithm)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NewCSR(key, IntermediateSubject("", cluster), []string{IntermediateDNSName("istio-system")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := iss.IssueIntermediate(context.Background(), IntermediateRequest{CSR: csr, NotBefore: t0, Validity: validity})
	if err != nil {
		t.Fatal(err)
	}
	return out, key
}

func TestRootDefaults(t *testing.T) {
	root, key := newRoot(t, DefaultRootAlgorithm)
	if !SelfSigned(root) || !root.IsCA || root.MaxPathLenZero || root.MaxPathLen > 0 {
		t.Errorf("root: self-signed CA without a path length wanted, got IsCA=%v pathlen=%d/%v", root.IsCA, root.MaxPathLen, root.MaxPathLenZero)
	}
	if pub, ok := root.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P384() || root.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Errorf("root key %s signed %v, want ECDSA P-384 with SHA-384", DescribePublicKey(root.PublicKey), root.SignatureAlgorithm)
	}
	if got := root.NotAfter.Sub(t0); got != DefaultRootValidity {
		t.Errorf("root lives %v, want %v", got, DefaultRootValidity)
	}
	if len(root.SubjectKeyId) == 0 || root.Subject.CommonName != DefaultRootCommonName {
		t.Errorf("subject key id %x, subject %q", root.SubjectKeyId, root.Subject.String())
	}
	if !key.Matches(root) {
		t.Error("the root is not its key's")
	}
}

func TestIntermediateIsWhatIstiodNeeds(t *testing.T) {
	for _, alg := range []KeyAlgorithm{ECDSAP384, RSA3072} {
		t.Run(string(alg), func(t *testing.T) {
			root, rootKey := newRoot(t, alg)
			iss, err := NewLocalIssuer(root, nil, rootKey, t0)
			if err != nil {
				t.Fatal(err)
			}
			out, key := issue(t, iss, "east", 0)
			c := out.Cert
			if !c.IsCA || !c.MaxPathLenZero || c.MaxPathLen != 0 {
				t.Errorf("want CA:TRUE pathlen 0, got IsCA=%v pathlen=%d zero=%v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
			}
			want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
			if c.KeyUsage != want {
				t.Errorf("keyUsage %b, want %b", c.KeyUsage, want)
			}
			if len(c.DNSNames) != 1 || c.DNSNames[0] != "istiod.istio-system.svc" || c.Subject.Locality[0] != "east" {
				t.Errorf("SAN %v, subject %q", c.DNSNames, c.Subject.String())
			}
			if !key.Matches(c) || !out.Root.Equal(root) || len(out.Chain) != 1 || len(out.CertChain()) != 2 {
				t.Errorf("issued %d chain certs, root %v", len(out.Chain), out.Root.Subject)
			}
			if got := c.NotAfter.Sub(t0); got != DefaultIntermediateValidity {
				t.Errorf("intermediate lives %v, want %v", got, DefaultIntermediateValidity)
			}
			// istiod can issue a workload certificate that verifies to the root.
			leaf, _, err := IssueLeaf(c, key, SPIFFEID("cluster.local", "default", "default"), nil, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(leaf, out.CertChain(), []*x509.Certificate{root}, t0.Add(time.Hour), x509.ExtKeyUsageServerAuth); err != nil {
				t.Errorf("workload certificate: %v", err)
			}
		})
	}
}

func TestIntermediateNeverOutlivesItsIssuer(t *testing.T) {
	root, rootKey := newRoot(t, ECDSAP256)
	iss, _ := NewLocalIssuer(root, nil, rootKey, t0)
	out, _ := issue(t, iss, "east", 20*365*24*time.Hour)
	if !out.Cert.NotAfter.Equal(root.NotAfter) {
		t.Errorf("NotAfter %v, want the root's %v", out.Cert.NotAfter, root.NotAfter)
	}
}

func TestIssuingFromAnIntermediate(t *testing.T) {
	root, rootKey := newRoot(t, ECDSAP256)
	iss, _ := NewLocalIssuer(root, nil, rootKey, t0)
	// An intermediate of path length 0 cannot sign another CA.
	mid, midKey := issue(t, iss, "mid", 0)
	if _, err := NewLocalIssuer(mid.Cert, mid.Chain, midKey, t0); err == nil || !strings.Contains(err.Error(), "path length") {
		t.Errorf("issuing below a pathlen-0 CA: %v", err)
	}
	// A sub-CA without a path length can; the chain ends at the root.
	subKey, _ := GenerateKey(ECDSAP256)
	tmpl := &x509.Certificate{SerialNumber: root.SerialNumber, Subject: IntermediateSubject("", "sub"), NotBefore: t0, NotAfter: t0.Add(48 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, subKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := x509.ParseCertificate(der)
	subIss, err := NewLocalIssuer(sub, []*x509.Certificate{root}, subKey, t0)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := issue(t, subIss, "east", 0)
	if len(out.Chain) != 2 || !out.Chain[0].Equal(sub) || !out.Root.Equal(root) || !out.Cert.NotAfter.Equal(sub.NotAfter) {
		t.Errorf("chain %d long, NotAfter %v (sub's %v)", len(out.Chain), out.Cert.NotAfter, sub.NotAfter)
	}
	if !strings.Contains(subIss.Describe(), "under root") {
		t.Errorf("describe: %s", subIss.Describe())
	}
}

func TestLocalIssuerRefusesWhatCannotSign(t *testing.T) {
	root, rootKey := newRoot(t, ECDSAP256)
	other, _ := GenerateKey(ECDSAP256)
	if _, err := NewLocalIssuer(root, nil, other, t0); err == nil || !strings.Contains(err.Error(), "not the key") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := NewLocalIssuer(root, nil, rootKey, root.NotAfter.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "not valid now") {
		t.Errorf("expired root: %v", err)
	}
	iss, _ := NewLocalIssuer(root, nil, rootKey, t0)
	mid, midKey := issue(t, iss, "east", 0)
	if _, err := NewLocalIssuer(mid.Cert, nil, midKey, t0); err == nil {
		t.Error("an intermediate without its chain to a root must be refused")
	}
}

func TestPrivateKeyPEMRoundTrips(t *testing.T) {
	k, _ := GenerateKey(ECDSAP256)
	p, err := k.PrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := NewRoot(k, RootOptions{NotBefore: t0})
	if !back.Matches(root) || !strings.HasPrefix(string(p), "-----BEGIN PRIVATE KEY-----") {
		t.Error("PKCS #8 round trip")
	}
	if s := EncodeCertificates(root, root); strings.Count(string(s), "BEGIN CERTIFICATE") != 2 {
		t.Error("two certificates wanted")
	}
}

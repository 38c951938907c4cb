package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func selfSigned(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParseCertificates(t *testing.T) {
	a, b := selfSigned(t, "a"), selfSigned(t, "b")
	certs, err := ParseCertificates(append(a, b...))
	if err != nil || len(certs) != 2 || certs[1].Subject.CommonName != "b" {
		t.Fatalf("bundle of two: %v %v", certs, err)
	}
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"empty":         {nil, "no PEM certificate"},
		"not pem":       {[]byte("hello"), "not PEM"},
		"key block":     {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("SECRETKEYBYTES")}), `block 1 is a "EC PRIVATE KEY"`},
		"bad der":       {append(a, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})...), "PEM block 2"},
		"trailing junk": {append(a, []byte("garbage")...), "after PEM block 1"},
	} {
		_, err := ParseCertificates(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRETKEYBYTES") {
			t.Errorf("%s: the error quotes the input", name)
		}
	}
	if !errors.Is(func() error { _, err := ParseCertificates(nil); return err }(), ErrNoCertificates) {
		t.Error("empty input should be ErrNoCertificates")
	}
}

func FuzzParseCertificates(f *testing.F) {
	f.Add(selfSigned(f, "seed"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificates(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificates")
		}
	})
}

package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
)

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParsePrivateKeyFormats(t *testing.T) {
	ec := ecKey(t)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rk)
	for name, tc := range map[string]struct {
		block *pem.Block
		want  string
	}{
		"sec1":   {&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}, "ECDSA P-256"},
		"pkcs1":  {&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}, "RSA 2048"},
		"pkcs8":  {&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}, "RSA 2048"},
		"extras": {&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1, Headers: map[string]string{"x": "y"}}, "ECDSA P-256"},
	} {
		k, err := ParsePrivateKey(pem.EncodeToMemory(tc.block))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := DescribePublicKey(k.Public()); got != tc.want {
			t.Errorf("%s: got %s, want %s", name, got, tc.want)
		}
	}
}

func TestParsePrivateKeyErrorsNeverQuoteInput(t *testing.T) {
	const secret = "SECRETKEYBYTES"
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"empty":       {nil, "no PEM private key"},
		"not pem":     {[]byte(secret), "not PEM"},
		"certificate": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(secret)}), `"CERTIFICATE", not a private key`},
		"bad der":     {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte(secret)}), "does not parse"},
		"bad pkcs8":   {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte(secret)}), "does not parse"},
		"odd type":    {pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte(secret)}), "does not read"},
	} {
		_, err := ParsePrivateKey(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), hex.EncodeToString([]byte(secret)))) {
			t.Errorf("%s: the error quotes the input: %v", name, err)
		}
	}
}

func TestKeyNeverShowsItself(t *testing.T) {
	ec := ecKey(t)
	k := WrapKey(ec)
	d := ec.D.Bytes()
	js, _ := json.Marshal(struct{ K *Key }{k})
	for how, out := range map[string]string{
		"%v": fmt.Sprintf("%v", k), "%+v": fmt.Sprintf("%+v", k), "%#v": fmt.Sprintf("%#v", k),
		"%s": fmt.Sprintf("%s", k), "%x": fmt.Sprintf("%x", k), "%d": fmt.Sprintf("%d", k),
		"struct %+v": fmt.Sprintf("%+v", struct{ K *Key }{k}), "json": string(js),
	} {
		if strings.Contains(out, hex.EncodeToString(d)) || strings.Contains(out, ec.D.String()) {
			t.Errorf("%s shows the key: %s", how, out)
		}
		if !strings.Contains(out, "private key ECDSA P-256") {
			t.Errorf("%s: want the redacted form, got %s", how, out)
		}
	}
}

func FuzzParsePrivateKey(f *testing.F) {
	sec1, _ := x509.MarshalECPrivateKey(ecKey(f))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey(data)
		if (k == nil) == (err == nil) {
			t.Fatalf("want exactly one of key and error, got %v and %v", k, err)
		}
		if err != nil && len(data) > 12 && strings.Contains(err.Error(), string(data)) {
			t.Fatalf("the error quotes the input: %v", err)
		}
	})
}

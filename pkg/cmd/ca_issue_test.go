package cmd

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/awstest"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// awsEnv points the standard AWS chain at a local test endpoint.
func awsEnv(t *testing.T) *awstest.Server {
	t.Helper()
	return awstest.StartEnv(t)
}

func TestCAIssueFromPrivateCA(t *testing.T) {
	s := awsEnv(t)
	root, err := s.PCA.CreateCA(awstest.CAOptions{CommonName: "corp root", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	s.PCA.SetPendingPolls(1)
	dir := filepath.Join(t.TempDir(), "east")
	r := run(t, Backend{}, "ca", "issue", "--ca", "aws-pca", "--pca-arn", root.ARN, "--cluster-id", "east", "--out-dir", dir, "-o", "json")
	r.expect(t, ExitOK, "")
	var res CAIssueResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	key, err := pki.ParsePrivateKey(read(mesh.KeyCAKey))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := pki.ParseCertificates(read(mesh.KeyCACert))
	chain, _ := pki.ParseCertificates(read(mesh.KeyCertChain))
	roots, _ := pki.ParseCertificates(read(mesh.KeyRootCert))
	if len(cert) != 1 || !key.Matches(cert[0]) || !cert[0].IsCA || !cert[0].MaxPathLenZero {
		t.Fatalf("ca-cert.pem: want a pathlen-0 CA for ca-key.pem")
	}
	if len(roots) != 1 || !roots[0].Equal(root.Cert) || len(chain) != 2 || !chain[0].Equal(cert[0]) {
		t.Errorf("root-cert.pem / cert-chain.pem are not the CA's root and the intermediate's chain")
	}
	if _, err := pki.Verify(cert[0], chain[1:], []*x509.Certificate{root.Cert}, time.Now()); err != nil {
		t.Error(err)
	}
	if cert[0].Subject.CommonName != "Intermediate CA east" || res.ClusterID != "east" || res.Fingerprint != fullFingerprint(cert[0]) {
		t.Errorf("result %+v, subject %q", res, cert[0].Subject)
	}
	for name, want := range map[string]os.FileMode{mesh.KeyCAKey: 0o600, mesh.KeyCACert: 0o644, mesh.KeyRootCert: 0o644, "": 0o700} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", name, st.Mode().Perm(), err, want)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Error("the key was printed")
	}
	again := run(t, Backend{}, "ca", "issue", "--pca-arn", root.ARN, "--cluster-id", "east", "--out-dir", dir)
	again.expect(t, ExitFailed, "never overwrites")
}

func TestCAIssueRefusals(t *testing.T) {
	s := awsEnv(t)
	disabled, err := s.PCA.CreateCA(awstest.CAOptions{Status: awstest.StatusDisabled})
	if err != nil {
		t.Fatal(err)
	}
	active, err := s.PCA.CreateCA(awstest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := func() string { return filepath.Join(t.TempDir(), "x") }
	run(t, Backend{}, "ca", "issue", "--pca-arn", disabled.ARN, "--cluster-id", "east", "--out-dir", out()).expect(t, ExitFailed, "not ACTIVE")
	run(t, Backend{}, "ca", "issue", "--pca-arn", "arn:aws:acm:us-east-1:1:certificate/x", "--cluster-id", "east", "--out-dir", out()).expect(t, ExitFailed, "--pca-arn")
	run(t, Backend{}, "ca", "issue", "--ca", "vault", "--pca-arn", active.ARN, "--out-dir", out()).expect(t, ExitFailed, "--ca")
	s.Deny(awstest.ServicePCA, "IssueCertificate")
	dir := out()
	run(t, Backend{}, "ca", "issue", "--pca-arn", active.ARN, "--cluster-id", "east", "--out-dir", dir).expect(t, ExitFailed, "acm-pca:IssueCertificate")
	if _, err := os.Stat(filepath.Join(dir, mesh.KeyCAKey)); err == nil {
		t.Error("a key file was left although nothing was issued")
	}
}

// --pca-template takes only a subordinate-CA template, by name or ARN; the
// refusal lists those that work, before AWS is asked.
func TestCAIssueRefusesANonCATemplate(t *testing.T) {
	s := awsEnv(t)
	ca, err := s.PCA.CreateCA(awstest.CAOptions{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range []string{"arn:aws:acm-pca:::template/EndEntityCertificate/V1", "EndEntityCertificate/V1", "arn:aws:acm-pca:::template/anything"} {
		dir := filepath.Join(t.TempDir(), "east")
		r := run(t, Backend{}, "ca", "issue", "--pca-arn", ca.ARN, "--pca-template", tmpl, "--cluster-id", "east", "--out-dir", dir)
		r.expect(t, ExitFailed, "--pca-template")
		if r.err != nil && !strings.Contains(r.err.Error(), "SubordinateCACertificate_PathLen0/V1 (the default") {
			t.Errorf("%s: the refusal does not list the templates that work: %v", tmpl, r.err)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: %s was created", tmpl, dir)
		}
	}
	for _, tmpl := range []string{"SubordinateCACertificate_PathLen0/V1", "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0_CSRPassthrough/V1"} {
		run(t, Backend{}, "ca", "issue", "--pca-arn", ca.ARN, "--pca-template", tmpl, "--cluster-id", "east", "--out-dir", filepath.Join(t.TempDir(), "east")).expect(t, ExitOK, "")
	}
	if n := s.Calls(awstest.ServicePCA, "IssueCertificate"); n != 2 {
		t.Errorf("IssueCertificate called %d times, want 2 (only for the subordinate-CA templates)", n)
	}
}

// A certificate the CA returns that cannot serve as istiod's CA is refused
// with the reason and the template, and nothing is written.
func TestCAIssueRefusesWhatCannotSign(t *testing.T) {
	s := awsEnv(t)
	root, err := s.PCA.CreateCA(awstest.CAOptions{CommonName: "corp root", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	for fault, want := range map[string]string{
		"arn:aws:acm-pca:::template/EndEntityCertificate/V1":              "basicConstraints does not mark it as a CA",
		"arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1": "path length is 1, but the template asks for pathlen 0",
	} {
		s.PCA.SetIssueFault(awstest.IssueFault{Template: fault})
		dir := filepath.Join(t.TempDir(), "east")
		r := run(t, Backend{}, "ca", "issue", "--pca-arn", root.ARN, "--cluster-id", "east", "--out-dir", dir)
		r.expect(t, ExitFailed, want)
		if r.err != nil && (!strings.Contains(r.err.Error(), "SubordinateCACertificate_PathLen0/V1") || !strings.Contains(r.err.Error(), "nothing was written")) {
			t.Errorf("the refusal does not name the template or say nothing was written: %v", r.err)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: %s was created", fault, dir)
		}
		if strings.Contains(r.stdout+r.stderr+r.err.Error(), "PRIVATE KEY") {
			t.Error("a key was printed")
		}
	}
}

// The SDK's own lines (here a warning for every answer's unreadable Date
// header) reach neither the command's stderr nor the process's.
func TestCAIssuePrintsNoSDKLines(t *testing.T) {
	s := awsEnv(t)
	root, err := s.PCA.CreateCA(awstest.CAOptions{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	s.BadDate(true)
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	r := run(t, Backend{}, "ca", "issue", "--pca-arn", root.ARN, "--cluster-id", "east", "--out-dir", filepath.Join(t.TempDir(), "east"))
	os.Stderr = saved
	f.Close()
	r.expect(t, ExitOK, "")
	process, _ := os.ReadFile(f.Name())
	if len(process) > 0 || r.stderr != "" {
		t.Errorf("stderr: process %q, command %q", process, r.stderr)
	}
}

// TestCAIssueShowsSDKLinesWithV: the SDK's warnings are the plugin's log,
// so -v shows them on the command's stderr, marked as the SDK's.
func TestCAIssueShowsSDKLinesWithV(t *testing.T) {
	s := awsEnv(t)
	root, err := s.PCA.CreateCA(awstest.CAOptions{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	s.BadDate(true)
	r := run(t, Backend{}, "ca", "issue", "-v", "1", "--pca-arn", root.ARN, "--cluster-id", "east", "--out-dir", filepath.Join(t.TempDir(), "east"))
	r.expect(t, ExitOK, "")
	if !strings.Contains(r.stderr, "aws-sdk warn:") {
		t.Errorf("with -v 1, stderr has no line of the AWS SDK:\n%s", r.stderr)
	}
	// The switch is per run: the next run without -v is silent again.
	r = run(t, Backend{}, "ca", "issue", "--pca-arn", root.ARN, "--cluster-id", "west", "--out-dir", filepath.Join(t.TempDir(), "west"))
	r.expect(t, ExitOK, "")
	if r.stderr != "" {
		t.Errorf("without -v, stderr: %q", r.stderr)
	}
}

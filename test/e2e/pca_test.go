package e2e

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshfed/kubectl-meshfed/internal/awstest"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// TestFixTrustFromAWSPrivateCA moves a lab whose primaries have different
// roots onto an AWS Private CA (the local test endpoint, spoken to by the
// real SDK with SigV4): doctor --pca-arn says no primary signs under the
// CA's root (MF6001); fix --ca aws-pca --apply issues each primary's
// intermediate from the CA (keys made here, only the CSRs sent) into its
// cacerts; after istiod's restart, doctor finds no trust error, MF6001
// passes and every pair of primaries trusts each other. A DISABLED CA is
// refused before anything is planned.
func TestFixTrustFromAWSPrivateCA(t *testing.T) {
	s := startAWS(t)
	ca := createCA(t, s, "corp mesh root", "EC_secp384r1")
	s.PCA.SetPendingPolls(1) // each certificate: one RequestInProgressException first
	env := s.Env()

	l := labtest.Start(t, "different-roots", 2)
	ctxs := strings.Join(l.Contexts(), ",")
	var outputs []string
	run := func(args ...string) (string, string, int) {
		t.Helper()
		out, stderr, code := labtest.RunEnv(t, l, env, append(args, "--contexts", ctxs)...)
		outputs = append(outputs, out, stderr)
		return out, stderr, code
	}
	pcaFindings := func() (errs []string, mf6001 []finding) {
		t.Helper()
		out, stderr, _ := run("doctor", "-o", "json", "--checks", "trust,aws", "--pca-arn", ca.ARN)
		r := parseReport(t, out)
		for _, f := range r.Findings {
			if f.Check == "MF6001" {
				mf6001 = append(mf6001, f)
			}
			if f.Severity == "error" {
				errs = append(errs, f.Check+"@"+strings.Join(f.Contexts, ","))
			}
		}
		if r.Summary.Checks == 0 {
			t.Fatalf("doctor ran no check\n%s", stderr)
		}
		return errs, mf6001
	}

	_, before := pcaFindings()
	if len(before) != len(l.Primaries()) {
		t.Fatalf("before: MF6001 findings %+v, want one error per primary", before)
	}
	for _, f := range before {
		if f.Severity != "error" {
			t.Errorf("before: MF6001 %s on %v, want error", f.Severity, f.Contexts)
		}
	}

	// A CA that cannot issue is refused before anything is planned.
	s.PCA.SetStatus(ca.ARN, awstest.StatusDisabled)
	out, stderr, code := run("fix", "--apply", "--allow-root-change", "--ca", "aws-pca", "--pca-arn", ca.ARN)
	if code != 3 || !strings.Contains(stderr, "not ACTIVE") || s.PCA.Issued() != 0 {
		t.Fatalf("fix with a DISABLED CA: exit %d, %d issued\n%s\n%s", code, s.PCA.Issued(), out, stderr)
	}
	s.PCA.SetStatus(ca.ARN, awstest.StatusActive)

	out, stderr, code = run("fix", "--apply", "--allow-root-change", "--ca", "aws-pca", "--pca-arn", ca.ARN)
	if code != 0 {
		t.Fatalf("fix --ca aws-pca --apply: exit %d\n%s\n%s", code, out, stderr)
	}
	if n := s.PCA.Issued(); n != len(l.Primaries()) {
		t.Errorf("the Private CA issued %d certificates, want one per primary (%d)", n, len(l.Primaries()))
	}
	for _, c := range l.Primaries() {
		sec, err := l.Client(c).CoreV1().Secrets("istio-system").Get(context.Background(), "cacerts", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		certs, err := pki.ParseCertificates(sec.Data["ca-cert.pem"])
		if err != nil || !certs[0].IsCA || !certs[0].MaxPathLenZero || certs[0].CheckSignatureFrom(ca.Cert) != nil {
			t.Errorf("%s: ca-cert.pem is not a pathlen-0 intermediate signed by the Private CA (%v)", c, err)
		}
		key, err := pki.ParsePrivateKey(sec.Data["ca-key.pem"])
		if err != nil || !key.Matches(certs[0]) {
			t.Errorf("%s: ca-key.pem is not the intermediate's key (%v)", c, err)
		}
		if err := l.RestartIstiod(context.Background(), c); err != nil {
			t.Fatalf("restarting istiod in %s: %v", c, err)
		}
	}

	errs, after := pcaFindings()
	if len(errs) > 0 || len(after) > 0 {
		t.Errorf("after the fix and the restarts: errors %v, MF6001 findings %+v", errs, after)
	}
	if errs := labtest.TrustErrors(t, l); len(errs) > 0 {
		t.Errorf("trust errors after the fix: %v", errs)
	}
	for _, o := range outputs {
		if strings.Contains(o, "PRIVATE KEY") || strings.Contains(o, awstest.TestSecretAccessKey) {
			t.Fatal("a private key or the AWS secret key was printed")
		}
	}
}

// TestCAIssueThenKubectlOnLab is ca issue on its own, as its help tells a
// user to use it: issue each primary's intermediate from the Private CA into
// files, install them with kubectl, restart istiod. The doctor then finds
// every primary under the CA's root (no MF6001) and no trust error. The key
// file is the user's only, and no output shows a key.
func TestCAIssueThenKubectlOnLab(t *testing.T) {
	s := startAWS(t)
	ca := createCA(t, s, "corp mesh root", "EC_prime256v1")
	l := labtest.Start(t, "different-roots", 2)
	var outputs []string
	check := func(what string, out, stderr string, code int) {
		t.Helper()
		outputs = append(outputs, out, stderr)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", what, code, out, stderr)
		}
	}
	for _, c := range l.Primaries() {
		dir := filepath.Join(t.TempDir(), c+"-cacerts")
		out, stderr, code := labtest.RunEnv(t, l, s.Env(), "ca", "issue", "--ca", "aws-pca", "--pca-arn", ca.ARN, "--context", c, "--out-dir", dir)
		check("ca issue --context "+c, out, stderr, code)
		if st, err := os.Stat(filepath.Join(dir, "ca-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: ca-key.pem %v, %v; want mode 0600", c, st, err)
		}
		// The commands the help gives, through kubectl.
		for _, args := range [][]string{
			{"-n", "istio-system", "delete", "secret", "cacerts", "--ignore-not-found"},
			{"-n", "istio-system", "create", "secret", "generic", "cacerts", "--from-file=" + dir},
		} {
			out, stderr, code := labtest.RunKubectl(t, l, append([]string{"--context", c}, args...)...)
			check("kubectl "+strings.Join(args, " "), out, stderr, code)
		}
		if err := l.RestartIstiod(context.Background(), c); err != nil {
			t.Fatalf("restarting istiod in %s: %v", c, err)
		}
	}
	if n := s.PCA.Issued(); n != len(l.Primaries()) {
		t.Errorf("the Private CA issued %d certificates, want %d", n, len(l.Primaries()))
	}
	out, stderr, _ := labtest.RunEnv(t, l, s.Env(), "doctor", "-o", "json", "--checks", "trust,aws", "--pca-arn", ca.ARN, "--contexts", strings.Join(l.Contexts(), ","))
	outputs = append(outputs, out, stderr)
	for _, f := range parseReport(t, out).Findings {
		if f.Check == "MF6001" || f.Severity == "error" {
			t.Errorf("after installing the issued cacerts: %s %s on %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
		}
	}
	if errs := labtest.TrustErrors(t, l); len(errs) > 0 {
		t.Errorf("trust errors: %v", errs)
	}
	for _, o := range outputs {
		if strings.Contains(o, "PRIVATE KEY") || strings.Contains(o, awstest.TestSecretAccessKey) {
			t.Fatal("a private key or the AWS secret key was printed")
		}
	}
}

// startAWS starts the local AWS endpoint over TLS, closed when the test ends.
func startAWS(t *testing.T) *awstest.Server {
	t.Helper()
	s := awstest.New()
	if err := s.StartTLS(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// createCA makes an ACTIVE root CA in eu-west-1 on the local endpoint.
func createCA(t *testing.T, s *awstest.Server, commonName, keyAlgorithm string) *awstest.FakeCA {
	t.Helper()
	ca, err := s.PCA.CreateCA(awstest.CAOptions{CommonName: commonName, KeyAlgorithm: keyAlgorithm, Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestRefusedIntermediatesAreNeverInstalled: a Private CA that signs the
// request with another template than asked (the end-entity template, or a
// subordinate template of the wrong path length) gets its certificate
// refused by ca issue and by fix --apply alike, with the reason and the
// template, exit non-zero, and nothing written: no file, no key file, no
// Secret changed. A --pca-template that is not a subordinate CA's is
// refused before AWS is asked. The SDK's own warnings (every answer here
// carries a Date header it cannot read) never reach stderr.
func TestRefusedIntermediatesAreNeverInstalled(t *testing.T) {
	s := startAWS(t)
	ca := createCA(t, s, "corp mesh root", "EC_prime256v1")
	s.BadDate(true)
	l := labtest.Start(t, "different-roots", 2)
	ctxs := strings.Join(l.Contexts(), ",")
	east := l.Primaries()[0]

	cacerts := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, c := range l.Primaries() {
			sec, err := l.Client(c).CoreV1().Secrets("istio-system").Get(context.Background(), "cacerts", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			out[c] = sec.ResourceVersion + "/" + string(sec.Data["ca-cert.pem"])
		}
		return out
	}
	noSDKLines := func(what, stderr string) {
		t.Helper()
		if strings.Contains(stderr, "SDK ") || strings.Contains(stderr, "Date header") || strings.Contains(stderr, "aws-sdk") {
			t.Errorf("%s: an AWS SDK line reached stderr:\n%s", what, stderr)
		}
		if strings.Contains(stderr, "PRIVATE KEY") || strings.Contains(stderr, awstest.TestSecretAccessKey) {
			t.Fatalf("%s: a key was printed", what)
		}
	}

	// The flag: an end-entity template is refused before AWS is asked.
	dir := filepath.Join(t.TempDir(), "flag")
	out, stderr, code := labtest.RunEnv(t, l, s.Env(), "ca", "issue", "--ca", "aws-pca", "--pca-arn", ca.ARN, "--context", east, "--out-dir", dir,
		"--pca-template", "arn:aws:acm-pca:::template/EndEntityCertificate/V1")
	if code != 3 || !strings.Contains(stderr, "not a subordinate-CA template") || !strings.Contains(stderr, "SubordinateCACertificate_PathLen0/V1") {
		t.Errorf("--pca-template EndEntityCertificate/V1: exit %d\n%s\n%s", code, out, stderr)
	}
	if n := s.Calls(awstest.ServicePCA, "IssueCertificate"); n != 0 {
		t.Errorf("IssueCertificate called %d times for a refused template", n)
	}

	before := cacerts()
	for fault, reason := range map[string]string{
		"arn:aws:acm-pca:::template/EndEntityCertificate/V1":              "basicConstraints does not mark it as a CA",
		"arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1": "path length is 1, but the template asks for pathlen 0",
	} {
		s.PCA.SetIssueFault(awstest.IssueFault{Template: fault})
		issued := s.PCA.Issued()

		dir := filepath.Join(t.TempDir(), "cacerts")
		out, stderr, code := labtest.RunEnv(t, l, s.Env(), "ca", "issue", "--ca", "aws-pca", "--pca-arn", ca.ARN, "--context", east, "--out-dir", dir)
		if code != 3 || !strings.Contains(stderr, reason) || !strings.Contains(stderr, "template/SubordinateCACertificate_PathLen0/V1") {
			t.Errorf("ca issue signed with %s: exit %d, want 3 with %q and the template\n%s\n%s", fault, code, reason, out, stderr)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("ca issue signed with %s: %s was created", fault, dir)
		}
		noSDKLines("ca issue", stderr)

		keys := filepath.Join(t.TempDir(), "keys")
		out, stderr, code = labtest.RunEnv(t, l, s.Env(), "fix", "--apply", "--allow-root-change", "--ca", "aws-pca", "--pca-arn", ca.ARN,
			"--intermediate-key-dir", keys, "--contexts", ctxs)
		if code == 0 || !strings.Contains(out+stderr, reason) {
			t.Errorf("fix --apply signed with %s: exit %d, want non-zero with %q\n%s\n%s", fault, code, reason, out, stderr)
		}
		if s.PCA.Issued() == issued {
			t.Errorf("fix --apply signed with %s: nothing was issued, so nothing was checked", fault)
		}
		if _, err := os.Stat(keys); err == nil {
			t.Errorf("fix --apply signed with %s: the key directory was created", fault)
		}
		if after := cacerts(); !maps.Equal(after, before) {
			t.Errorf("fix --apply signed with %s changed a cacerts Secret", fault)
		}
		noSDKLines("fix --apply", stderr)
	}
}

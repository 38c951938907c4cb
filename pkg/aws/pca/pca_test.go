package pca_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"

	"github.com/meshfed/kubectl-meshfed/internal/awstest"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/pca"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// fastPolls keeps the waiter's logic but not its one-second pauses.
var fastPolls = pca.Options{PollMinDelay: 5 * time.Millisecond, PollMaxDelay: 20 * time.Millisecond}

func server(t *testing.T) *awstest.Server {
	t.Helper()
	s := awstest.New()
	if err := s.StartTLS(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// client is the real SDK client as the plugin makes it (pca.Client), with a
// shorter retry backoff.
func client(t *testing.T, s *awstest.Server, caARN string) *acmpca.Client {
	t.Helper()
	c, err := pca.Client(s.Config(), caARN, func(o *acmpca.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.Backoff = retry.NewExponentialJitterBackoff(10 * time.Millisecond) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func request(t *testing.T, cluster string) (pki.IntermediateRequest, *pki.Key) {
	t.Helper()
	key, err := pki.GenerateKey(pki.DefaultIntermediateAlgorithm)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.NewCSR(key, pki.IntermediateSubject("meshfed", cluster), []string{pki.IntermediateDNSName("istio-system")})
	if err != nil {
		t.Fatal(err)
	}
	return pki.IntermediateRequest{CSR: csr, NotBefore: time.Now(), Validity: pki.DefaultIntermediateValidity}, key
}

func TestIssueIntermediateEndToEnd(t *testing.T) {
	s := server(t)
	// A root and a subordinate issuing CA in another region than the
	// config's default: the client must go where the ARN says.
	root, err := s.PCA.CreateCA(awstest.CAOptions{CommonName: "corp root", KeyAlgorithm: "EC_secp384r1", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	one := 1
	issuing, err := s.PCA.CreateCA(awstest.CAOptions{CommonName: "mesh issuing", KeyAlgorithm: "RSA_2048", Region: "eu-west-1", Parent: root, MaxPathLen: &one})
	if err != nil {
		t.Fatal(err)
	}
	s.PCA.SetPendingPolls(2)
	ctx := context.Background()
	iss, err := pca.NewIssuer(ctx, client(t, s, issuing.ARN), issuing.ARN, fastPolls)
	if err != nil {
		t.Fatal(err)
	}
	if !iss.Root().Equal(root.Cert) {
		t.Fatalf("root: %s, want the hierarchy's root %s", pki.Describe(iss.Root()), pki.Describe(root.Cert))
	}
	if ca := iss.CA(); ca.Status != "ACTIVE" || ca.KeyAlgorithm != "RSA_2048" || ca.Type != "SUBORDINATE" || !ca.NotAfter.Equal(issuing.Cert.NotAfter) {
		t.Errorf("CA: %+v", ca)
	}
	req, key := request(t, "east")
	out, err := iss.IssueIntermediate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Matches(out.Cert) {
		t.Error("the certificate is not for the local key")
	}
	if !out.Cert.IsCA || !out.Cert.MaxPathLenZero || out.Cert.MaxPathLen != 0 {
		t.Errorf("intermediate: CA %v pathlen %d (zero %v), want CA with pathlen 0", out.Cert.IsCA, out.Cert.MaxPathLen, out.Cert.MaxPathLenZero)
	}
	if len(out.Chain) != 2 || !out.Chain[0].Equal(issuing.Cert) || !out.Root.Equal(root.Cert) {
		t.Errorf("chain: %d certificates, root %s", len(out.Chain), pki.Describe(out.Root))
	}
	if _, err := pki.Verify(out.Cert, out.Chain, []*x509.Certificate{root.Cert}, time.Now()); err != nil {
		t.Errorf("does not verify to the root: %v", err)
	}
	if d := out.Cert.NotAfter.Sub(req.NotBefore); d < pki.DefaultIntermediateValidity-time.Minute || d > pki.DefaultIntermediateValidity+time.Minute {
		t.Errorf("validity %v, want %v", d, pki.DefaultIntermediateValidity)
	}
	if n := s.Calls(awstest.ServicePCA, "GetCertificate"); n != 3 {
		t.Errorf("GetCertificate called %d times, want 3 (two in progress, then issued)", n)
	}
	if got := out.Cert.Subject.CommonName; got != "Intermediate CA east" {
		t.Errorf("subject CN %q", got)
	}
	if !strings.Contains(iss.Describe(), issuing.ARN) || !strings.Contains(iss.Describe(), pki.Fingerprint(root.Cert.Raw)) {
		t.Errorf("Describe: %s", iss.Describe())
	}
}

func TestIntermediateEndsWithTheCA(t *testing.T) {
	s := server(t)
	ca, err := s.PCA.CreateCA(awstest.CAOptions{NotAfter: time.Now().Add(90 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := pca.NewIssuer(context.Background(), client(t, s, ca.ARN), ca.ARN, fastPolls)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := request(t, "west")
	out, err := iss.IssueIntermediate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("the intermediate ends %s, after its CA (%s)", out.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestInactiveCAIsRefused(t *testing.T) {
	for _, status := range []string{awstest.StatusDisabled, awstest.StatusExpired, awstest.StatusPendingCertificate} {
		t.Run(status, func(t *testing.T) {
			s := server(t)
			ca, err := s.PCA.CreateCA(awstest.CAOptions{Status: status})
			if err != nil {
				t.Fatal(err)
			}
			_, err = pca.NewIssuer(context.Background(), client(t, s, ca.ARN), ca.ARN, fastPolls)
			if err == nil || !strings.Contains(err.Error(), status) || !strings.Contains(err.Error(), "not ACTIVE") {
				t.Errorf("want a refusal naming %s, got %v", status, err)
			}
			if s.Calls(awstest.ServicePCA, "IssueCertificate") != 0 {
				t.Error("IssueCertificate was called")
			}
		})
	}
}

func TestThrottledThenSucceeds(t *testing.T) {
	s := server(t)
	ca, err := s.PCA.CreateCA(awstest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"DescribeCertificateAuthority", "GetCertificateAuthorityCertificate", "IssueCertificate", "GetCertificate"} {
		s.Throttle(awstest.ServicePCA, a, 2)
	}
	ctx := context.Background()
	iss, err := pca.NewIssuer(ctx, client(t, s, ca.ARN), ca.ARN, fastPolls)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := request(t, "east")
	if _, err := iss.IssueIntermediate(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := s.Calls(awstest.ServicePCA, "IssueCertificate"); n != 3 {
		t.Errorf("IssueCertificate attempts: %d, want 3", n)
	}
	if n := s.PCA.Issued(); n != 1 {
		t.Errorf("%d certificates issued, want 1", n)
	}
}

func TestDeniedNamesTheAction(t *testing.T) {
	for _, action := range []string{"DescribeCertificateAuthority", "GetCertificateAuthorityCertificate", "IssueCertificate", "GetCertificate"} {
		t.Run(action, func(t *testing.T) {
			s := server(t)
			ca, err := s.PCA.CreateCA(awstest.CAOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.Deny(awstest.ServicePCA, action)
			ctx := context.Background()
			iss, err := pca.NewIssuer(ctx, client(t, s, ca.ARN), ca.ARN, fastPolls)
			if err == nil {
				req, _ := request(t, "east")
				_, err = iss.IssueIntermediate(ctx, req)
			}
			var denied *pca.DeniedError
			if !errors.As(err, &denied) || denied.Action != "acm-pca:"+action {
				t.Fatalf("want a denial naming acm-pca:%s, got %v", action, err)
			}
			if !strings.Contains(err.Error(), "acm-pca:"+action) {
				t.Errorf("the message does not name the action: %v", err)
			}
		})
	}
}

func TestBadSignatureIsRejected(t *testing.T) {
	s := server(t)
	ca, err := s.PCA.CreateCA(awstest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.Config()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(awstest.TestAccessKeyID, "a-wrong-secret", "")
	c, err := pca.Client(cfg, ca.ARN)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pca.NewIssuer(context.Background(), c, ca.ARN, fastPolls)
	if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("want InvalidSignatureException, got %v", err)
	}
	if strings.Contains(err.Error(), "a-wrong-secret") {
		t.Error("the error shows the secret key")
	}
	if len(s.Called()) != 0 {
		t.Errorf("calls with a bad signature reached the CA: %v", s.Called())
	}
}

func TestTheWaitEndsWithTheContext(t *testing.T) {
	s := server(t)
	ca, err := s.PCA.CreateCA(awstest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.PCA.SetPendingPolls(1 << 20)
	iss, err := pca.NewIssuer(context.Background(), client(t, s, ca.ARN), ca.ARN, fastPolls)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := request(t, "east")
	_, err = iss.IssueIntermediate(ctx, req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the wait to end with the context, got %v", err)
	}
}

func TestRegionComesFromTheARN(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:acm-pca:eu-central-1:111122223333:certificate-authority/1234": "eu-central-1",
		"arn:aws-cn:acm-pca:cn-north-1:111122223333:certificate-authority/ab":  "cn-north-1",
	} {
		if got, err := pca.Region(arn); err != nil || got != want {
			t.Errorf("%s: %q %v", arn, got, err)
		}
	}
	for _, bad := range []string{"", "arn:aws:acm:us-east-1:111122223333:certificate/1", "arn:aws:acm-pca::111122223333:certificate-authority/1", "not-an-arn"} {
		if _, err := pca.Region(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReadRecordsWhatTheDoctorJudges(t *testing.T) {
	s := server(t)
	root, err := s.PCA.CreateCA(awstest.CAOptions{KeyAlgorithm: "EC_secp384r1"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.PCA.CreateCA(awstest.CAOptions{Parent: root, Status: awstest.StatusDisabled})
	if err != nil {
		t.Fatal(err)
	}
	got := pca.Read(context.Background(), client(t, s, sub.ARN), sub.ARN)
	if got.Error != "" || got.Status != "DISABLED" || got.Type != "SUBORDINATE" || got.NotAfter == nil || !got.NotAfter.Equal(sub.Cert.NotAfter) {
		t.Errorf("read: %+v", got)
	}
	certs, err := pki.ParseCertificates([]byte(got.Certificate + got.Chain))
	if err != nil || len(certs) != 2 || !certs[0].Equal(sub.Cert) || !certs[1].Equal(root.Cert) {
		t.Errorf("certificate and chain: %d certificates, %v", len(certs), err)
	}

	s.Deny(awstest.ServicePCA, "GetCertificateAuthorityCertificate")
	got = pca.Read(context.Background(), client(t, s, root.ARN), root.ARN)
	if got.Status != "ACTIVE" || got.Certificate != "" || !strings.Contains(got.CertificateError, pca.ActGetCertificateAuthorityCertificate) {
		t.Errorf("certificate denied: %+v", got)
	}
	s.Deny(awstest.ServicePCA, "DescribeCertificateAuthority")
	got = pca.Read(context.Background(), client(t, s, root.ARN), root.ARN)
	if got.Status != "" || !strings.Contains(got.Error, pca.ActDescribeCertificateAuthority) {
		t.Errorf("describe denied: %+v", got)
	}
}

func TestParseTemplate(t *testing.T) {
	for in, want := range map[string]int{
		"":                                       0, // DefaultTemplate
		"SubordinateCACertificate_PathLen0/V1":   0,
		" SubordinateCACertificate_PathLen1/V1 ": 1,
		"SubordinateCACertificate_PathLen3_APICSRPassthrough/V1":                            3,
		"arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1":                   0,
		"arn:aws-cn:acm-pca:::template/SubordinateCACertificate_PathLen2_CSRPassthrough/V1": 2,
	} {
		if _, got, err := pca.ParseTemplate(in); err != nil || got != want {
			t.Errorf("%q: pathlen %d, %v; want %d", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"arn:aws:acm-pca:::template/EndEntityCertificate/V1":                                   "end-entity certificate (CA:FALSE)",
		"EndEntityCertificate/V1":                                                              "end-entity certificate (CA:FALSE)",
		"EndEntityServerAuthCertificate_APIPassthrough/V1":                                     "end-entity certificate (CA:FALSE)",
		"RootCACertificate/V1":                                                                 "self-signed root",
		"BlankSubordinateCACertificate_PathLen0_APIPassthrough/V1":                             "blank template",
		"SubordinateCACertificate_PathLen4/V1":                                                 "path lengths 0 to 3",
		"SubordinateCACertificate_PathLen0":                                                    "path lengths 0 to 3",
		"arn:aws:acm-pca:eu-west-1:111122223333:template/SubordinateCACertificate_PathLen0/V1": "not the ARN of an AWS Private CA certificate template",
		"arn:aws:acm:::template/SubordinateCACertificate_PathLen0/V1":                          "not the ARN of an AWS Private CA certificate template",
	} {
		_, _, err := pca.ParseTemplate(in)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "SubordinateCACertificate_PathLen0/V1 (the default") {
			t.Errorf("%q: want a refusal saying %q and listing the templates that work, got %v", in, why, err)
		}
	}
}

// NewIssuer refuses a template that is not a subordinate CA's before it
// asks AWS anything.
func TestIssuerRefusesAnEndEntityTemplate(t *testing.T) {
	s := server(t)
	ca, err := s.PCA.CreateCA(awstest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pca.NewIssuer(context.Background(), client(t, s, ca.ARN), ca.ARN, pca.Options{Template: "arn:aws:acm-pca:::template/EndEntityCertificate/V1"})
	if err == nil || !strings.Contains(err.Error(), "not a subordinate-CA template") {
		t.Fatalf("want a refusal, got %v", err)
	}
	if len(s.Called()) != 0 {
		t.Errorf("AWS was called: %v", s.Called())
	}
}

// What the CA returns is judged by pki.CheckIssued: a certificate that is
// not a CA, or not at the path length asked, or one the chain forbids, is
// refused, naming the template asked for and the reason. AWS's own refusal
// (a template path length not below its CA's) comes through as AWS's error.
func TestMisissuedIntermediatesAreRefused(t *testing.T) {
	s := server(t)
	root, err := s.PCA.CreateCA(awstest.CAOptions{CommonName: "corp root", Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	leafOnly, err := s.PCA.CreateCA(awstest.CAOptions{CommonName: "issuing pathlen 0", Region: "eu-west-1", Parent: root, MaxPathLen: &zero})
	if err != nil {
		t.Fatal(err)
	}
	const asked = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"
	for _, tc := range []struct {
		name  string
		ca    *awstest.FakeCA
		fault awstest.IssueFault
		want  string
	}{
		{"end-entity template", root, awstest.IssueFault{Template: "arn:aws:acm-pca:::template/EndEntityCertificate/V1"}, "basicConstraints does not mark it as a CA"},
		{"pathlen 1 when 0 was asked", root, awstest.IssueFault{Template: "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1"}, "path length is 1, but the template asks for pathlen 0"},
		{"below a CA of pathlen 0", leafOnly, awstest.IssueFault{IgnorePathLen: true}, "the chain forbids it"},
		{"AWS refuses below a CA of pathlen 0", leafOnly, awstest.IssueFault{}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.PCA.SetIssueFault(tc.fault)
			defer s.PCA.SetIssueFault(awstest.IssueFault{})
			ctx := context.Background()
			iss, err := pca.NewIssuer(ctx, client(t, s, tc.ca.ARN), tc.ca.ARN, fastPolls)
			if err != nil {
				t.Fatal(err)
			}
			_, key, err := pki.NewIntermediate(ctx, iss, pki.IntermediateSpec{Subject: pki.IntermediateSubject("corp", "east"), NotBefore: time.Now()})
			if err == nil || key != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a refusal saying %q, got %v", tc.want, err)
			}
			var refused *pki.RefusedError
			if tc.fault == (awstest.IssueFault{}) {
				if errors.As(err, &refused) {
					t.Errorf("AWS's refusal became the plugin's: %v", err)
				}
				return
			}
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), asked) {
				t.Errorf("the refusal does not name the template asked for (%s): %v", asked, err)
			}
		})
	}
}

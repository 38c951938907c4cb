package awstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/schemas"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	s := New()
	if err := s.StartTLS(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// pcaClient is the SDK's ACM-PCA client as it comes (Smithy RPC v2 CBOR).
func pcaClient(s *Server) *acmpca.Client {
	return acmpca.NewFromConfig(s.Config(), fastRetries)
}

// pcaJSONClient speaks awsJson1_1, the protocol older SDKs (and the AWS CLI) use.
func pcaJSONClient(cfg aws.Config) *acmpca.Client {
	return acmpca.NewFromConfig(cfg, fastRetries, func(o *acmpca.Options) { o.Protocol = awsjson.New11(schemas.ACMPrivateCA) })
}

var pcaProtocols = map[string]func(*Server) *acmpca.Client{
	"rpcv2Cbor":  pcaClient,
	"awsJson1_1": func(s *Server) *acmpca.Client { return pcaJSONClient(s.Config()) },
}

func csrPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func parseOne(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("no PEM in %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPCAIssuesSubordinateFromTemplateAfterPendingPolls(t *testing.T) {
	for name, client := range pcaProtocols {
		t.Run(name, func(t *testing.T) { testIssuance(t, client) })
	}
}

func testIssuance(t *testing.T, client func(*Server) *acmpca.Client) {
	s := startServer(t)
	root, err := s.PCA.CreateCA(CAOptions{CommonName: "corp root", KeyAlgorithm: "RSA_2048"})
	if err != nil {
		t.Fatal(err)
	}
	s.PCA.SetPendingPolls(2)
	ctx := context.Background()
	c := client(s)

	desc, err := c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &root.ARN})
	if err != nil {
		t.Fatal(err)
	}
	ca := desc.CertificateAuthority
	if ca.Status != types.CertificateAuthorityStatusActive || ca.CertificateAuthorityConfiguration.KeyAlgorithm != types.KeyAlgorithmRsa2048 ||
		ca.Type != types.CertificateAuthorityTypeRoot || ca.NotAfter == nil || !ca.NotAfter.Equal(root.Cert.NotAfter) {
		t.Fatalf("describe: %+v", ca)
	}

	issued, err := c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &root.ARN,
		Csr:                     csrPEM(t, "east intermediate"),
		SigningAlgorithm:        types.SigningAlgorithmSha256withrsa,
		TemplateArn:             aws.String("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"),
		Validity:                &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(365)},
	})
	if err != nil {
		t.Fatal(err)
	}
	get := &acmpca.GetCertificateInput{CertificateAuthorityArn: &root.ARN, CertificateArn: issued.CertificateArn}
	_, err = c.GetCertificate(ctx, get)
	var inProgress *types.RequestInProgressException
	if !errors.As(err, &inProgress) {
		t.Fatalf("first GetCertificate: want RequestInProgressException, got %v", err)
	}
	out, err := acmpca.NewCertificateIssuedWaiter(c, func(o *acmpca.CertificateIssuedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 20*time.Millisecond
	}).WaitForOutput(ctx, get, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Calls(ServicePCA, "GetCertificate"); n != 3 {
		t.Errorf("GetCertificate calls: %d, want 3 (two in progress, then the certificate)", n)
	}
	cert := parseOne(t, *out.Certificate)
	if !cert.IsCA || cert.MaxPathLen != 0 || !cert.MaxPathLenZero || cert.Subject.CommonName != "east intermediate" {
		t.Errorf("issued: CA %v pathlen %d zero %v subject %q", cert.IsCA, cert.MaxPathLen, cert.MaxPathLenZero, cert.Subject)
	}
	if d := cert.NotAfter.Sub(time.Now()); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("validity ends in %v, want 365 days", d)
	}
	if err := cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Errorf("not signed by the root: %v", err)
	}
	if chain := parseOne(t, *out.CertificateChain); !chain.Equal(root.Cert) {
		t.Errorf("chain is %q, want the root", chain.Subject)
	}

	caCert, err := c.GetCertificateAuthorityCertificate(ctx, &acmpca.GetCertificateAuthorityCertificateInput{CertificateAuthorityArn: &root.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if !parseOne(t, *caCert.Certificate).Equal(root.Cert) || caCert.CertificateChain != nil {
		t.Errorf("a root's CA certificate: %v chain %v", caCert.Certificate != nil, caCert.CertificateChain)
	}
}

func TestPCASubordinateCAHasChainAndLimitsPathLen(t *testing.T) {
	s := startServer(t)
	root, err := s.PCA.CreateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one := 1
	sub, err := s.PCA.CreateCA(CAOptions{CommonName: "issuing", Parent: root, MaxPathLen: &one})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := pcaClient(s)
	caCert, err := c.GetCertificateAuthorityCertificate(ctx, &acmpca.GetCertificateAuthorityCertificateInput{CertificateAuthorityArn: &sub.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if caCert.CertificateChain == nil || !parseOne(t, *caCert.CertificateChain).Equal(root.Cert) {
		t.Fatalf("a subordinate's chain must end at the root")
	}
	issue := func(template string) (*x509.Certificate, error) {
		out, err := c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
			CertificateAuthorityArn: &sub.ARN, Csr: csrPEM(t, "x"), SigningAlgorithm: types.SigningAlgorithmSha256withecdsa,
			TemplateArn: aws.String(template), Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(30)},
		})
		if err != nil {
			return nil, err
		}
		got, err := c.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &sub.ARN, CertificateArn: out.CertificateArn})
		if err != nil {
			return nil, err
		}
		return parseOne(t, *got.Certificate), nil
	}
	// AWS: "Path length verification failed for CA", a ValidationException.
	if _, err := issue("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1"); apiCode(err) != "ValidationException" {
		t.Errorf("PathLen1 below a pathlen-1 CA: want ValidationException, got %v", err)
	}
	if cert, err := issue("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"); err != nil || !cert.IsCA || !cert.MaxPathLenZero {
		t.Errorf("PathLen0 below a pathlen-1 CA: %v", err)
	}

	// The fault: the CA signs with another template than asked, and past
	// its own path-length refusal.
	s.PCA.SetIssueFault(IssueFault{Template: "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1", IgnorePathLen: true})
	if cert, err := issue("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"); err != nil || !cert.IsCA || cert.MaxPathLen != 1 {
		t.Errorf("fault PathLen1: %v, want a pathlen-1 CA", err)
	}
	s.PCA.SetIssueFault(IssueFault{})
	if _, err := issue("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen1/V1"); apiCode(err) != "ValidationException" {
		t.Errorf("the fault did not end: %v", err)
	}
}

// The templates put into a certificate what AWS's template definitions say.
func TestPCATemplatesAsAWSDefinesThem(t *testing.T) {
	s := startServer(t)
	root, err := s.PCA.CreateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := pcaClient(s)
	issue := func(template string) (*x509.Certificate, error) {
		in := &acmpca.IssueCertificateInput{
			CertificateAuthorityArn: &root.ARN, Csr: csrPEM(t, "x"), SigningAlgorithm: types.SigningAlgorithmSha256withecdsa,
			Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(30)},
		}
		if template != "" {
			in.TemplateArn = aws.String(template)
		}
		out, err := c.IssueCertificate(ctx, in)
		if err != nil {
			return nil, err
		}
		got, err := c.GetCertificate(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &root.ARN, CertificateArn: out.CertificateArn})
		if err != nil {
			return nil, err
		}
		return parseOne(t, *got.Certificate), nil
	}
	for _, tc := range []struct {
		template string
		ca       bool
		pathLen  int
	}{
		{"", false, 0}, // no template: EndEntityCertificate/V1
		{"arn:aws:acm-pca:::template/EndEntityCertificate/V1", false, 0},
		{"arn:aws:acm-pca:::template/EndEntityCertificate_CSRPassthrough/V1", false, 0},
		{"arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1", true, 0},
		{"arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen2/V1", true, 2},
		{"arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0_APICSRPassthrough/V1", true, 0},
	} {
		cert, err := issue(tc.template)
		if err != nil {
			t.Errorf("%q: %v", tc.template, err)
			continue
		}
		if !tc.ca {
			if cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign != 0 || len(cert.ExtKeyUsage) != 2 {
				t.Errorf("%q: want CA:FALSE, no keyCertSign, serverAuth+clientAuth; got CA %v usage %b eku %v", tc.template, cert.IsCA, cert.KeyUsage, cert.ExtKeyUsage)
			}
			continue
		}
		if !cert.IsCA || cert.MaxPathLen != tc.pathLen || (tc.pathLen == 0) != cert.MaxPathLenZero || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("%q: want CA:TRUE pathlen %d with keyCertSign; got CA %v pathlen %d usage %b", tc.template, tc.pathLen, cert.IsCA, cert.MaxPathLen, cert.KeyUsage)
		}
	}
	if _, err := issue("arn:aws:acm-pca:::template/SubordinateCACertificate/V1"); apiCode(err) != "InvalidArgsException" {
		t.Errorf("a subordinate template without a path length: %v", err)
	}
	// The fault signs with the end-entity template whatever is asked.
	s.PCA.SetIssueFault(IssueFault{Template: "arn:aws:acm-pca:::template/EndEntityCertificate/V1"})
	if cert, err := issue("arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1"); err != nil || cert.IsCA {
		t.Errorf("fault end-entity: %v, want a CA:FALSE certificate", err)
	}
}

func TestPCARefusesInactiveCAAndOtherRegion(t *testing.T) {
	s := startServer(t)
	ca, err := s.PCA.CreateCA(CAOptions{Status: StatusDisabled})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := pcaClient(s)
	in := &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &ca.ARN, Csr: csrPEM(t, "x"), SigningAlgorithm: types.SigningAlgorithmSha256withecdsa,
		Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(30)},
	}
	var state *types.InvalidStateException
	if _, err := c.IssueCertificate(ctx, in); !errors.As(err, &state) {
		t.Errorf("disabled CA: want InvalidStateException, got %v", err)
	}
	s.PCA.SetStatus(ca.ARN, StatusActive)
	if _, err := c.IssueCertificate(ctx, in); err != nil {
		t.Errorf("active again: %v", err)
	}
	var notFound *types.ResourceNotFoundException
	_, err = c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &ca.ARN},
		func(o *acmpca.Options) { o.Region = "eu-west-1" })
	if !errors.As(err, &notFound) {
		t.Errorf("a us-east-1 CA asked for in eu-west-1: want ResourceNotFoundException, got %v", err)
	}
	var badARN *types.InvalidArnException
	if _, err := c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: aws.String("arn:nope")}); !errors.As(err, &badARN) {
		t.Errorf("malformed ARN: want InvalidArnException, got %v", err)
	}
}

func TestPCAFaults(t *testing.T) {
	s := startServer(t)
	ca, err := s.PCA.CreateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := pcaClient(s)
	in := &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &ca.ARN}

	s.Throttle(ServicePCA, "DescribeCertificateAuthority", 2)
	if _, err := c.DescribeCertificateAuthority(ctx, in); err != nil {
		t.Fatalf("throttled twice, the SDK's third attempt should succeed: %v", err)
	}
	if n := s.Calls(ServicePCA, "DescribeCertificateAuthority"); n != 3 {
		t.Errorf("calls: %d, want 3", n)
	}

	s.Throttle(ServicePCA, "DescribeCertificateAuthority", 5)
	_, err = c.DescribeCertificateAuthority(ctx, in)
	if code := apiCode(err); code != "ThrottlingException" {
		t.Errorf("throttled past the retries: code %q (%v)", code, err)
	}
	s.Throttle(ServicePCA, "DescribeCertificateAuthority", 0)

	s.Deny(ServicePCA, "IssueCertificate")
	_, err = c.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &ca.ARN, Csr: csrPEM(t, "x"), SigningAlgorithm: types.SigningAlgorithmSha256withecdsa,
		Validity: &types.Validity{Type: types.ValidityPeriodTypeDays, Value: aws.Int64(30)},
	})
	if code := apiCode(err); code != "AccessDeniedException" {
		t.Errorf("denied: code %q (%v)", code, err)
	}
	if s.PCA.Issued() != 0 {
		t.Errorf("a denied call issued a certificate")
	}
	if _, err := c.DescribeCertificateAuthority(ctx, in); err != nil {
		t.Errorf("deny is per action: %v", err)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

package awstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// fastRetries keeps the SDK's standard retryer (attempts, throttle codes,
// token bucket) but shortens its backoff for tests.
func fastRetries[O interface {
	*acmpca.Options | *ec2.Options | *elbv2.Options | *eks.Options
}](o O) {
	r := retry.NewStandard(func(so *retry.StandardOptions) {
		so.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
	})
	switch o := any(o).(type) {
	case *acmpca.Options:
		o.Retryer = r
	case *ec2.Options:
		o.Retryer = r
	case *elbv2.Options:
		o.Retryer = r
	case *eks.Options:
		o.Retryer = r
	}
}

// protocolServices are minimal services in the three other protocols, so
// the framework's success and error shapes are checked with the real
// clients before any real handler exists.
func protocolServices(s *Server) {
	s.Register(&Service{
		SigningName: ServiceEC2, Protocol: EC2Query, XMLNamespace: "http://ec2.amazonaws.com/doc/2016-11-15/",
		ThrottleCode: "RequestLimitExceeded", ThrottleStatus: 503, DenyCode: "UnauthorizedOperation", DenyStatus: 403,
		Actions: map[string]Handler{"DescribeVpcs": func(c *Call) (any, error) {
			type vpc struct {
				VpcID     string `xml:"vpcId"`
				CidrBlock string `xml:"cidrBlock"`
			}
			return struct {
				Vpcs []vpc `xml:"vpcSet>item"`
			}{[]vpc{{"vpc-" + c.Form.Get("VpcId.1"), "10.1.0.0/16"}}}, nil
		}},
	})
	s.Register(&Service{
		SigningName: ServiceELBv2, Protocol: AWSQuery, XMLNamespace: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
		ThrottleCode: "Throttling", ThrottleStatus: 400, DenyCode: "AccessDenied", DenyStatus: 403,
		Actions: map[string]Handler{"DescribeLoadBalancers": func(c *Call) (any, error) {
			type lb struct {
				Name   string `xml:"LoadBalancerName"`
				Scheme string `xml:"Scheme"`
			}
			return struct {
				LBs []lb `xml:"LoadBalancers>member"`
			}{[]lb{{c.Form.Get("Names.member.1"), "internal"}}}, nil
		}},
	})
	s.Register(&Service{
		SigningName: ServiceEKS, Protocol: RESTJSON,
		ThrottleCode: "ThrottlingException", ThrottleStatus: 429, DenyCode: "AccessDeniedException", DenyStatus: 403,
		Routes: []Route{{Method: http.MethodGet, Path: "/clusters/{name}", Action: "DescribeCluster"}},
		Actions: map[string]Handler{"DescribeCluster": func(c *Call) (any, error) {
			if c.PathParams["name"] == "missing" {
				return nil, NewError(404, "ResourceNotFoundException", "No cluster found for name: missing.")
			}
			return map[string]any{"cluster": map[string]any{"name": c.PathParams["name"], "createdAt": EpochSeconds(time.Unix(1700000000, 0))}}, nil
		}},
	})
}

func TestProtocolsSuccessShapes(t *testing.T) {
	s := startServer(t)
	protocolServices(s)
	ctx := context.Background()

	vpcs, err := ec2.NewFromConfig(s.Config(), fastRetries).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"abc"}})
	if err != nil || len(vpcs.Vpcs) != 1 || aws.ToString(vpcs.Vpcs[0].VpcId) != "vpc-abc" || aws.ToString(vpcs.Vpcs[0].CidrBlock) != "10.1.0.0/16" {
		t.Errorf("ec2 DescribeVpcs: %+v %v", vpcs, err)
	}
	lbs, err := elbv2.NewFromConfig(s.Config(), fastRetries).DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"gw"}})
	if err != nil || len(lbs.LoadBalancers) != 1 || aws.ToString(lbs.LoadBalancers[0].LoadBalancerName) != "gw" || lbs.LoadBalancers[0].Scheme != "internal" {
		t.Errorf("elbv2 DescribeLoadBalancers: %+v %v", lbs, err)
	}
	cl, err := eks.NewFromConfig(s.Config(), fastRetries).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("east")})
	if err != nil || aws.ToString(cl.Cluster.Name) != "east" || cl.Cluster.CreatedAt == nil || cl.Cluster.CreatedAt.Unix() != 1700000000 {
		t.Errorf("eks DescribeCluster: %+v %v", cl, err)
	}
	_, err = eks.NewFromConfig(s.Config(), fastRetries).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("missing")})
	if apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("eks modelled error: %v", err)
	}
}

// callAll makes one call per protocol and returns the error codes the SDK saw.
func callAll(ctx context.Context, cfg aws.Config) map[string]string {
	_, pcaErr := acmpca.NewFromConfig(cfg, fastRetries).DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{
		CertificateAuthorityArn: aws.String("arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/00000000-0000-4000-8000-000000000000")})
	_, pcaJSONErr := pcaJSONClient(cfg).DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{
		CertificateAuthorityArn: aws.String("arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/00000000-0000-4000-8000-000000000000")})
	_, ec2Err := ec2.NewFromConfig(cfg, fastRetries).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	_, elbErr := elbv2.NewFromConfig(cfg, fastRetries).DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	_, eksErr := eks.NewFromConfig(cfg, fastRetries).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("east")})
	return map[string]string{ServicePCA: apiCode(pcaErr), ServicePCA + "/json": apiCode(pcaJSONErr), ServiceEC2: apiCode(ec2Err), ServiceELBv2: apiCode(elbErr), ServiceEKS: apiCode(eksErr)}
}

// wantCode reads an expectation for a callAll key ("acm-pca/json" is ACM-PCA).
func wantCode(want map[string]string, key string) string {
	svc, _, _ := strings.Cut(key, "/")
	return want[svc]
}

func TestFaultsInEachServicesDialect(t *testing.T) {
	s := startServer(t)
	protocolServices(s)
	ctx := context.Background()
	actions := map[string]string{ServicePCA: "DescribeCertificateAuthority", ServiceEC2: "DescribeVpcs", ServiceELBv2: "DescribeLoadBalancers", ServiceEKS: "DescribeCluster"}

	for svc, action := range actions {
		s.Deny(svc, action)
	}
	want := map[string]string{ServicePCA: "AccessDeniedException", ServiceEC2: "UnauthorizedOperation", ServiceELBv2: "AccessDenied", ServiceEKS: "AccessDeniedException"}
	for key, code := range callAll(ctx, s.Config()) {
		if code != wantCode(want, key) {
			t.Errorf("%s denied: code %q, want %q", key, code, wantCode(want, key))
		}
	}

	// Two throttles per action: the SDK's retryer absorbs them. ACM-PCA is
	// called twice (CBOR, then JSON): 3 attempts and 1.
	for svc, action := range actions {
		s.Allow(svc, action)
		s.Throttle(svc, action, 2)
	}
	before := map[string]int{}
	for svc, action := range actions {
		before[svc] = s.Calls(svc, action)
	}
	// The PCA call names a CA that does not exist: after the throttles its
	// answer is ResourceNotFoundException, which proves the retry reached it.
	want = map[string]string{ServicePCA: "ResourceNotFoundException"}
	for key, code := range callAll(ctx, s.Config()) {
		if code != wantCode(want, key) {
			t.Errorf("%s throttled twice: code %q, want %q", key, code, wantCode(want, key))
		}
	}
	wantAttempts := map[string]int{ServicePCA: 4, ServiceEC2: 3, ServiceELBv2: 3, ServiceEKS: 3}
	for svc, action := range actions {
		if n := s.Calls(svc, action) - before[svc]; n != wantAttempts[svc] {
			t.Errorf("%s: %d attempts, want %d", svc, n, wantAttempts[svc])
		}
	}

	// Throttled past the SDK's three attempts: the service's own code.
	for svc, action := range actions {
		s.Throttle(svc, action, 6)
	}
	want = map[string]string{ServicePCA: "ThrottlingException", ServiceEC2: "RequestLimitExceeded", ServiceELBv2: "Throttling", ServiceEKS: "ThrottlingException"}
	for key, code := range callAll(ctx, s.Config()) {
		if code != wantCode(want, key) {
			t.Errorf("%s throttled past the retries: code %q, want %q", key, code, wantCode(want, key))
		}
	}
}

func TestSignatureVerification(t *testing.T) {
	s := startServer(t)
	protocolServices(s)
	ctx := context.Background()

	wrongSecret := s.Config()
	wrongSecret.Credentials = credentials.NewStaticCredentialsProvider(TestAccessKeyID, "not-the-secret", "")
	want := map[string]string{ServicePCA: "InvalidSignatureException", ServiceEC2: "AuthFailure", ServiceELBv2: "SignatureDoesNotMatch", ServiceEKS: "InvalidSignatureException"}
	for key, code := range callAll(ctx, wrongSecret) {
		if code != wantCode(want, key) {
			t.Errorf("%s wrong secret: code %q, want %q", key, code, wantCode(want, key))
		}
	}
	unknownKey := s.Config()
	unknownKey.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", TestSecretAccessKey, "")
	want = map[string]string{ServicePCA: "UnrecognizedClientException", ServiceEC2: "AuthFailure", ServiceELBv2: "InvalidClientTokenId", ServiceEKS: "UnrecognizedClientException"}
	for key, code := range callAll(ctx, unknownKey) {
		if code != wantCode(want, key) {
			t.Errorf("%s unknown key: code %q, want %q", key, code, wantCode(want, key))
		}
	}
	for _, name := range s.Called() {
		t.Errorf("a call with bad credentials reached %s", name)
	}
}

// signedRequest is an ACM-PCA request signed at a chosen time, as the SDK signs.
func signedRequest(t *testing.T, s *Server, at time.Time, body string, tamper func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "ACMPrivateCA.DescribeCertificateAuthority")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), ServicePCA, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		tamper(req)
	}
	resp, err := s.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestStaleAndTamperedRequestsAreRejected(t *testing.T) {
	s := startServer(t)
	ca, err := s.PCA.CreateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"CertificateAuthorityArn":"` + ca.ARN + `"}`
	check := func(name string, resp *http.Response, status int, code string) {
		t.Helper()
		if resp.StatusCode != status || resp.Header.Get("X-Amzn-Errortype") != code {
			t.Errorf("%s: %d %q, want %d %q", name, resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), status, code)
		}
	}
	check("fresh", signedRequest(t, s, time.Now(), body, nil), 200, "")
	check("signed 20 minutes ago", signedRequest(t, s, time.Now().Add(-20*time.Minute), body, nil), 400, "InvalidSignatureException")
	check("signed 20 minutes ahead", signedRequest(t, s, time.Now().Add(20*time.Minute), body, nil), 400, "InvalidSignatureException")
	check("body changed after signing", signedRequest(t, s, time.Now(), body, func(r *http.Request) {
		other := strings.Replace(body, "0", "1", 1)
		r.Body = readCloser(other)
	}), 400, "InvalidSignatureException")
	check("target changed after signing", signedRequest(t, s, time.Now(), body, func(r *http.Request) {
		r.Header.Set("X-Amz-Target", "ACMPrivateCA.GetCertificateAuthorityCertificate")
	}), 400, "InvalidSignatureException")
	check("no signature", signedRequest(t, s, time.Now(), body, func(r *http.Request) {
		r.Header.Del("Authorization")
		r.Host = "acm-pca.localhost"
	}), 400, "MissingAuthenticationTokenException")
}

func readCloser(s string) *nopCloser { return &nopCloser{bytes.NewReader([]byte(s))} }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func TestSDKCorrectsItsClockFromTheServersDate(t *testing.T) {
	s := startServer(t)
	ca, err := s.PCA.CreateCA(CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The server's clock runs 30 minutes ahead: the first attempt is stale,
	// the SDK reads the skew from the Date header and signs the retry with it.
	s.Now = func() time.Time { return time.Now().Add(30 * time.Minute) }
	_, err = pcaClient(s).DescribeCertificateAuthority(context.Background(), &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &ca.ARN})
	if err != nil {
		t.Fatalf("the SDK should retry with the corrected clock: %v", err)
	}
}

package pca_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"

	"github.com/meshfed/kubectl-meshfed/pkg/aws/pca"
	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

// cannedPCA answers the SDK's calls with the fuzzer's bodies, by
// X-Amz-Target; nothing leaves the process.
type cannedPCA struct{ describe, certificate []byte }

func (c cannedPCA) Do(r *http.Request) (*http.Response, error) {
	body := c.certificate
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".DescribeCertificateAuthority") {
		body = c.describe
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Request: r, ContentLength: int64(len(body)),
		Header: http.Header{"Content-Type": []string{"application/x-amz-json-1.1"}}, Body: io.NopCloser(bytes.NewReader(body))}, nil
}

// FuzzDescribeResponse: what AWS answers about a Private CA (its
// description, its certificate and chain) goes through the real SDK's
// deserializers into Describe, which never panics, and accepts only a
// certificate that parses with a root at the end of its chain.
func FuzzDescribeResponse(f *testing.F) {
	root := pkitest.NewRoot("corp root", pkitest.Opts{})
	inter := root.Issue("mesh issuing", pkitest.Opts{})
	f.Add(`{"CertificateAuthority":{"Arn":"x","Status":"ACTIVE","Type":"SUBORDINATE","NotBefore":1.7e9,"NotAfter":1.9e9,"CertificateAuthorityConfiguration":{"KeyAlgorithm":"EC_prime256v1","SigningAlgorithm":"SHA256WITHECDSA"}}}`,
		string(inter.CertPEM()), string(root.CertPEM()))
	f.Add(`{"CertificateAuthority":{"Status":"ACTIVE"}}`, string(root.CertPEM()), "")
	f.Add(`{"CertificateAuthority":{"Status":"PENDING_CERTIFICATE"}}`, "", "")
	f.Add(`{"CertificateAuthority":null}`, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "garbage")
	f.Add(`{`, "", "")
	const arn = "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/fuzz"
	f.Fuzz(func(t *testing.T, describe, cert, chain string) {
		certBody, _ := json.Marshal(map[string]string{"Certificate": cert, "CertificateChain": chain})
		client := acmpca.New(acmpca.Options{
			Region:      "eu-west-1",
			Credentials: credentials.NewStaticCredentialsProvider("AKIDFUZZ", "fuzz-secret", ""),
			HTTPClient:  cannedPCA{describe: []byte(describe), certificate: certBody},
			Retryer:     aws.NopRetryer{},
		})
		ca, err := pca.Describe(context.Background(), client, arn)
		if err != nil {
			if strings.Contains(err.Error(), "fuzz-secret") {
				t.Fatalf("the error carries the secret key: %v", err)
			}
			return
		}
		if ca.Cert != nil && (ca.Root == nil || len(ca.Chain) == 0 && ca.Root != ca.Cert) {
			t.Fatalf("a certificate without its root: %+v", ca)
		}
	})
}

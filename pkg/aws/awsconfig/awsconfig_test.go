package awsconfig_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/acmpca"

	"github.com/meshfed/kubectl-meshfed/internal/awstest"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/awsconfig"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/pca"
)

// Every test here loads the AWS configuration: none may reach instance
// metadata (an address off this machine), nor read the user's own files.
func TestMain(m *testing.M) {
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}

func serverEnv(t *testing.T) *awstest.Server {
	t.Helper()
	return awstest.StartEnv(t)
}

// captureStderr points os.Stderr at a file for the rest of the test and
// returns a function that reads what was written to it.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = f
	t.Cleanup(func() { os.Stderr = saved; f.Close() })
	return func() string {
		b, _ := os.ReadFile(f.Name())
		return string(b)
	}
}

// The SDK's own lines (here: a warning for a Date header it cannot read,
// and its retries) never reach stderr by themselves; they go to the writer
// SetLog names, which the plugin's -v sets.
func TestSDKLinesGoOnlyWhereSetLogSays(t *testing.T) {
	s := serverEnv(t)
	ca, err := s.PCA.CreateCA(awstest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.BadDate(true)
	stderr := captureStderr(t)
	ctx := context.Background()
	describe := func() {
		t.Helper()
		cfg, err := awsconfig.Load(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		c, err := pca.Client(cfg, ca.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &ca.ARN}); err != nil {
			t.Fatal(err)
		}
	}

	awsconfig.SetLog(nil)
	describe()
	if got := stderr(); got != "" {
		t.Errorf("the SDK wrote to stderr unasked:\n%s", got)
	}

	var log bytes.Buffer
	awsconfig.SetLog(&log)
	defer awsconfig.SetLog(nil)
	s.Throttle(awstest.ServicePCA, "DescribeCertificateAuthority", 1)
	describe()
	for _, want := range []string{"aws-sdk warn: failed to parse response Date header", "aws-sdk debug: retrying request ACM PCA/DescribeCertificateAuthority"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log misses %q:\n%s", want, log.String())
		}
	}
	if got := stderr(); got != "" {
		t.Errorf("the SDK wrote to stderr:\n%s", got)
	}
	if strings.Contains(log.String(), awstest.TestSecretAccessKey) || strings.Contains(log.String(), awstest.TestAccessKeyID) {
		t.Error("the log shows a credential")
	}
}

// Without credentials, one line says where the chain looked and how to
// give it some; nothing of a credential that is there in part is shown.
func TestNoCredentialsSaysWhereItLooked(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret) // without its key ID: not usable
	stderr := captureStderr(t)
	var log bytes.Buffer
	awsconfig.SetLog(&log)
	defer awsconfig.SetLog(nil)

	_, err := awsconfig.Load(context.Background(), "")
	var none *awsconfig.NoCredentialsError
	if !errors.As(err, &none) {
		t.Fatalf("want a NoCredentialsError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"no usable AWS credentials", "the environment (AWS_ACCESS_KEY_ID", `profile "default"`, "SSO", "web identity",
		"EC2 instance role (off: AWS_EC2_METADATA_DISABLED=true)", "aws configure", "IAM role"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message misses %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("more than one line: %q", msg)
	}
	if strings.Contains(msg+log.String()+stderr(), secret) {
		t.Error("the secret key was shown")
	}
	if !strings.Contains(log.String(), "the credential chain's reason") {
		t.Errorf("the SDK's reason is not in the log:\n%s", log.String())
	}
	if got := stderr(); got != "" {
		t.Errorf("stderr:\n%s", got)
	}

	// A named profile that does not exist is named in the error.
	_, err = awsconfig.Load(context.Background(), "nosuch")
	if err == nil || !strings.Contains(err.Error(), `AWS profile "nosuch" is in neither`) {
		t.Errorf("profile nosuch: %v", err)
	}
}

// A credential_process that fails while printing a key: the error and the
// log show no key.
func TestFailingCredentialProcessShowsNoKey(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	dir := t.TempDir()
	script := filepath.Join(dir, "creds.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\", \"SecretAccessKey\": \""+secret+"\"'\nexit 1\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[profile broken]\ncredential_process = "+script+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	var log bytes.Buffer
	awsconfig.SetLog(&log)
	defer awsconfig.SetLog(nil)
	_, err := awsconfig.Load(context.Background(), "broken")
	if err == nil {
		t.Fatal("a failing credential_process gave credentials")
	}
	if all := err.Error() + log.String(); strings.Contains(all, secret) || strings.Contains(all, "AKIAIOSFODNN7EXAMPLE") {
		t.Errorf("a key was shown:\n%v\n%s", err, log.String())
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"key AKIAIOSFODNN7EXAMPLE here":                          "key [redacted] here",
		"secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.":       "secret [redacted].",
		"token IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJH": "token [redacted]",
		// What is no credential stays.
		"arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/00000001-0000-4000-8000-000000000001": "arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/00000001-0000-4000-8000-000000000001",
		"open /home/user/.aws/sso/cache/0123abcd.json: no such file or directory":                           "open /home/user/.aws/sso/cache/0123abcd.json: no such file or directory",
		"retrying request ACM PCA/DescribeCertificateAuthority, attempt 2":                                  "retrying request ACM PCA/DescribeCertificateAuthority, attempt 2",
	} {
		if got := awsconfig.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

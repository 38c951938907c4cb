// Package pca issues the mesh's per-cluster intermediates from an AWS Private
// CA (ACM-PCA) and reads what the doctor needs to know of that CA.
//
// The intermediate's key and CSR are made on this machine (by
// pki.NewIntermediate, which also checks what comes back with
// pki.CheckIssued); only the CSR goes to AWS. IssueCertificate
// uses a subordinate-CA template (SubordinateCACertificate_PathLen0/V1 by
// default: istiod signs workloads, never further CAs; see template.go for
// which templates are accepted and why), the SDK's
// CertificateIssued waiter polls GetCertificate until the certificate is
// there (bounded by the caller's context), and the root and chain come from
// GetCertificateAuthorityCertificate. A CA that is not ACTIVE is refused
// before anything is issued.
//
// Every call goes to the region named in the CA's ARN, with the credentials
// of the aws.Config given (the SDK's standard chain; see awsconfig). A call
// AWS refuses for lack of permission becomes an error naming the IAM action
// the credentials need.
package pca

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/acmpca"
	"github.com/aws/aws-sdk-go-v2/service/acmpca/types"
	"github.com/aws/smithy-go"

	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// The IAM actions this package calls, as docs/aws-iam-policy.json lists them.
const (
	ActDescribeCertificateAuthority       = "acm-pca:DescribeCertificateAuthority"
	ActGetCertificateAuthorityCertificate = "acm-pca:GetCertificateAuthorityCertificate"
	ActIssueCertificate                   = "acm-pca:IssueCertificate"
	ActGetCertificate                     = "acm-pca:GetCertificate"
)

// Actions lists every IAM action this package may call: the first two read
// the CA (doctor and issuing), the last two issue (fix, ca issue).
var Actions = []string{ActDescribeCertificateAuthority, ActGetCertificateAuthorityCertificate, ActIssueCertificate, ActGetCertificate}

// DefaultTemplate is the template of a CA that signs only end entities.
const DefaultTemplate = "SubordinateCACertificate_PathLen0/V1"

// API is the part of the ACM-PCA client this package uses.
type API interface {
	DescribeCertificateAuthority(context.Context, *acmpca.DescribeCertificateAuthorityInput, ...func(*acmpca.Options)) (*acmpca.DescribeCertificateAuthorityOutput, error)
	GetCertificateAuthorityCertificate(context.Context, *acmpca.GetCertificateAuthorityCertificateInput, ...func(*acmpca.Options)) (*acmpca.GetCertificateAuthorityCertificateOutput, error)
	IssueCertificate(context.Context, *acmpca.IssueCertificateInput, ...func(*acmpca.Options)) (*acmpca.IssueCertificateOutput, error)
	acmpca.GetCertificateAPIClient
}

// Client is the SDK's ACM-PCA client for the region of caARN, from cfg
// (credentials, retryer, endpoint overrides such as AWS_ENDPOINT_URL).
func Client(cfg aws.Config, caARN string, optFns ...func(*acmpca.Options)) (*acmpca.Client, error) {
	region, err := Region(caARN)
	if err != nil {
		return nil, err
	}
	c := cfg.Copy()
	c.Region = region
	return acmpca.NewFromConfig(c, optFns...), nil
}

// Region is the region of a Private CA's ARN.
func Region(caARN string) (string, error) {
	a, err := arn.Parse(caARN)
	if err != nil || a.Service != "acm-pca" || a.Region == "" || !strings.HasPrefix(a.Resource, "certificate-authority/") {
		return "", fmt.Errorf("%q is not the ARN of an AWS Private CA (arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID)", caARN)
	}
	return a.Region, nil
}

// CA is what AWS says of a Private CA.
type CA struct {
	ARN              string
	Status           string // ACTIVE, DISABLED, PENDING_CERTIFICATE, EXPIRED, …
	Type             string // ROOT or SUBORDINATE
	KeyAlgorithm     string // RSA_2048, EC_prime256v1, …
	SigningAlgorithm string // SHA256WITHECDSA, …
	NotBefore        time.Time
	NotAfter         time.Time
	// Cert is the CA's own certificate; Chain its issuers, nearest first
	// (empty for a root); Root the self-signed certificate at the end.
	// All three are nil when the CA has no certificate yet.
	Cert  *x509.Certificate
	Chain []*x509.Certificate
	Root  *x509.Certificate
}

// Describe reads the CA's description and, when it has one, its
// certificate and chain.
func Describe(ctx context.Context, api API, caARN string) (CA, error) {
	d, err := api.DescribeCertificateAuthority(ctx, &acmpca.DescribeCertificateAuthorityInput{CertificateAuthorityArn: &caARN})
	if err != nil {
		return CA{}, callError(ActDescribeCertificateAuthority, caARN, err)
	}
	ca := CA{ARN: caARN}
	if a := d.CertificateAuthority; a != nil {
		ca.Status, ca.Type = string(a.Status), string(a.Type)
		ca.NotBefore, ca.NotAfter = aws.ToTime(a.NotBefore), aws.ToTime(a.NotAfter)
		if c := a.CertificateAuthorityConfiguration; c != nil {
			ca.KeyAlgorithm, ca.SigningAlgorithm = string(c.KeyAlgorithm), string(c.SigningAlgorithm)
		}
	}
	switch types.CertificateAuthorityStatus(ca.Status) {
	case types.CertificateAuthorityStatusCreating, types.CertificateAuthorityStatusPendingCertificate,
		types.CertificateAuthorityStatusFailed, types.CertificateAuthorityStatusDeleted:
		return ca, nil // no certificate to read
	}
	out, err := api.GetCertificateAuthorityCertificate(ctx, &acmpca.GetCertificateAuthorityCertificateInput{CertificateAuthorityArn: &caARN})
	if err != nil {
		return ca, callError(ActGetCertificateAuthorityCertificate, caARN, err)
	}
	certs, err := parseCerts(aws.ToString(out.Certificate), aws.ToString(out.CertificateChain))
	if err != nil {
		return ca, fmt.Errorf("the certificate of %s: %v", caARN, err)
	}
	ca.Cert, ca.Chain = certs[0], certs[1:]
	ca.Root = certs[len(certs)-1]
	if !pki.SelfSigned(ca.Root) {
		return ca, fmt.Errorf("the chain of %s ends at %s, which is not a self-signed root", caARN, pki.Describe(ca.Root))
	}
	return ca, nil
}

func parseCerts(cert, chain string) ([]*x509.Certificate, error) {
	own, err := pki.ParseCertificates([]byte(cert))
	if err != nil {
		return nil, err
	}
	if len(own) != 1 {
		return nil, fmt.Errorf("want one certificate, got %d", len(own))
	}
	if strings.TrimSpace(chain) == "" {
		return own, nil
	}
	rest, err := pki.ParseCertificates([]byte(chain))
	if err != nil {
		return nil, fmt.Errorf("its chain: %v", err)
	}
	return append(own, rest...), nil
}

// Options tune an Issuer.
type Options struct {
	// Template is the subordinate-CA certificate template's name
	// (DefaultTemplate when empty), e.g.
	// "SubordinateCACertificate_PathLen0/V1", or its full ARN; anything
	// else is refused (ParseTemplate).
	Template string
	// PollMinDelay and PollMaxDelay bound the waiter's pause between
	// GetCertificate calls (the SDK's defaults, 1 s and 60 s, when zero).
	PollMinDelay, PollMaxDelay time.Duration
	// MaxWait bounds the wait for the certificate when the context has no
	// deadline (5 minutes when zero).
	MaxWait time.Duration
}

// Issuer issues intermediates from one Private CA; it is a pki.Issuer.
type Issuer struct {
	api  API
	ca   CA
	opts Options
	// template is the subordinate-CA template's name (ParseTemplate), and
	// pathLen the path length it gives.
	template string
	pathLen  int
}

var _ pki.Issuer = (*Issuer)(nil)

// NewIssuer reads the CA and refuses one that cannot issue: not ACTIVE, no
// certificate, or expired; and a template that is not a subordinate CA's
// (ParseTemplate), before anything is read.
func NewIssuer(ctx context.Context, api API, caARN string, opts Options) (*Issuer, error) {
	if _, err := Region(caARN); err != nil {
		return nil, err
	}
	template, pathLen, err := ParseTemplate(opts.Template)
	if err != nil {
		return nil, fmt.Errorf("the certificate template: %v", err)
	}
	ca, err := Describe(ctx, api, caARN)
	if err != nil {
		return nil, err
	}
	if ca.Status != string(types.CertificateAuthorityStatusActive) {
		return nil, fmt.Errorf("AWS Private CA %s is %s, not ACTIVE: it cannot issue certificates (see `aws acm-pca describe-certificate-authority --certificate-authority-arn %s`)", caARN, ca.Status, caARN)
	}
	if ca.Cert == nil {
		return nil, fmt.Errorf("AWS Private CA %s has no certificate", caARN)
	}
	if now := time.Now(); now.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("AWS Private CA %s expired on %s", caARN, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return &Issuer{api: api, ca: ca, opts: opts, template: template, pathLen: pathLen}, nil
}

// CA is what the issuer read of its CA.
func (i *Issuer) CA() CA { return i.ca }

// Root is the root the CA chains to.
func (i *Issuer) Root() *x509.Certificate { return i.ca.Root }

// Describe names the CA, its template and its root.
func (i *Issuer) Describe() string {
	return fmt.Sprintf("AWS Private CA %s (%s, %s, template %s) under root %s",
		i.ca.ARN, i.ca.Type, i.ca.KeyAlgorithm, i.templateARN(), pki.Describe(i.ca.Root))
}

// templateARN is the full ARN of the template, in the CA's partition
// (a template ARN given in full is read for its name only).
func (i *Issuer) templateARN() string {
	partition := "aws"
	if a, err := arn.Parse(i.ca.ARN); err == nil {
		partition = a.Partition
	}
	return "arn:" + partition + ":acm-pca:::template/" + i.template
}

// IssueIntermediate has the CA sign req.CSR with the subordinate-CA
// template, waits for the certificate and returns it with the CA's chain.
// It checks only that the answer parses and ends at the CA's root: what
// the certificate is worth is pki.CheckIssued's to judge (pki.NewIntermediate).
func (i *Issuer) IssueIntermediate(ctx context.Context, req pki.IntermediateRequest) (pki.Issued, error) {
	if req.CSR == nil {
		return pki.Issued{}, errors.New("no certificate request")
	}
	if err := req.CSR.CheckSignature(); err != nil {
		return pki.Issued{}, fmt.Errorf("the certificate request for %q is not signed by its key: %v", req.CSR.Subject.String(), err)
	}
	validity := req.Validity
	if validity <= 0 {
		validity = pki.DefaultIntermediateValidity
	}
	notBefore := req.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now()
	}
	// The CA refuses a certificate that outlives it: end with it at most.
	notAfter := notBefore.Add(validity)
	if notAfter.After(i.ca.Cert.NotAfter) {
		notAfter = i.ca.Cert.NotAfter
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.CSR.Raw})
	// The same CSR asked twice within AWS's five minutes is one certificate.
	sum := sha256.Sum256(req.CSR.Raw)
	out, err := i.api.IssueCertificate(ctx, &acmpca.IssueCertificateInput{
		CertificateAuthorityArn: &i.ca.ARN,
		Csr:                     csrPEM,
		SigningAlgorithm:        types.SigningAlgorithm(i.ca.SigningAlgorithm),
		TemplateArn:             aws.String(i.templateARN()),
		Validity:                &types.Validity{Type: types.ValidityPeriodTypeAbsolute, Value: aws.Int64(notAfter.Unix())},
		IdempotencyToken:        aws.String(hex.EncodeToString(sum[:16])),
	})
	if err != nil {
		return pki.Issued{}, callError(ActIssueCertificate, i.ca.ARN, err)
	}
	got, err := i.wait(ctx, &acmpca.GetCertificateInput{CertificateAuthorityArn: &i.ca.ARN, CertificateArn: out.CertificateArn})
	if err != nil {
		return pki.Issued{}, err
	}
	certs, err := parseCerts(aws.ToString(got.Certificate), aws.ToString(got.CertificateChain))
	if err != nil {
		return pki.Issued{}, fmt.Errorf("the certificate %s: %v", aws.ToString(out.CertificateArn), err)
	}
	issued := pki.Issued{Cert: certs[0], Chain: certs[1:], Root: certs[len(certs)-1]}
	if len(issued.Chain) == 0 || !issued.Root.Equal(i.ca.Root) {
		return pki.Issued{}, fmt.Errorf("the certificate %s does not chain to the CA's root %s", aws.ToString(out.CertificateArn), pki.Describe(i.ca.Root))
	}
	return issued, nil
}

// wait polls GetCertificate with the SDK's waiter until the certificate is
// issued, the context ends or MaxWait passes.
func (i *Issuer) wait(ctx context.Context, in *acmpca.GetCertificateInput) (*acmpca.GetCertificateOutput, error) {
	maxWait := i.opts.MaxWait
	if maxWait <= 0 {
		maxWait = 5 * time.Minute
	}
	// Past maxWait the waiter gives up with an error of its own: with the
	// context's deadline as maxWait, that is the deadline passing.
	timeout := errors.New("it took too long")
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		timeout = context.DeadlineExceeded
		maxWait = time.Until(dl)
		if maxWait <= 0 {
			return nil, fmt.Errorf("waiting for %s: %w", aws.ToString(in.CertificateArn), context.DeadlineExceeded)
		}
	}
	w := acmpca.NewCertificateIssuedWaiter(i.api, func(o *acmpca.CertificateIssuedWaiterOptions) {
		if i.opts.PollMinDelay > 0 {
			o.MinDelay = i.opts.PollMinDelay
		}
		if i.opts.PollMaxDelay > 0 {
			o.MaxDelay = i.opts.PollMaxDelay
		}
		// The SDK's waiter turns AccessDeniedException into a bare
		// "transitioned to Failure": keep AWS's error so it can be named.
		retryable := o.Retryable
		o.Retryable = func(ctx context.Context, in *acmpca.GetCertificateInput, out *acmpca.GetCertificateOutput, err error) (bool, error) {
			if isDenied(err) {
				return false, err
			}
			return retryable(ctx, in, out, err)
		}
	})
	out, err := w.WaitForOutput(ctx, in, maxWait)
	var api smithy.APIError
	switch {
	case err == nil:
		return out, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("waiting for %s to be issued: %w", aws.ToString(in.CertificateArn), ctx.Err())
	case !errors.As(err, &api):
		return nil, fmt.Errorf("%s was not issued within %s (%v): %w", aws.ToString(in.CertificateArn), maxWait.Round(time.Millisecond), err, timeout)
	}
	return nil, callError(ActGetCertificate, aws.ToString(in.CertificateAuthorityArn), err)
}

// deniedCodes are the codes ACM-PCA (and AWS's JSON services) answer a call
// the credentials may not make with.
var deniedCodes = map[string]bool{"AccessDeniedException": true, "AccessDenied": true}

func isDenied(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && deniedCodes[api.ErrorCode()]
}

// DeniedError is a call AWS refused for lack of permission; Action is the
// IAM action the credentials need.
type DeniedError struct {
	Action   string
	Resource string
	Err      error
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("AWS denied %s on %s: the credentials need the IAM action %s on that resource (%v)", e.Action, e.Resource, e.Action, e.Err)
}

func (e *DeniedError) Unwrap() error { return e.Err }

// callError names the call that failed; a denial names the IAM action.
func callError(action, resource string, err error) error {
	if isDenied(err) {
		return &DeniedError{Action: action, Resource: resource, Err: err}
	}
	return fmt.Errorf("%s on %s: %w", action, resource, err)
}

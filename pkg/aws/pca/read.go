package pca

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// Read is what the doctor records of the CA (model.AWSPrivateCA): what
// Describe found, and each call that failed as the reason the checks give
// for "unknown" (a denial names the IAM action).
func Read(ctx context.Context, api API, caARN string) *model.AWSPrivateCA {
	out := &model.AWSPrivateCA{ARN: caARN}
	if _, err := Region(caARN); err != nil {
		out.Error = err.Error()
		return out
	}
	ca, err := Describe(ctx, api, caARN)
	if ca.Status == "" {
		out.Error = reason(err)
		return out
	}
	out.Status, out.Type, out.KeyAlgorithm, out.SigningAlgorithm = ca.Status, ca.Type, ca.KeyAlgorithm, ca.SigningAlgorithm
	if !ca.NotBefore.IsZero() {
		out.NotBefore = &ca.NotBefore
	}
	if !ca.NotAfter.IsZero() {
		out.NotAfter = &ca.NotAfter
	}
	switch {
	case err != nil:
		out.CertificateError = reason(err)
	case ca.Cert == nil:
		out.CertificateError = fmt.Sprintf("the CA has no certificate (status %s)", ca.Status)
	default:
		out.Certificate = string(pki.EncodeCertificates(ca.Cert))
		if len(ca.Chain) > 0 {
			out.Chain = string(pki.EncodeCertificates(ca.Chain...))
		}
	}
	return out
}

func reason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "AWS Private CA did not answer before the run's deadline"
	}
	return err.Error()
}

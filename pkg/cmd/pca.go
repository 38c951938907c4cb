package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/meshfed/kubectl-meshfed/pkg/aws/awsconfig"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/pca"
)

// caSourceAWSPCA is --ca's value for AWS Private CA.
const caSourceAWSPCA = "aws-pca"

// PCAFlags name the AWS Private CA that fix and ca issue issue
// intermediates from (--ca aws-pca --pca-arn ARN).
type PCAFlags struct {
	CA       string
	ARN      string
	Template string
}

// AddFlags registers --ca and --pca-template, and --pca-arn unless the
// command has it already (MeshFlags.AddAWSFlags).
func (p *PCAFlags) AddFlags(f *pflag.FlagSet, caHelp string, withARN bool) {
	f.StringVar(&p.CA, "ca", p.CA, caHelp)
	if withARN {
		f.StringVar(&p.ARN, "pca-arn", "", "ARN of the AWS Private CA to issue from (arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID); its region is the ARN's")
	}
	f.StringVar(&p.Template, "pca-template", pca.DefaultTemplate, "AWS Private CA certificate template of the intermediates: a subordinate-CA template, by name or ARN "+
		"(SubordinateCACertificate_PathLen0/V1 signs workloads only; PathLen1-3 only when further CA levels are wanted below the cluster's intermediate)")
}

// Validate checks the source, the ARN and the template.
func (p *PCAFlags) Validate() error {
	p.CA = strings.ToLower(strings.TrimSpace(p.CA))
	p.ARN = strings.TrimSpace(p.ARN)
	switch p.CA {
	case "", caSourceAWSPCA:
	default:
		return fmt.Errorf("--ca %q is not known: the only other source of intermediates is %s (the default is --root-cert/--root-key)", p.CA, caSourceAWSPCA)
	}
	if p.CA == caSourceAWSPCA && p.ARN == "" {
		return fmt.Errorf("--ca %s needs --pca-arn", caSourceAWSPCA)
	}
	if p.ARN != "" {
		if _, err := pca.Region(p.ARN); err != nil {
			return fmt.Errorf("--pca-arn: %v", err)
		}
	}
	// Only a subordinate-CA template makes an intermediate istiod can
	// sign with; anything else is refused here, before AWS is asked, with
	// the list of those that work.
	if _, _, err := pca.ParseTemplate(p.Template); err != nil {
		return fmt.Errorf("--pca-template %v", err)
	}
	return nil
}

// Issuing says whether intermediates come from the Private CA.
func (p *PCAFlags) Issuing() bool { return p.CA == caSourceAWSPCA }

// newPCAIssuer reads the CA with the standard AWS chain (profile, if
// given) and refuses one that cannot issue.
func newPCAIssuer(ctx context.Context, profile string, p PCAFlags) (*pca.Issuer, error) {
	cfg, err := awsconfig.Load(ctx, profile)
	if err != nil {
		return nil, err
	}
	client, err := pca.Client(cfg, p.ARN)
	if err != nil {
		return nil, err
	}
	return pca.NewIssuer(ctx, client, p.ARN, pca.Options{Template: p.Template})
}

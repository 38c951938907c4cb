// Package awsconfig loads the AWS configuration the plugin's AWS calls use:
// the SDK's standard chain (environment, shared config and credentials
// files, SSO, web identity, container and instance roles), an optional
// profile, and any endpoint override the SDK honours (AWS_ENDPOINT_URL…).
package awsconfig

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Load returns the configuration of profile ("" for the chain's default)
// once credentials were found in it. The error says why not, in words, and
// never holds a credential.
func Load(ctx context.Context, profile string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Credentials == nil {
		return aws.Config{}, fmt.Errorf("no AWS credentials found")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, fmt.Errorf("no usable AWS credentials: %w", err)
	}
	return cfg, nil
}

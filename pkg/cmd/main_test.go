package cmd

import (
	"os"
	"testing"
)

// TestMain keeps every test of this package that loads the AWS
// configuration (ca issue, fix --ca aws-pca, doctor with --aws or EKS
// contexts) on this machine: instance metadata is an address off it, and
// the user's own AWS files and profile must not reach the tests.
func TestMain(m *testing.M) {
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}

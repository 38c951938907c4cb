package checks

import "github.com/meshfed/kubectl-meshfed/pkg/model"

// Input is what a check judges besides the clusters' objects: something the
// user asks the doctor to read. Without it such a check has nothing to look
// at, so it does not run; reporting it as passed would claim a look nobody
// took.
type Input string

const (
	// InputAWSPrivateCA is the AWS Private CA named with --pca-arn.
	InputAWSPrivateCA Input = "aws-private-ca"
	// InputAWSNetwork is the AWS network under the clusters (--aws, or EKS
	// contexts with AWS credentials).
	InputAWSNetwork Input = "aws-network"
	// InputIstiodViews is what each primary's istiod reports of itself
	// (clusterz, its registry), read by the live probes.
	InputIstiodViews Input = "istiod-views"
)

var inputs = map[Input]struct {
	present func(*model.Fleet) bool
	// what the input is, and how to have the doctor read it.
	what string
	// missing says why the checks needing it did not run, and how to run them.
	missing string
}{
	InputAWSPrivateCA: {func(f *model.Fleet) bool { return f.AWSPrivateCA != nil },
		"the AWS Private CA named with --pca-arn", "no AWS Private CA was named; --pca-arn ARN runs them"},
	InputAWSNetwork: {func(f *model.Fleet) bool { return f.AWSNetwork != nil },
		"the AWS network, read with --aws or for EKS contexts when AWS credentials are found", "the AWS network was not read; --aws runs them (EKS contexts with AWS credentials do by themselves)"},
	InputIstiodViews: {func(f *model.Fleet) bool { return f.Probes != nil && f.Probes.Skipped == "" },
		"istiod's own views (clusterz, its registry), read through a port-forward to each istiod pod by the live probes", "istiod was not asked: the live probes did not run (--no-probes, no time left by the run's deadline, or a run from files without them)"},
}

// String says what the input is and how to have it read.
func (i Input) String() string { return inputs[i].what }

// Known reports whether i is an input the doctor can read.
func (i Input) Known() bool { _, ok := inputs[i]; return ok }

// Missing returns why a check needing i cannot run on f, or "" when it can
// (or needs nothing).
func (i Input) Missing(f *model.Fleet) string {
	in, ok := inputs[i]
	if i == "" || !ok || in.present(f) {
		return ""
	}
	return in.missing
}

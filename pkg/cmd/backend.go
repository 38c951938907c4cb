package cmd

import (
	"context"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Target is what the user asked doctor to look at.
type Target struct {
	Contexts    []string      // --contexts
	AllContexts bool          // --all-contexts
	Timeout     time.Duration // --timeout: the read of the clusters
	// ProbeTimeout is the budget of the live probes and the AWS reads that
	// follow the read (--probe-timeout; zero means Timeout). See README's
	// "Deadlines".
	ProbeTimeout   time.Duration
	IstioNamespace string // --istio-namespace
	NoProbes       bool   // --no-probes
	// CertWarnDays and CertErrorDays: a CA certificate expiring within them
	// is a warning or an error (--cert-warn-days, --cert-error-days).
	CertWarnDays, CertErrorDays int
	// IstiodDebug maps a context to the address of its istiod's debug
	// endpoint (--istiod-debug-address), read instead of port-forwarding to
	// its istiod pods: for istiods no pod of the cluster runs (an external
	// control plane) or that a port-forward cannot reach.
	IstiodDebug map[string]string
	// ReadAWS: the command reads the AWS network under the clusters (it
	// takes --aws). AWS asks AWS whether or not a context looks like EKS
	// (--aws, or --aws-profile); AWSProfile is the shared-config profile.
	ReadAWS    bool
	AWS        bool
	AWSProfile string
	// PCAARN is the AWS Private CA to read and judge the clusters against
	// (--pca-arn; "" for none).
	PCAARN string
	// Now is the instant every check and the trust matrix judge
	// certificates at; zero means the time Registry is called.
	Now time.Time
}

// Backend is everything the commands need from the rest of the program. The
// commands only wire flags to it and hand its results to a renderer; tests
// replace it with hand-made fleets and a test catalog.
type Backend struct {
	// Catalog is the catalog checks, explain and --checks/--skip read.
	Catalog func() *checks.Catalog
	// Registry pairs the catalog with the checks doctor runs.
	Registry func(Target) *checks.Registry
	// Choose picks the contexts to read and says why each was picked. An
	// error means nothing could be chosen.
	Choose func(ctx context.Context, flags *kube.Flags, t Target) ([]checks.ContextChoice, error)
	// Collect reads the chosen contexts. It never fails as a whole.
	Collect func(ctx context.Context, flags *kube.Flags, contexts []string, t Target) *model.Fleet
	// Probe runs the live probes over what Collect read and returns their
	// results, which doctor records on the fleet before the checks judge
	// them. Nil, or --no-probes, means no probe runs.
	Probe func(ctx context.Context, f *model.Fleet, t Target) *model.Probes
	// AWS reads what AWS says of the network under what Collect read (EKS,
	// ELBv2, EC2), recorded on the fleet for the AWS checks; nil when AWS is
	// not in play (no --aws, no EKS context, or EKS without credentials).
	AWS func(ctx context.Context, flags *kube.Flags, f *model.Fleet, t Target) *model.AWSNetwork
	// PrivateCA reads what AWS Private CA says of the CA t.PCAARN names,
	// recorded on the fleet for the Private CA checks.
	PrivateCA func(ctx context.Context, t Target) *model.AWSPrivateCA
	// Identify says what a reachable cluster is in the mesh: its cluster ID,
	// network and role.
	Identify func(c *model.Cluster) checks.ClusterSummary
	// Trust builds the report's trust matrix over what Collect read, or
	// returns nil when there are fewer than two primaries. Nil means no
	// matrix.
	Trust func(f *model.Fleet, t Target) *model.TrustMatrix
	// Mesh draws the mesh's shape in brief for the report's opening (nil:
	// none).
	Mesh func(f *model.Fleet) *checks.MeshOverview
	// Fixers are the fixers fix plans with (nil: none).
	Fixers func() []fix.Fixer
	// Clients reach the live clusters for fix --apply, every request
	// bounded by the target's timeout.
	Clients func(flags *kube.Flags, t Target) fix.Clients
	// Apply applies (or server-side dry-runs) a plan: fix.Apply.
	Apply func(ctx context.Context, p fix.Plan, c fix.Clients, o fix.ApplyOptions) fix.Result
	// Reread reads the contexts anew, nothing kept from an earlier read
	// (fix, after applying, judges the clusters as they are now).
	Reread func(ctx context.Context, flags *kube.Flags, contexts []string, t Target) *model.Fleet
}

package diagnosis

import (
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// Request is what one run is asked to look at and how long it may take.
type Request struct {
	// Flags are the kubeconfig flags the contexts are read through.
	Flags *kube.Flags

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
	// certificates at; zero means the time the registry is built.
	Now time.Time

	// Checks are the checks to run (--checks, --skip); nil: the run only
	// reads (topology), and its Result has no Report.
	Checks *checks.Selection
	// TrustMatrix: the report carries the trust matrix (a trust check
	// runs).
	TrustMatrix bool
}

// ProbeBudget is what each probe may use from its start: --probe-timeout,
// default --timeout.
func (r Request) ProbeBudget() time.Duration {
	if r.ProbeTimeout > 0 {
		return r.ProbeTimeout
	}
	return r.Timeout
}

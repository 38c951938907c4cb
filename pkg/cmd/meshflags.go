package cmd

import (
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshfed/kubectl-meshfed/pkg/aws/pca"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// MeshFlags are the flags that say which clusters to read and how: the part
// doctor and topology share.
type MeshFlags struct {
	Contexts       []string
	AllContexts    bool
	Timeout        time.Duration
	ProbeTimeout   time.Duration // 0: the same as Timeout
	NoProbes       bool
	IstioNamespace string
	IstiodDebug    []string // CONTEXT=URL
	// AWS asks AWS about the network under the clusters even when no
	// context looks like EKS; AWSProfile picks the shared-config profile.
	AWS        bool
	AWSProfile string
	// PCAARN names the AWS Private CA the mesh's roots should come from
	// (--pca-arn): the doctor reads it and judges the clusters against it.
	PCAARN string

	awsFlags bool // AddAWSFlags was called: the command reads the AWS network

	istiod map[string]string // IstiodDebug, parsed by Validate

	namespaceConflict error // -n and --istio-namespace disagree, found by Complete
}

// defaultIstioNamespace is where Istio's installers put the control plane.
const defaultIstioNamespace = "istio-system"

func defaultMeshFlags() MeshFlags {
	return MeshFlags{Timeout: 10 * time.Second, IstioNamespace: defaultIstioNamespace}
}

// AddFlags registers the flags; timeoutHelp and noProbesHelp say what they
// bound or turn off for the command at hand.
func (m *MeshFlags) AddFlags(f *pflag.FlagSet, timeoutHelp, noProbesHelp string) {
	f.StringSliceVar(&m.Contexts, "contexts", nil, "Kubeconfig contexts to read, comma-separated (default: the current context and the clusters its remote secrets point at)")
	f.BoolVar(&m.AllContexts, "all-contexts", false, "Read every context in the kubeconfig")
	f.DurationVar(&m.Timeout, "timeout", m.Timeout, timeoutHelp)
	f.DurationVar(&m.ProbeTimeout, "probe-timeout", 0, "Budget of the live probes (gateway dials, remote credentials with their access reviews, istiod's views) and the AWS reads: each may use all of it from its start, when the read ends (a cluster's credential and istiod probes as soon as its secrets and pods are read) (default: the same as --timeout)")
	f.BoolVar(&m.NoProbes, "no-probes", false, noProbesHelp)
	f.StringVar(&m.IstioNamespace, "istio-namespace", m.IstioNamespace, "Namespace of Istio's control plane (also -n, --namespace)")
	f.StringArrayVar(&m.IstiodDebug, "istiod-debug-address", nil, "CONTEXT=URL: reach that context's istiod debug endpoint at URL instead of through a port-forward (repeatable)")
}

// AddAWSFlags registers --aws and --aws-profile: the command then reads the
// AWS network under the clusters, when asked or when a context is EKS.
func (m *MeshFlags) AddAWSFlags(f *pflag.FlagSet) {
	m.awsFlags = true
	f.BoolVar(&m.AWS, "aws", false, "Read the AWS network under the clusters (EKS endpoints, gateway NLBs, security groups, VPC routes) even when no context looks like EKS; EKS contexts turn it on by themselves when AWS credentials are present")
	f.StringVar(&m.AWSProfile, "aws-profile", "", "AWS shared-config profile to use (default: the standard chain: environment, AWS_PROFILE, default profile, SSO, web identity); implies --aws")
	f.StringVar(&m.PCAARN, "pca-arn", "", "ARN of the AWS Private CA the mesh's roots come from (arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID): read it and check the clusters against it (MF6001-MF6004) and cert-manager's Private CA issuers too (MF6005)")
}

// Complete normalises the context list, so "--contexts a,,b " works, and
// takes -n/--namespace as Istio's namespace: kubectl's namespace flag, in a
// plugin whose only namespace scope is Istio's control plane.
func (m *MeshFlags) Complete(flags *kube.Flags) {
	m.Contexts = trimAll(m.Contexts)
	m.IstioNamespace, m.namespaceConflict = istioNamespace(m.IstioNamespace, flags)
}

// istioNamespace is the namespace --istio-namespace and -n say together, and
// an error when they say two different ones.
func istioNamespace(istioNS string, flags *kube.Flags) (string, error) {
	n := flags.Namespace()
	switch {
	case n == "" || n == istioNS:
		return istioNS, nil
	case istioNS == defaultIstioNamespace:
		return n, nil
	}
	return istioNS, failed("-n %s and --istio-namespace %s name two namespaces; -n is --istio-namespace, give one", n, istioNS)
}

// Validate rejects flags no run could honour; every error exits 3.
func (m *MeshFlags) Validate() error {
	if m.Timeout <= 0 {
		return failed("--timeout must be positive, not %s", m.Timeout)
	}
	if m.ProbeTimeout < 0 {
		return failed("--probe-timeout must not be negative, not %s", m.ProbeTimeout)
	}
	if m.AllContexts && len(m.Contexts) > 0 {
		return failed("--contexts and --all-contexts cannot be used together")
	}
	if m.namespaceConflict != nil {
		return m.namespaceConflict
	}
	if errs := validation.IsDNS1123Label(m.IstioNamespace); len(errs) > 0 {
		return failed("--istio-namespace %q is not a namespace name: %s", m.IstioNamespace, errs[0])
	}
	if m.PCAARN = strings.TrimSpace(m.PCAARN); m.PCAARN != "" {
		if _, err := pca.Region(m.PCAARN); err != nil {
			return failed("--pca-arn: %v", err)
		}
	}
	istiod, err := parseIstiodDebug(m.IstiodDebug)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	m.istiod = istiod
	return nil
}

// Target is the run these flags describe.
func (m *MeshFlags) Target() Target {
	probes := m.ProbeTimeout
	if probes == 0 {
		probes = m.Timeout
	}
	return Target{Contexts: m.Contexts, AllContexts: m.AllContexts, Timeout: m.Timeout, ProbeTimeout: probes,
		IstioNamespace: m.IstioNamespace, NoProbes: m.NoProbes, IstiodDebug: m.istiod,
		ReadAWS: m.awsFlags, AWS: m.AWS || m.AWSProfile != "", AWSProfile: m.AWSProfile, PCAARN: m.PCAARN}
}

package kube

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/homedir"
)

// Flags are kubectl's kubeconfig flags, with the names, shorthands,
// defaults and help kubectl gives them (cli-runtime's ConfigFlags, which
// TestFlagsAreKubectls holds them equal to), so that the plugin takes what
// kubectl takes. The plugin reads many contexts, not one: --kubeconfig (and
// KUBECONFIG), --context (where following the mesh starts) and --as apply to
// each; the flags that describe one cluster or user (--server, --token,
// --namespace…) are accepted and not applied to every context, as before.
type Flags struct {
	KubeConfig string

	cacheDir, certFile, keyFile, token            string
	impersonate, impersonateUID                   string
	impersonateGroups, impersonateExtra           []string
	cluster, user, namespace, context             string
	server, tlsServerName, caFile, requestTimeout string
	insecure, disableCompression                  bool
}

// NewFlags returns the flags at kubectl's defaults.
func NewFlags() *Flags {
	return &Flags{cacheDir: defaultCacheDir(), requestTimeout: "0"}
}

// ForKubeconfig returns flags that read the kubeconfig at path, as
// --kubeconfig path does.
func ForKubeconfig(path string) *Flags {
	f := NewFlags()
	f.KubeConfig = path
	return f
}

func defaultCacheDir() string {
	if kcd := os.Getenv("KUBECACHEDIR"); kcd != "" {
		return kcd
	}
	return filepath.Join(homedir.HomeDir(), ".kube", "cache")
}

// AddFlags registers the flags on fs, in kubectl's words.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.KubeConfig, "kubeconfig", f.KubeConfig, "Path to the kubeconfig file to use for CLI requests.")
	fs.StringVar(&f.cacheDir, "cache-dir", f.cacheDir, "Default cache directory")
	fs.StringVar(&f.certFile, "client-certificate", f.certFile, "Path to a client certificate file for TLS")
	fs.StringVar(&f.keyFile, "client-key", f.keyFile, "Path to a client key file for TLS")
	fs.StringVar(&f.token, "token", f.token, "Bearer token for authentication to the API server")
	fs.StringVar(&f.impersonate, "as", f.impersonate, "Username to impersonate for the operation. User could be a regular user or a service account in a namespace.")
	fs.StringVar(&f.impersonateUID, "as-uid", f.impersonateUID, "UID to impersonate for the operation.")
	fs.StringArrayVar(&f.impersonateGroups, "as-group", f.impersonateGroups, "Group to impersonate for the operation, this flag can be repeated to specify multiple groups.")
	fs.StringArrayVar(&f.impersonateExtra, "as-user-extra", f.impersonateExtra, "User extras to impersonate for the operation, this flag can be repeated to specify multiple values for the same key.")
	fs.StringVar(&f.cluster, "cluster", f.cluster, "The name of the kubeconfig cluster to use")
	fs.StringVar(&f.user, "user", f.user, "The name of the kubeconfig user to use")
	fs.StringVarP(&f.namespace, "namespace", "n", f.namespace, "If present, the namespace scope for this CLI request")
	fs.StringVar(&f.context, "context", f.context, "The name of the kubeconfig context to use")
	fs.StringVarP(&f.server, "server", "s", f.server, "The address and port of the Kubernetes API server")
	fs.StringVar(&f.tlsServerName, "tls-server-name", f.tlsServerName, "Server name to use for server certificate validation. If it is not provided, the hostname used to contact the server is used")
	fs.BoolVar(&f.insecure, "insecure-skip-tls-verify", f.insecure, "If true, the server's certificate will not be checked for validity. This will make your HTTPS connections insecure")
	fs.StringVar(&f.caFile, "certificate-authority", f.caFile, "Path to a cert file for the certificate authority")
	fs.StringVar(&f.requestTimeout, "request-timeout", f.requestTimeout, "The length of time to wait before giving up on a single server request. Non-zero values should contain a corresponding time unit (e.g. 1s, 2m, 3h). A value of zero means don't timeout requests.")
	fs.BoolVar(&f.disableCompression, "disable-compression", f.disableCompression, "If true, opt-out of response compression for all requests to the server")
}

// Context is --context: the context to start from ("" for the
// kubeconfig's current one).
func (f *Flags) Context() string {
	if f == nil {
		return ""
	}
	return f.context
}

// RawConfig loads the kubeconfig as kubectl does (--kubeconfig, else
// KUBECONFIG's files merged, else ~/.kube/config), without applying any flag.
func (f *Flags) RawConfig() (clientcmdapi.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f != nil {
		rules.ExplicitPath = f.KubeConfig
	}
	cfg, err := rules.Load()
	if err != nil {
		return clientcmdapi.Config{}, err
	}
	return *cfg, nil
}

// RESTConfig builds the client configuration of one kubeconfig context,
// honouring the impersonation flags, tuned for a one-pass read: no
// client-side throttling (the pass is a dozen requests).
func (f *Flags) RESTConfig(contextName string) (*rest.Config, error) {
	raw, err := f.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	return f.restConfig(raw, contextName)
}

func (f *Flags) restConfig(raw clientcmdapi.Config, contextName string) (*rest.Config, error) {
	kctx, ok := raw.Contexts[contextName]
	if !ok {
		return nil, fmt.Errorf("context %q is not in the kubeconfig", contextName)
	}
	// client-go's own words for these ("no configuration has been
	// provided, try setting KUBERNETES_MASTER") do not point at the entry.
	if kctx != nil {
		if _, ok := raw.Clusters[kctx.Cluster]; !ok {
			return nil, fmt.Errorf("context %q names cluster %q, which the kubeconfig does not define", contextName, kctx.Cluster)
		}
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: contextName}
	if f != nil {
		overrides.AuthInfo.Impersonate = f.impersonate
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(raw, contextName, overrides, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", contextName, err)
	}
	cfg.QPS, cfg.Burst = -1, 0 // a negative QPS turns client-go's rate limiter off
	cfg.UserAgent = "kubectl-meshfed"
	return cfg, nil
}

// WithContext returns a copy of the flags that start from context, as
// --context context would (trace starts from its --from cluster).
func (f *Flags) WithContext(context string) *Flags {
	c := *f
	c.context = context
	return &c
}

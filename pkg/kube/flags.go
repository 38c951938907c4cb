package kube

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/homedir"
)

// Flags are kubectl's kubeconfig flags, with the names, shorthands,
// defaults and help kubectl gives them (cli-runtime's ConfigFlags, which
// TestFlagsAreKubectls holds them equal to), so that the plugin takes what
// kubectl takes, and each means what it means to kubectl: every context's
// REST configuration is built with the overrides ConfigFlags would make
// (TestOverridesAreConfigFlags compares the two). ConfigFlags itself is not
// linked: it brings kustomize and the whole discovery (TestImportDiet).
// Two differences, because the plugin reads many clusters: -n/--namespace is
// the namespace of Istio's control plane (the plugin has no other namespace
// scope), and the flags that name or describe one cluster or user
// (OneClusterFlags) reach only the one context they can mean.
type Flags struct {
	KubeConfig string

	cacheDir, certFile, keyFile, token            string
	impersonate, impersonateUID                   string
	impersonateGroups, impersonateExtra           []string
	cluster, user, namespace, context             string
	server, tlsServerName, caFile, requestTimeout string
	insecure, disableCompression                  bool

	// oneClusterTarget: the one-cluster flags apply to this context only
	// ("": to any, as in a run of one context).
	oneClusterTarget string
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
// with kubectl's overrides applied as kubectl applies them, tuned for a
// one-pass read: no client-side throttling (the pass is a dozen requests).
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
	overrides := f.Overrides(contextName)
	// client-go's own words for these ("no configuration has been
	// provided, try setting KUBERNETES_MASTER") do not point at the entry.
	if cluster := kctx.Cluster; kctx != nil && overrides.ClusterInfo.Server == "" {
		if overrides.Context.Cluster != "" {
			cluster = overrides.Context.Cluster
		}
		if _, ok := raw.Clusters[cluster]; !ok {
			what := "names cluster"
			if overrides.Context.Cluster != "" {
				what = "is given --cluster"
			}
			return nil, fmt.Errorf("context %q %s %q, which the kubeconfig does not define", contextName, what, cluster)
		}
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(raw, contextName, overrides, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", contextName, err)
	}
	cfg.QPS, cfg.Burst = -1, 0 // a negative QPS turns client-go's rate limiter off
	cfg.UserAgent = "kubectl-meshfed"
	return cfg, nil
}

// Overrides are the kubeconfig overrides of one context's configuration:
// those cli-runtime's ConfigFlags.toRawKubeConfigLoader makes of the same
// flags (k8s.io/cli-runtime/pkg/genericclioptions/config_flags.go), field by
// field, so that a flag means here what it means to kubectl. The context is
// the one being built, not --context; the namespace is not kubectl's (-n
// is Istio's namespace and no REST configuration depends on it); the
// one-cluster flags apply only to OneClusterContext.
func (f *Flags) Overrides(contextName string) *clientcmd.ConfigOverrides {
	o := &clientcmd.ConfigOverrides{ClusterDefaults: clientcmd.ClusterDefaults, CurrentContext: contextName}
	if f == nil {
		return o
	}
	o.AuthInfo.Impersonate = f.impersonate
	o.AuthInfo.ImpersonateUID = f.impersonateUID
	o.AuthInfo.ImpersonateGroups = f.impersonateGroups
	if len(f.impersonateExtra) > 0 {
		extra := map[string][]string{}
		for _, kv := range f.impersonateExtra {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue // as ConfigFlags: a malformed extra is dropped
			}
			extra[k] = append(extra[k], v)
		}
		o.AuthInfo.ImpersonateUserExtra = extra
	}
	o.ClusterInfo.InsecureSkipTLSVerify = f.insecure
	o.ClusterInfo.DisableCompression = f.disableCompression
	o.Timeout = f.requestTimeout
	if f.oneClusterTarget != "" && f.oneClusterTarget != contextName {
		return o
	}
	o.AuthInfo.ClientCertificate = f.certFile
	o.AuthInfo.ClientKey = f.keyFile
	o.AuthInfo.Token = f.token
	o.ClusterInfo.Server = f.server
	o.ClusterInfo.TLSServerName = f.tlsServerName
	o.ClusterInfo.CertificateAuthority = f.caFile
	o.Context.Cluster = f.cluster
	o.Context.AuthInfo = f.user
	return o
}

// OneClusterFlags are the flags given that name or describe one cluster or
// one user (--server, --cluster, --user, --token, --client-certificate,
// --client-key, --certificate-authority, --tls-server-name): applied to
// several contexts they would make them all one cluster, or send one
// cluster's credentials to the others. A run with any of them reads one
// context (OneClusterContext), never follows the mesh to more.
func (f *Flags) OneClusterFlags() []string {
	if f == nil {
		return nil
	}
	var out []string
	for _, fl := range []struct{ name, value string }{
		{"--server", f.server}, {"--cluster", f.cluster}, {"--user", f.user}, {"--token", f.token},
		{"--client-certificate", f.certFile}, {"--client-key", f.keyFile},
		{"--certificate-authority", f.caFile}, {"--tls-server-name", f.tlsServerName},
	} {
		if fl.value != "" {
			out = append(out, fl.name)
		}
	}
	return out
}

// OneClusterContext returns a copy of the flags whose one-cluster flags
// apply only to the named context (the others keep their kubeconfig
// entries): the context a run with them reads.
func (f *Flags) OneClusterContext(name string) *Flags {
	c := *f
	c.oneClusterTarget = name
	return &c
}

// Server is -s/--server, when given.
func (f *Flags) Server() string {
	if f == nil {
		return ""
	}
	return f.server
}

// Namespace is -n/--namespace: Istio's namespace, when given.
func (f *Flags) Namespace() string {
	if f == nil {
		return ""
	}
	return f.namespace
}

// KubeconfigFiles are the files the kubeconfig is read from, in kubectl's
// order (--kubeconfig, else KUBECONFIG's list, else ~/.kube/config), each
// with whether it exists: KUBECONFIG's missing files are skipped silently
// by the loader, so an empty kubeconfig needs them named.
func (f *Flags) KubeconfigFiles() (present, missing []string) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f != nil {
		rules.ExplicitPath = f.KubeConfig
	}
	for _, p := range rules.GetLoadingPrecedence() {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		} else {
			present = append(present, p)
		}
	}
	return present, missing
}

// WithContext returns a copy of the flags that start from context, as
// --context context would (trace starts from its --from cluster).
func (f *Flags) WithContext(context string) *Flags {
	c := *f
	c.context = context
	return &c
}

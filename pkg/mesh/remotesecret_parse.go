package mesh

import (
	"net"
	"net/url"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// ClusterAnnotation is the annotation istioctl create-remote-secret puts on a
// remote secret, naming the cluster. istiod does not read it: the data key
// is the cluster ID (pkg/kube/multicluster, addRemoteConfig).
const ClusterAnnotation = "networking.istio.io/cluster"

// RemoteSecretPrefix starts the names istioctl create-remote-secret gives.
const RemoteSecretPrefix = "istio-remote-secret-"

// RemoteSecret is a Secret of a cluster that is, or looks meant to be, a
// remote secret: labelled istio/multiCluster (anywhere), or named or
// annotated like one. Read says whether istiod reads it.
type RemoteSecret struct {
	Namespace, Name string
	// Labelled: istio/multiCluster=true, the label istiod selects on.
	Labelled bool
	// LabelValue is the label's value when it is set but not "true".
	LabelValue string
	// InIstioNamespace: the secret is in the cluster's Istio namespace.
	InIstioNamespace bool
	// Annotation is networking.istio.io/cluster ("" when absent).
	Annotation string
	Entries    []RemoteEntry
}

// Ref is namespace/name.
func (s RemoteSecret) Ref() string { return s.Namespace + "/" + s.Name }

// Read reports whether istiod reads the secret at all.
func (s RemoteSecret) Read() bool { return s.Labelled && s.InIstioNamespace }

// RemoteEntry is one data key of a remote secret: a cluster ID and the
// kubeconfig istiod would use for it, reduced to public facts.
type RemoteEntry struct {
	// Key is the data key: the cluster ID istiod registers the cluster as.
	Key string
	// Server is the API server of the kubeconfig's current context.
	Server string
	// Auth names how the kubeconfig authenticates (token, client
	// certificate, exec, auth provider …), never with the credential.
	Auth string
	// Err says why istiod cannot use the kubeconfig (empty when it can).
	// It never quotes the kubeconfig.
	Err string
	// Unread: the value is not in the snapshot (a fleet loaded from a dump
	// holds key names only), so nothing is known of the kubeconfig.
	Unread bool
}

// RemoteSecrets lists a cluster's remote secrets and look-alikes, sorted by
// namespace and name (once per cluster).
func RemoteSecrets(c *model.Cluster) []RemoteSecret {
	return c.Memo("mesh.RemoteSecrets", func() any { return remoteSecrets(c) }).([]RemoteSecret)
}

func remoteSecrets(c *model.Cluster) []RemoteSecret {
	var out []RemoteSecret
	for _, s := range c.Secrets {
		label, hasLabel := s.Labels[model.MultiClusterSecretLabel]
		ann := s.Annotations[ClusterAnnotation]
		if !hasLabel && ann == "" && !strings.HasPrefix(s.Name, RemoteSecretPrefix) {
			continue
		}
		if s.Type == "kubernetes.io/service-account-token" {
			continue // the reader's token secret, not a remote secret
		}
		rs := RemoteSecret{
			Namespace: s.Namespace, Name: s.Name, Labelled: label == "true",
			InIstioNamespace: s.Namespace == c.IstioNamespace, Annotation: ann,
		}
		if hasLabel && label != "true" {
			rs.LabelValue = label
		}
		for _, k := range s.Data.Keys() {
			e := parseEntry(s.Data[k])
			if f, known := s.Facts[k]; s.Data[k] == nil && known && !f.Kept() {
				// A bundle withheld the value: it was not a kubeconfig.
				e = RemoteEntry{Err: notKubeconfig}
			}
			e.Key = k
			rs.Entries = append(rs.Entries, e)
		}
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref() < out[j].Ref() })
	return out
}

const notKubeconfig = "the value does not parse as a kubeconfig"

// parseEntry reads a kubeconfig the way istiod's kube.NewUntrustedRestConfig
// does (load, validate, refuse what sanitizeKubeConfig refuses), with
// errors of its own that never quote the input.
func parseEntry(b []byte) RemoteEntry {
	var e RemoteEntry
	if b == nil {
		e.Unread = true
		return e
	}
	if len(b) == 0 {
		e.Err = "the kubeconfig is empty"
		return e
	}
	cfg, err := loadKubeconfig(b)
	if err != nil {
		e.Err = notKubeconfig
		return e
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	switch {
	case cfg.CurrentContext == "":
		e.Err = "the kubeconfig has no current-context"
		return e
	case !ok:
		e.Err = "the kubeconfig's current-context names no context in it"
		return e
	}
	cl, ok := cfg.Clusters[kctx.Cluster]
	if !ok {
		e.Err = "the current context names no cluster of the kubeconfig"
		return e
	}
	e.Server = cl.Server
	if u, err := url.Parse(cl.Server); cl.Server == "" || err != nil || u.Host == "" {
		e.Err = "the kubeconfig's cluster has no valid server URL"
		return e
	}
	user, ok := cfg.AuthInfos[kctx.AuthInfo]
	if !ok {
		e.Err = "the current context names no user of the kubeconfig"
		return e
	}
	switch {
	case user.Exec != nil:
		e.Auth, e.Err = "exec", "istiod refuses exec credentials in remote kubeconfigs (unless PILOT_INSECURE_MULTICLUSTER_KUBECONFIG_OPTIONS allows them)"
	case user.AuthProvider != nil && user.AuthProvider.Name != "oidc":
		e.Auth, e.Err = "auth provider "+user.AuthProvider.Name, "istiod refuses auth provider "+user.AuthProvider.Name+" in remote kubeconfigs"
	case user.TokenFile != "":
		e.Auth, e.Err = "token file", "istiod refuses tokenFile in remote kubeconfigs: the token must be inline"
	case user.ClientCertificate != "" || user.ClientKey != "":
		e.Auth, e.Err = "client certificate file", "istiod refuses clientCertificate/clientKey files in remote kubeconfigs: they must be inline"
	case user.Token != "":
		e.Auth = "token"
	case len(user.ClientCertificateData) > 0:
		e.Auth = "client certificate"
	case user.AuthProvider != nil:
		e.Auth = "auth provider oidc"
	case user.Username != "":
		e.Auth = "basic"
	default:
		e.Auth = "none"
	}
	return e
}

// LoopbackServer reports whether an API server URL names this host
// (localhost or a loopback address): from a pod, that is the pod itself.
func LoopbackServer(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// SameServer reports whether two API server URLs name the same endpoint
// (host and port, https's default port filled in, case and trailing slash
// ignored).
func SameServer(a, b string) bool {
	na, nb := normServer(a), normServer(b)
	return na != "" && na == nb
}

func normServer(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(host, port) + strings.TrimSuffix(u.Path, "/")
}

// loadKubeconfig is clientcmd.Load (client-go's tools/clientcmd/loader.go)
// without importing tools/clientcmd, which links client-go's REST transport
// into every pure check that reads a remote secret. b is not empty here.
func loadKubeconfig(b []byte) (*clientcmdapi.Config, error) {
	decoded, _, err := clientcmdlatest.Codec.Decode(b,
		&schema.GroupVersionKind{Version: clientcmdlatest.Version, Kind: "Config"}, clientcmdapi.NewConfig())
	if err != nil {
		return nil, err
	}
	return decoded.(*clientcmdapi.Config), nil
}

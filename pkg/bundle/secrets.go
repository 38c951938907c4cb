package bundle

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/url"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// bundleSecret is a Secret as a bundle holds it: the key names with each
// value's length and fingerprint (SecretData marshals so), and each value's
// facts. leaves are the workload certificates CA keys issued, by data key.
func bundleSecret(s model.Secret, leaves map[string]string) model.Secret {
	out := s
	out.Facts = make(map[string]model.SecretFacts, len(s.Data))
	for k, v := range s.Data {
		f := facts(v)
		if f.Form == model.FormPrivateKey {
			f.IssuedLeaf = leaves[k]
		}
		out.Facts[k] = f
	}
	return out
}

// facts decides how a bundle keeps one value: certificates and empty
// values as they are, a private key as its public half, a kubeconfig with
// its credentials redacted, anything else withheld.
func facts(v []byte) model.SecretFacts {
	switch {
	case len(v) == 0:
		return model.SecretFacts{Form: model.FormEmpty}
	case onlyCertificates(v):
		return model.SecretFacts{Form: model.FormCertificates, Public: string(v)}
	}
	if key, err := pki.ParsePrivateKey(v); err == nil {
		f := model.SecretFacts{Form: model.FormPrivateKey, CertError: certError(v)}
		if pub, err := key.PublicKeyPEM(); err == nil {
			f.PublicKey = string(pub)
		} else {
			f.Form, f.KeyError = model.FormWithheld, "the key's public half cannot be written: "+err.Error()
		}
		return f
	}
	if cfg, ok := kubeconfig(v); ok {
		return model.SecretFacts{Form: model.FormKubeconfig, Public: cfg}
	}
	_, keyErr := pki.ParsePrivateKey(v)
	return model.SecretFacts{Form: model.FormWithheld, KeyError: keyErr.Error(), CertError: certError(v)}
}

func certError(v []byte) string {
	if _, err := pki.ParseCertificates(v); err != nil {
		return err.Error()
	}
	return ""
}

// onlyCertificates reports whether v is PEM CERTIFICATE blocks that parse,
// without headers, with nothing but white space around them: public data,
// nothing of which can be secret. pem.Decode skips text before a block, so
// that is looked at first.
func onlyCertificates(v []byte) bool {
	rest := v
	n := 0
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			return n > 0
		}
		if !bytes.HasPrefix(rest, []byte("-----BEGIN CERTIFICATE-----")) {
			return false
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" || len(block.Headers) > 0 {
			return false
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return false
		}
		n++
	}
}

// kubeconfig decodes v as istiod does a remote secret's value
// (pkg/mesh loadKubeconfig) and writes it back with every credential
// replaced by its model.Redacted form, every extension dropped, and
// passwords in URLs masked: what the checks read of it (the current
// context, the server, how it authenticates) stays as it was.
func kubeconfig(v []byte) (string, bool) {
	decoded, _, err := clientcmdlatest.Codec.Decode(v,
		&schema.GroupVersionKind{Version: clientcmdlatest.Version, Kind: "Config"}, clientcmdapi.NewConfig())
	if err != nil {
		return "", false
	}
	cfg, ok := decoded.(*clientcmdapi.Config)
	if !ok {
		return "", false
	}
	out := clientcmdapi.NewConfig()
	out.CurrentContext = cfg.CurrentContext
	for name, c := range cfg.Clusters {
		if c == nil {
			continue
		}
		out.Clusters[name] = &clientcmdapi.Cluster{
			Server: maskURL(c.Server), TLSServerName: c.TLSServerName, InsecureSkipTLSVerify: c.InsecureSkipTLSVerify,
			CertificateAuthority: c.CertificateAuthority, CertificateAuthorityData: publicOrRedacted(c.CertificateAuthorityData),
			ProxyURL: maskURL(c.ProxyURL), DisableCompression: c.DisableCompression,
		}
	}
	for name, a := range cfg.AuthInfos {
		if a == nil {
			continue
		}
		r := &clientcmdapi.AuthInfo{
			ClientCertificate: a.ClientCertificate, ClientCertificateData: publicOrRedacted(a.ClientCertificateData),
			ClientKey: a.ClientKey, ClientKeyData: redactedBytes(a.ClientKeyData),
			Token: redacted(a.Token), TokenFile: a.TokenFile, Impersonate: a.Impersonate,
			ImpersonateGroups: a.ImpersonateGroups, Username: a.Username, Password: redacted(a.Password),
		}
		if p := a.AuthProvider; p != nil {
			r.AuthProvider = &clientcmdapi.AuthProviderConfig{Name: p.Name, Config: map[string]string{}}
			for k, v := range p.Config {
				r.AuthProvider.Config[k] = redacted(v)
			}
		}
		if e := a.Exec; e != nil {
			r.Exec = &clientcmdapi.ExecConfig{Command: e.Command, APIVersion: e.APIVersion, InteractiveMode: e.InteractiveMode, ProvideClusterInfo: e.ProvideClusterInfo}
			for _, arg := range e.Args {
				r.Exec.Args = append(r.Exec.Args, redacted(arg))
			}
			for _, env := range e.Env {
				r.Exec.Env = append(r.Exec.Env, clientcmdapi.ExecEnvVar{Name: env.Name, Value: redacted(env.Value)})
			}
		}
		out.AuthInfos[name] = r
	}
	for name, c := range cfg.Contexts {
		if c != nil {
			out.Contexts[name] = &clientcmdapi.Context{Cluster: c.Cluster, AuthInfo: c.AuthInfo, Namespace: c.Namespace}
		}
	}
	b, err := runtime.Encode(clientcmdlatest.Codec, out)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func redacted(s string) string {
	if s == "" {
		return ""
	}
	return model.Redacted([]byte(s))
}

func redactedBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return []byte(model.Redacted(b))
}

// publicOrRedacted keeps certificate data that is certificates only.
func publicOrRedacted(b []byte) []byte {
	if len(b) == 0 || onlyCertificates(b) {
		return b
	}
	return redactedBytes(b)
}

func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	return u.Redacted()
}

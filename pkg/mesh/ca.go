package mesh

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// CASource is where a primary's istiod takes its signing CA from.
type CASource string

const (
	// CAPluggedIn is the `cacerts` secret (istio or kubernetes.io/tls layout).
	CAPluggedIn CASource = "cacerts"
	// CASelfSigned is istiod's own root in `istio-ca-secret` (or in `cacerts`
	// marked istio-generated): it cannot be shared with other clusters.
	CASelfSigned CASource = "istio-ca-secret"
	// CAExternal means istiod does not sign workload certificates itself:
	// its CA server is off (istio-csr, cert-manager) or the workloads are sent
	// to another CA address.
	CAExternal CASource = "external"
	// CANone means no CA material was found (no istiod, or istiod has not
	// created its self-signed root yet).
	CANone CASource = "none"
)

// Names of the CA secrets and their keys, as istiod reads them
// (istio.io/istio security/pkg/pki/ca and pilot/pkg/bootstrap/istio_ca.go,
// detectSigningCABundleAndCRL: the kubernetes.io/tls layout is tried first).
const (
	CACertsSecret    = "cacerts"
	SelfSignedSecret = "istio-ca-secret"

	KeyCACert    = "ca-cert.pem"
	KeyCAKey     = "ca-key.pem"
	KeyRootCert  = "root-cert.pem"
	KeyCertChain = "cert-chain.pem"
	KeyTLSCert   = "tls.crt"
	KeyTLSKey    = "tls.key"
	KeyTLSRoot   = "ca.crt"
	// KeyIstioGenerated marks a `cacerts` secret that istiod wrote itself
	// (USE_CACERTS_FOR_SELF_SIGNED_CA): its content is a self-signed root.
	KeyIstioGenerated = "istio-generated"
)

// CA is the signing CA of one cluster's istiod, read from its secret. The
// private key is parsed in memory only and is reachable through Key; it never
// marshals or prints.
type CA struct {
	Source CASource
	// Secret is namespace/name of the secret read.
	Secret string
	// Layout is "istio" (ca-cert.pem …) or "tls" (tls.crt …).
	Layout string
	// Annotations of the CA secret (cert-manager writes its issuer there).
	Annotations map[string]string
	// Signing is the certificate istiod signs workload certificates with.
	Signing *x509.Certificate
	// Chain is what istiod appends to every certificate it issues
	// (cert-chain.pem, or tls.crt followed by ca.crt).
	Chain []*x509.Certificate
	// Roots is the trust bundle istiod distributes (root-cert.pem); with a
	// multi-root bundle it holds several roots.
	Roots []*x509.Certificate
	// External lists why istiod looks like it does not sign itself.
	External []string
	// Problems lists every part of the CA material that is missing or does
	// not parse, each naming the secret, the key and the PEM block.
	Problems []Problem
	// Withheld is true when the secret's keys are known but their values are
	// not (a snapshot loaded from a dump).
	Withheld bool
	// Err is the first problem, nil when the material parsed.
	Err error
	// IssuedLeaf is, in a fleet read from a bundle, a workload certificate
	// the signing key issued when the bundle was written (the key itself is
	// not in the bundle: Key then knows only its public half). Nil in a
	// live read.
	IssuedLeaf *x509.Certificate

	key *pki.Key
}

// Problem is one unreadable part of the CA material.
type Problem struct {
	// Key is the secret's data key ("" for the secret as a whole).
	Key string
	// Fatal means istiod cannot start its CA with this material.
	Fatal bool
	Err   error
}

func (p Problem) Error() string { return p.Err.Error() }

// Key is the signing key, parsed in memory (nil when it is not readable).
func (ca CA) Key() *pki.Key { return ca.key }

// SigningChain is the signing certificate followed by the rest of Chain:
// the intermediates a peer receives with a workload certificate.
func (ca CA) SigningChain() []*x509.Certificate {
	out := []*x509.Certificate{}
	if ca.Signing != nil {
		out = append(out, ca.Signing)
	}
	for _, c := range ca.Chain {
		if ca.Signing == nil || !c.Equal(ca.Signing) {
			out = append(out, c)
		}
	}
	return out
}

// ReadCA finds the CA istiod in this cluster signs with (once per cluster).
func ReadCA(c *model.Cluster) CA {
	return c.Memo("mesh.CA", func() any { return readCA(c) }).(CA)
}

func readCA(c *model.Cluster) CA {
	external := externalCA(c)
	cacerts, hasCACerts := findSecret(c, c.IstioNamespace, CACertsSecret)
	selfSigned, hasSelfSigned := findSecret(c, c.IstioNamespace, SelfSignedSecret)
	var ca CA
	switch {
	case len(external) > 0:
		ca = CA{Source: CAExternal, External: external}
		if hasCACerts {
			ca.External = append(ca.External, fmt.Sprintf("secret %s/%s exists but istiod does not sign workload certificates with it", cacerts.Namespace, cacerts.Name))
			ca.Annotations = cacerts.Annotations
		}
		return ca
	case hasCACerts:
		if _, generated := cacerts.Data[KeyIstioGenerated]; generated {
			ca = readSelfSigned(cacerts)
		} else {
			ca = readPluggedIn(cacerts)
		}
	case hasSelfSigned:
		ca = readSelfSigned(selfSigned)
	default:
		return CA{Source: CANone}
	}
	if len(ca.Problems) > 0 {
		ca.Err = ca.Problems[0]
	}
	return ca
}

// readPluggedIn reads `cacerts` as istiod does: the kubernetes.io/tls layout
// when tls.crt exists, else Istio's; every file must exist or istiod refuses
// to start ("incomplete signing CA bundle detected", checkCABundleCompleteness).
func readPluggedIn(s model.Secret) CA {
	ca := CA{Source: CAPluggedIn, Secret: s.Namespace + "/" + s.Name, Layout: "istio", Annotations: s.Annotations}
	r := reader{s: s, ca: &ca}
	if r.withheld() {
		return ca
	}
	if _, tls := s.Data[KeyTLSCert]; tls {
		ca.Layout = "tls"
		ca.Signing = r.first(KeyTLSCert)
		ca.key = r.key(KeyTLSKey)
		ca.Roots = r.certs(KeyTLSRoot, true)
		ca.Chain = append(r.certs(KeyTLSCert, true), ca.Roots...)
		return ca
	}
	ca.Signing = r.first(KeyCACert)
	ca.key = r.key(KeyCAKey)
	ca.Roots = r.certs(KeyRootCert, true)
	ca.Chain = r.certs(KeyCertChain, true)
	return ca
}

// readSelfSigned reads istiod's own root: ca-cert.pem is both the signing
// certificate and a root, root-cert.pem may add roots
// (security/pkg/pki/ca NewSelfSignedIstioCAOptions, util.AppendRootCerts).
func readSelfSigned(s model.Secret) CA {
	ca := CA{Source: CASelfSigned, Secret: s.Namespace + "/" + s.Name, Layout: "istio", Annotations: s.Annotations}
	r := reader{s: s, ca: &ca}
	if r.withheld() {
		return ca
	}
	ca.Signing = r.first(KeyCACert)
	ca.key = r.key(KeyCAKey)
	if ca.Signing != nil {
		ca.Roots = []*x509.Certificate{ca.Signing}
	}
	if f, withheld := s.Facts[KeyRootCert]; len(s.Data[KeyRootCert]) > 0 || (withheld && !f.Kept()) {
		for _, extra := range r.certs(KeyRootCert, false) {
			if !containsCert(ca.Roots, extra) {
				ca.Roots = append(ca.Roots, extra)
			}
		}
	}
	return ca
}

type reader struct {
	s  model.Secret
	ca *CA
}

func (r reader) where(key string) string {
	return fmt.Sprintf("secret %s/%s key %s", r.s.Namespace, r.s.Name, key)
}

func (r reader) problem(key string, fatal bool, err error) {
	r.ca.Problems = append(r.ca.Problems, Problem{Key: key, Fatal: fatal, Err: err})
}

func (r reader) withheld() bool {
	if len(r.s.Data) == 0 {
		return false
	}
	for k, v := range r.s.Data {
		if _, known := r.s.Facts[k]; v != nil || known {
			return false
		}
	}
	r.ca.Withheld = true
	r.problem("", false, fmt.Errorf("secret %s/%s: the values of its keys are not in this snapshot (a dump keeps key names only)", r.s.Namespace, r.s.Name))
	return true
}

// certs parses every certificate of a key; required keys that are missing
// are reported as istiod's incomplete bundle.
func (r reader) certs(key string, required bool) []*x509.Certificate {
	data, ok := r.s.Data[key]
	if !ok {
		if required {
			r.problem(key, true, fmt.Errorf("%s is missing: istiod refuses an incomplete CA bundle (%s)", r.where(key), r.present()))
		}
		return nil
	}
	if f, known := r.s.Facts[key]; data == nil && known && !f.Kept() {
		// A bundle withheld the value: it did not parse as certificates.
		r.problem(key, true, fmt.Errorf("%s: %s", r.where(key), f.CertError))
		return nil
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		r.problem(key, true, fmt.Errorf("%s: %w", r.where(key), err))
		return nil
	}
	return certs
}

func (r reader) first(key string) *x509.Certificate {
	certs := r.certs(key, true)
	if len(certs) == 0 {
		return nil
	}
	return certs[0]
}

func (r reader) key(key string) *pki.Key {
	data, ok := r.s.Data[key]
	if !ok {
		r.problem(key, true, fmt.Errorf("%s is missing: istiod refuses an incomplete CA bundle (%s)", r.where(key), r.present()))
		return nil
	}
	if f, known := r.s.Facts[key]; data == nil && known && !f.Kept() {
		return r.keyFacts(key, f)
	}
	k, err := pki.ParsePrivateKey(data)
	if err != nil {
		r.problem(key, true, fmt.Errorf("%s: %w", r.where(key), err))
		return nil
	}
	return k
}

// keyFacts is key for a value a bundle withheld: its public half, and the
// workload certificate it issued when the bundle was written.
func (r reader) keyFacts(key string, f model.SecretFacts) *pki.Key {
	if f.PublicKey == "" {
		r.problem(key, true, fmt.Errorf("%s: %s", r.where(key), f.KeyError))
		return nil
	}
	pub, err := pki.ParsePublicKeyPEM([]byte(f.PublicKey))
	if err != nil {
		r.problem(key, true, fmt.Errorf("%s: the bundle's public half of the key does not parse: %v", r.where(key), err))
		return nil
	}
	if f.IssuedLeaf != "" {
		if leaf, err := pki.ParseCertificates([]byte(f.IssuedLeaf)); err == nil {
			r.ca.IssuedLeaf = leaf[0]
		}
	}
	return pki.PublicHalf(pub)
}

func (r reader) present() string {
	return "present: " + strings.Join(r.s.Data.Keys(), ", ")
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, l := range list {
		if l.Equal(c) {
			return true
		}
	}
	return false
}

// externalCA lists the signs that istiod hands certificate signing to
// another CA: its CA server is off (ENABLE_CA_SERVER=false, the istio-csr
// and cert-manager setups), it acts as a registration authority for the
// Kubernetes CSR API (EXTERNAL_CA), the mesh config names a CA address
// (meshConfig.ca.address), or the injector sends the proxies to another CA
// (values.global.caAddress, which becomes the proxies' CA_ADDR).
func externalCA(c *model.Cluster) []string {
	istiod, ok := findIstiod(c)
	if !ok {
		return nil
	}
	var out []string
	where := "istiod " + c.IstioNamespace + "/" + istiod.Name
	if v, ok := istiod.Env("ENABLE_CA_SERVER"); ok && strings.EqualFold(v, "false") {
		out = append(out, where+" sets ENABLE_CA_SERVER=false: it runs no CA server")
	}
	if v, ok := istiod.Env("EXTERNAL_CA"); ok && v != "" {
		out = append(out, where+" sets EXTERNAL_CA="+v+": it forwards signing requests to that CA")
	}
	if v, ok := istiod.Env("CA_ADDR"); ok && v != "" && !pointsAtIstiod(v) {
		out = append(out, where+" sets CA_ADDR="+v)
	}
	if id := Identify(c); id.Mesh != nil {
		if a := id.Mesh.GetCa().GetAddress(); a != "" {
			out = append(out, "meshConfig.ca.address is "+a+": istiod forwards workload CSRs there")
		}
	}
	if cm, ok := findConfigMap(c, c.IstioNamespace, InjectorConfigMap); ok {
		var v struct {
			Global struct {
				CAAddress string `json:"caAddress"`
			} `json:"global"`
		}
		if json.Unmarshal([]byte(cm.Data["values"]), &v) == nil && v.Global.CAAddress != "" && !pointsAtIstiod(v.Global.CAAddress) {
			out = append(out, fmt.Sprintf("values.global.caAddress in ConfigMap %s/%s is %s: the proxies ask that CA for certificates", c.IstioNamespace, InjectorConfigMap, v.Global.CAAddress))
		}
	}
	sort.Strings(out)
	return out
}

func pointsAtIstiod(addr string) bool {
	return strings.HasPrefix(addr, IstiodApp+".") || strings.HasPrefix(addr, IstiodApp+"-") || strings.HasPrefix(addr, IstiodApp+":")
}

// RootConfigMap is one istio-ca-root-cert ConfigMap as workloads read it.
type RootConfigMap struct {
	Namespace string
	Roots     []*x509.Certificate
	Err       error
}

// RootConfigMaps reads every istio-ca-root-cert ConfigMap (key root-cert.pem)
// of the cluster, ordered by namespace.
func RootConfigMaps(c *model.Cluster) []RootConfigMap {
	return c.Memo("mesh.RootConfigMaps", func() any {
		var out []RootConfigMap
		// istiod writes the same root into every namespace: parse each
		// distinct bundle once, not once per namespace.
		type parsed struct {
			roots []*x509.Certificate
			err   error
		}
		seen := map[string]parsed{}
		for _, cm := range c.ConfigMaps {
			if cm.Name != model.RootCertConfigMap {
				continue
			}
			r := RootConfigMap{Namespace: cm.Namespace}
			data, ok := cm.Data[KeyRootCert]
			if !ok {
				r.Err = fmt.Errorf("ConfigMap %s/%s has no key %s", cm.Namespace, cm.Name, KeyRootCert)
				out = append(out, r)
				continue
			}
			p, done := seen[data]
			if !done {
				p.roots, p.err = pki.ParseCertificates([]byte(data))
				seen[data] = p
			}
			r.Roots = p.roots
			if p.err != nil {
				r.Err = fmt.Errorf("ConfigMap %s/%s key %s: %w", cm.Namespace, cm.Name, KeyRootCert, p.err)
			}
			out = append(out, r)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
		return out
	}).([]RootConfigMap)
}

func findSecret(c *model.Cluster, ns, name string) (model.Secret, bool) {
	for _, s := range c.Secrets {
		if s.Namespace == ns && s.Name == name {
			return s, true
		}
	}
	return model.Secret{}, false
}

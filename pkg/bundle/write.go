package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// Write writes the bundle of a live run's fleet to w: its Secrets in bundle
// form, m completed with the files' list (m.ReadAt is the instant the run
// judged at, at which the CA keys' workload certificates are issued).
func Write(w io.Writer, f *model.Fleet, m Manifest) error {
	return WriteWith(w, f, nil, m)
}

// WriteWith is Write with the security policies read of every namespace
// of the clusters (nil: not recorded).
func WriteWith(w io.Writer, f *model.Fleet, security []model.SecurityPolicies, m Manifest) error {
	files, err := filesOf(f, security, &m)
	if err != nil {
		return err
	}
	manifest, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	mod := m.WrittenAt
	if mod.IsZero() {
		mod = time.Now()
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: Dir + "/", Mode: 0o755, ModTime: mod}); err != nil {
		return err
	}
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: Dir + "/" + name, Mode: 0o644, Size: int64(len(b)), ModTime: mod}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	// The manifest first: a reader learns the format before anything else.
	if err := put(ManifestFile, manifest); err != nil {
		return err
	}
	for _, name := range fileOrder(m) {
		if err := put(name, files[name]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// fileOrder lists the files in the order they are written.
func fileOrder(m Manifest) []string {
	var out []string
	for _, c := range m.Contexts {
		out = append(out, c.File)
	}
	for _, name := range []string{ProbesFile, AWSNetworkFile, AWSPrivateCAFile, SecurityFile} {
		if _, ok := m.Files[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// Files renders the bundle's files but the manifest, and fills in m's
// Kind, FormatVersion, Contexts' files, IstioNamespace, Kubeconfig and
// Files.
func Files(f *model.Fleet, m *Manifest) (map[string][]byte, error) {
	return filesOf(f, nil, m)
}

func filesOf(f *model.Fleet, security []model.SecurityPolicies, m *Manifest) (map[string][]byte, error) {
	m.Kind, m.FormatVersion = Kind, FormatVersion
	m.IstioNamespace, m.Kubeconfig = f.IstioNamespace, f.Kubeconfig
	m.Files = map[string]string{}
	files := map[string][]byte{}
	add := func(name string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files[name] = b
		sum := sha256.Sum256(b)
		m.Files[name] = hex.EncodeToString(sum[:])
		return nil
	}
	reasons := map[string]string{}
	for _, c := range m.Contexts {
		reasons[c.Context] = c.Reason
	}
	leaves := issuedLeaves(f, m.ReadAt)
	m.Contexts = nil
	for i, c := range f.Clusters {
		name := fmt.Sprintf("%s/%02d.json", clustersDir, i+1)
		m.Contexts = append(m.Contexts, ContextEntry{Context: c.Context, Reason: reasons[c.Context], File: name})
		if err := add(name, bundleCluster(c, leaves[c.Context])); err != nil {
			return nil, err
		}
	}
	if f.Probes != nil {
		if m.Probes == nil {
			m.Probes = &ProbesEntry{From: f.Probes.From, ObservedAt: m.WrittenAt}
		}
		if err := add(ProbesFile, f.Probes); err != nil {
			return nil, err
		}
	}
	if f.AWSNetwork != nil {
		if err := add(AWSNetworkFile, f.AWSNetwork); err != nil {
			return nil, err
		}
	}
	if f.AWSPrivateCA != nil {
		if err := add(AWSPrivateCAFile, f.AWSPrivateCA); err != nil {
			return nil, err
		}
	}
	if security != nil {
		if err := add(SecurityFile, security); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// bundleCluster is a copy of c whose Secrets are in bundle form; leaves
// maps "namespace/name" of a CA secret to its signing key's data key and
// the workload certificate that key issued.
func bundleCluster(c *model.Cluster, leaves map[string]map[string]string) *model.Cluster {
	out := c.Unmemoized()
	out.Secrets = make([]model.Secret, len(c.Secrets))
	for i, s := range c.Secrets {
		out.Secrets[i] = bundleSecret(s, leaves[s.Namespace+"/"+s.Name])
	}
	return out
}

// issuedLeaves issues, with each cluster's CA key that matches its signing
// certificate, the workload certificate the trust matrix would issue at
// `at` (trust.BuildMatrix), and keeps the certificate only: a bundle holds
// no key, and offline the matrix verifies this certificate where it would
// have issued one. By context, then CA secret, then data key.
func issuedLeaves(f *model.Fleet, at time.Time) map[string]map[string]map[string]string {
	out := map[string]map[string]map[string]string{}
	for _, p := range trust.Peers(f) {
		ca := p.CA
		key := ca.Key()
		if ca.Secret == "" || ca.Signing == nil || key == nil || !key.CanSign() || !key.Matches(ca.Signing) {
			continue
		}
		leaf, err := pki.IssueStandInLeaf(ca.Signing, key, pki.SPIFFEID(p.TrustDomain, "default", "default"), at)
		if err != nil {
			continue // the matrix says why from the bundle as it would live
		}
		keyName := mesh.KeyCAKey
		if ca.Layout == "tls" {
			keyName = mesh.KeyTLSKey
		}
		if out[p.Context] == nil {
			out[p.Context] = map[string]map[string]string{}
		}
		out[p.Context][ca.Secret] = map[string]string{keyName: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))}
	}
	return out
}

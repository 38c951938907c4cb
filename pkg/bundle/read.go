package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Why a file is not read as a bundle; Read's errors wrap one of them.
var (
	// ErrForeign: the file is not a bundle (not gzip, not tar, no
	// manifest, or a manifest of another kind).
	ErrForeign = errors.New("not a kubectl-meshfed bundle")
	// ErrTruncated: the archive ends early, or a file is missing or
	// differs from the manifest's checksum.
	ErrTruncated = errors.New("truncated or altered bundle")
	// ErrNewer: written in a format version this tool does not know.
	ErrNewer = errors.New("bundle of a newer format")
)

// maxFile bounds one file of a bundle (a cluster of 10,000 services is a
// few megabytes), so that a hostile archive cannot make the reader hold
// gigabytes.
const maxFile = 1 << 30

// ReadFile reads the bundle at path.
func ReadFile(path string) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b.Path = path
	return b, nil
}

// Read reads a bundle: all of it, checked against its manifest, or an
// error wrapping ErrForeign, ErrTruncated or ErrNewer. Nothing is returned
// of a bundle that is not whole.
func Read(r io.Reader) (*Bundle, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file ends before its gzip header", ErrTruncated)
		}
		return nil, fmt.Errorf("%w: not gzip-compressed (%v)", ErrForeign, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for first := true; ; first = false {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if first && !errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: not a tar archive (%v)", ErrForeign, err)
			}
			return nil, fmt.Errorf("%w: %v", ErrTruncated, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name, ok := strings.CutPrefix(h.Name, Dir+"/")
		if !ok {
			return nil, fmt.Errorf("%w: it holds %s, outside %s/", ErrForeign, h.Name, Dir)
		}
		if h.Size > maxFile {
			return nil, fmt.Errorf("%w: %s is %d bytes", ErrForeign, h.Name, h.Size)
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxFile))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrTruncated, h.Name, err)
		}
		files[name] = b
	}
	// A gzip stream cut between tar blocks reads as an early end.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	return decodeFiles(files)
}

func decodeFiles(files map[string][]byte) (*Bundle, error) {
	raw, ok := files[ManifestFile]
	if !ok {
		return nil, fmt.Errorf("%w: no %s/%s", ErrForeign, Dir, ManifestFile)
	}
	// The kind and version first, leniently: a newer manifest may have
	// fields this tool does not know.
	var head struct {
		Kind          string `json:"kind"`
		FormatVersion int    `json:"formatVersion"`
		Tool          Tool   `json:"tool"`
	}
	if err := yaml.Unmarshal(raw, &head); err != nil || head.Kind != Kind {
		return nil, fmt.Errorf("%w: %s is not a %s manifest", ErrForeign, ManifestFile, Kind)
	}
	switch {
	case head.FormatVersion > FormatVersion:
		return nil, fmt.Errorf("%w: format version %d (written by kubectl-meshfed %s); this kubectl-meshfed reads versions up to %d: use a newer kubectl-meshfed",
			ErrNewer, head.FormatVersion, head.Tool.Version, FormatVersion)
	case head.FormatVersion < 1:
		return nil, fmt.Errorf("%w: format version %d", ErrForeign, head.FormatVersion)
	}
	var m Manifest
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrForeign, ManifestFile, err)
	}
	for name, want := range m.Files {
		b, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s is missing", ErrTruncated, name)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != want {
			return nil, fmt.Errorf("%w: %s does not match the manifest's checksum", ErrTruncated, name)
		}
	}
	f := &model.Fleet{IstioNamespace: m.IstioNamespace, Kubeconfig: m.Kubeconfig}
	for _, c := range m.Contexts {
		if _, listed := m.Files[c.File]; !listed {
			return nil, fmt.Errorf("%w: the manifest names %s for %s without its checksum", ErrForeign, c.File, c.Context)
		}
		cl := &model.Cluster{}
		if err := decode(files[c.File], cl); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrForeign, c.File, err)
		}
		if cl.Context != c.Context {
			return nil, fmt.Errorf("%w: %s holds context %q, the manifest says %q", ErrForeign, c.File, cl.Context, c.Context)
		}
		restoreSecrets(cl)
		f.Clusters = append(f.Clusters, cl)
	}
	optional := []struct {
		name string
		into func() any
	}{
		{ProbesFile, func() any { f.Probes = &model.Probes{}; return f.Probes }},
		{AWSNetworkFile, func() any { f.AWSNetwork = &model.AWSNetwork{}; return f.AWSNetwork }},
		{AWSPrivateCAFile, func() any { f.AWSPrivateCA = &model.AWSPrivateCA{}; return f.AWSPrivateCA }},
	}
	for _, o := range optional {
		if _, ok := m.Files[o.name]; !ok {
			continue
		}
		if err := decode(files[o.name], o.into()); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrForeign, o.name, err)
		}
	}
	b := &Bundle{Manifest: m, Fleet: f}
	if _, ok := m.Files[SecurityFile]; ok {
		var security []model.SecurityPolicies
		if err := decode(files[SecurityFile], &security); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrForeign, SecurityFile, err)
		}
		b.Security = map[string]model.SecurityPolicies{}
		for _, p := range security {
			b.Security[p.Context] = p
		}
	}
	return b, nil
}

// decode reads one JSON file strictly: a field this version does not know
// means the file is not what its version says.
func decode(b []byte, into any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(into)
}

// restoreSecrets puts back the values a bundle keeps (certificates, empty
// values, redacted kubeconfigs); the others stay nil, and their Facts
// say what is known of them.
func restoreSecrets(c *model.Cluster) {
	for i := range c.Secrets {
		s := &c.Secrets[i]
		for k, f := range s.Facts {
			if f.Kept() {
				if s.Data == nil {
					s.Data = model.SecretData{}
				}
				s.Data[k] = []byte(f.Public)
			}
		}
	}
}

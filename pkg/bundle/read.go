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
//
// The manifest comes first in a bundle (Write puts it there), so each
// file after it is decoded as it streams out of the archive, its checksum
// taken on the way: a cluster's raw JSON is never held beside its decoded
// projection, and nothing of one cluster's file outlives its decoding
// (at 50 clusters × 10,000 services that was most of the reader's
// memory). A file before the manifest (an archive not written by Write) is
// held and decoded after it. Decoded files are used only once every
// checksum has matched.
func Read(r io.Reader) (*Bundle, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the file ends before its gzip header", ErrTruncated)
		}
		return nil, fmt.Errorf("%w: not gzip-compressed (%v)", ErrForeign, err)
	}
	var (
		m       *Manifest
		early   = map[string][]byte{} // files met before the manifest
		sums    = map[string]string{} // file → SHA-256 as read
		decoded = map[string]any{}    // file → what it decoded into
	)
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
		body := io.LimitReader(tr, maxFile)
		if name == ManifestFile || m == nil {
			b, err := io.ReadAll(body)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrTruncated, h.Name, err)
			}
			if name != ManifestFile {
				early[name] = b
				continue
			}
			if m, err = readManifest(b); err != nil {
				return nil, err
			}
			for name, b := range early {
				if err := decodeFile(*m, name, bytes.NewReader(b), sums, decoded); err != nil {
					return nil, err
				}
			}
			early = nil
			continue
		}
		if err := decodeFile(*m, name, body, sums, decoded); err != nil {
			return nil, err
		}
	}
	// A gzip stream cut between tar blocks reads as an early end.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTruncated, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: no %s/%s", ErrForeign, Dir, ManifestFile)
	}
	return assemble(*m, sums, decoded)
}

// readManifest parses the manifest: its kind and version first,
// leniently (a newer manifest may have fields this tool does not know),
// then strictly.
func readManifest(raw []byte) (*Manifest, error) {
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
	for _, c := range m.Contexts {
		if _, listed := m.Files[c.File]; !listed {
			return nil, fmt.Errorf("%w: the manifest names %s for %s without its checksum", ErrForeign, c.File, c.Context)
		}
	}
	return &m, nil
}

// decodeFile decodes one file of the bundle as it is read (a cluster's
// projection, or one of the optional files this version knows), taking
// its SHA-256 on the way; any other file is only summed. A file that does
// not decode is altered (ErrTruncated) when its checksum differs from the
// manifest's, else not what its version says (ErrForeign).
func decodeFile(m Manifest, name string, r io.Reader, sums map[string]string, decoded map[string]any) error {
	into := newValue(m, name)
	h := sha256.New()
	r = io.TeeReader(r, h)
	var decodeErr error
	if into != nil {
		decodeErr = decode(r, into)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("%w: %s/%s: %v", ErrTruncated, Dir, name, err)
	}
	sums[name] = hex.EncodeToString(h.Sum(nil))
	if want, listed := m.Files[name]; listed && want != sums[name] {
		return fmt.Errorf("%w: %s does not match the manifest's checksum", ErrTruncated, name)
	}
	if decodeErr != nil {
		return fmt.Errorf("%w: %s: %v", ErrForeign, name, decodeErr)
	}
	if into != nil {
		decoded[name] = into
	}
	return nil
}

// newValue is what file name decodes into (nil: a file this version does
// not read, or one the manifest does not list).
func newValue(m Manifest, name string) any {
	if _, listed := m.Files[name]; !listed {
		return nil
	}
	for _, c := range m.Contexts {
		if c.File == name {
			return &model.Cluster{}
		}
	}
	switch name {
	case ProbesFile:
		return &model.Probes{}
	case AWSNetworkFile:
		return &model.AWSNetwork{}
	case AWSPrivateCAFile:
		return &model.AWSPrivateCA{}
	case SecurityFile:
		return &[]model.SecurityPolicies{}
	}
	return nil
}

// assemble makes the bundle of the decoded files, once every file the
// manifest lists was read with its checksum.
func assemble(m Manifest, sums map[string]string, decoded map[string]any) (*Bundle, error) {
	for name, want := range m.Files {
		got, ok := sums[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s is missing", ErrTruncated, name)
		}
		if got != want {
			return nil, fmt.Errorf("%w: %s does not match the manifest's checksum", ErrTruncated, name)
		}
	}
	f := &model.Fleet{IstioNamespace: m.IstioNamespace, Kubeconfig: m.Kubeconfig}
	for _, c := range m.Contexts {
		cl := decoded[c.File].(*model.Cluster)
		if cl.Context != c.Context {
			return nil, fmt.Errorf("%w: %s holds context %q, the manifest says %q", ErrForeign, c.File, cl.Context, c.Context)
		}
		restoreSecrets(cl)
		f.Clusters = append(f.Clusters, cl)
	}
	if v, ok := decoded[ProbesFile]; ok {
		f.Probes = v.(*model.Probes)
	}
	if v, ok := decoded[AWSNetworkFile]; ok {
		f.AWSNetwork = v.(*model.AWSNetwork)
	}
	if v, ok := decoded[AWSPrivateCAFile]; ok {
		f.AWSPrivateCA = v.(*model.AWSPrivateCA)
	}
	b := &Bundle{Manifest: m, Fleet: f}
	if v, ok := decoded[SecurityFile]; ok {
		b.Security = map[string]model.SecurityPolicies{}
		for _, p := range *v.(*[]model.SecurityPolicies) {
			b.Security[p.Context] = p
		}
	}
	return b, nil
}

// decode reads one JSON file strictly: a field this version does not know
// means the file is not what its version says.
func decode(r io.Reader, into any) error {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	if err := d.Decode(into); err != nil {
		return err
	}
	// One value per file: anything after it but space is not a bundle's.
	var extra json.RawMessage
	if err := d.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the file's JSON value")
	}
	return nil
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

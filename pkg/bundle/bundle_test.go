package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// judge runs every check at now, and builds the trust matrix, as the
// doctor does; the JSON of both is what a report carries.
func judge(t *testing.T, f *model.Fleet, now time.Time) string {
	t.Helper()
	opts := all.DefaultOptions()
	opts.Trust.Now = now
	res := checks.Run(f, all.RegistryWith(opts), checks.Selection{})
	m := trust.BuildMatrix(f, trust.Options{Now: now})
	b, err := json.MarshalIndent(struct {
		Findings []checks.Finding
		Checks   []checks.CheckResult
		Trust    model.TrustMatrix
	}{res.Findings, res.Checks, m}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func roundTrip(t *testing.T, f *model.Fleet, now time.Time) *Bundle {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, f, Manifest{ReadAt: now, WrittenAt: now, Tool: Tool{Version: "test"}}); err != nil {
		t.Fatal(err)
	}
	b, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every fixture of the checks' meta-tests (passing and failing, each
// check's) judged from its bundle gives exactly the findings, check results
// and trust matrix it gives as read: the bundle holds what the checks need,
// private keys and credentials included only as facts.
func TestFixturesJudgeTheSameFromABundle(t *testing.T) {
	dirs, err := filepath.Glob("../checks/all/testdata/MF*/*")
	if err != nil || len(dirs) < 100 {
		t.Fatalf("fixtures: %d, %v", len(dirs), err)
	}
	now := time.Now()
	for _, dir := range dirs {
		t.Run(strings.TrimPrefix(dir, "../checks/all/testdata/"), func(t *testing.T) {
			live, err := fleet.LoadDir(dir, "istio-system")
			if err != nil {
				t.Fatal(err)
			}
			want := judge(t, live, now)
			again, err := fleet.LoadDir(dir, "istio-system") // nothing memoized
			if err != nil {
				t.Fatal(err)
			}
			b := roundTrip(t, again, now)
			if got := judge(t, b.Fleet, now); got != want {
				t.Errorf("from the bundle:\n%s\nas read:\n%s", got, want)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	live, err := fleet.LoadDir("../checks/all/testdata/MF2001/fail-two-roots", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if err := Write(&good, live, Manifest{ReadAt: time.Now(), Tool: Tool{Version: "test"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty", nil, ErrTruncated},
		{"truncated at half", good.Bytes()[:good.Len()/2], ErrTruncated},
		{"truncated near the end", good.Bytes()[:good.Len()-10], ErrTruncated},
		{"plain text", []byte("apiVersion: v1\nkind: List\n"), ErrForeign},
		{"a tar.gz of something else", tarGz(t, map[string]string{"etc/hosts": "127.0.0.1 localhost\n"}), ErrForeign},
		{"a manifest of another kind", tarGz(t, map[string]string{Dir + "/" + ManifestFile: "kind: Other\nformatVersion: 1\n"}), ErrForeign},
		{"a newer format", tarGz(t, map[string]string{Dir + "/" + ManifestFile: "kind: MeshfedBundle\nformatVersion: 2\ntool: {version: v9.0.0}\nsomethingNew: true\n"}), ErrNewer},
		{"a file missing", tarGz(t, map[string]string{Dir + "/" + ManifestFile: "kind: MeshfedBundle\nformatVersion: 1\ntool: {version: x}\nreadAt: null\nwrittenAt: null\ncontexts: [{context: east, file: clusters/01.json}]\nistioNamespace: istio-system\nfiles: {clusters/01.json: abc}\n"}), ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Read(bytes.NewReader(tc.input))
			if !errors.Is(err, tc.want) || b != nil {
				t.Errorf("Read: %v (bundle %v), want %v and no bundle", err, b != nil, tc.want)
			}
		})
	}
	// Every cut of the archive is refused, never read as a smaller bundle.
	for n := 0; n < good.Len(); n += max(1, good.Len()/97) {
		if b, err := Read(bytes.NewReader(good.Bytes()[:n])); err == nil || b != nil {
			t.Fatalf("the first %d of %d bytes read as a bundle", n, good.Len())
		}
	}
}

func TestMergeTakesTheNewestReading(t *testing.T) {
	older, err := fleet.LoadDir("../checks/all/testdata/MF4001/fail-missing", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	newer, err := fleet.LoadDir("../checks/all/testdata/MF4001/pass-both-ways", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a, b := roundTrip(t, older, t0), roundTrip(t, newer, t0.Add(time.Hour))
	a.Path, b.Path = "old.tar.gz", "new.tar.gz"
	m, err := Merge([]*Bundle{b, a}, t0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m.Offline.JudgedAt != t0.Add(time.Hour) {
		t.Errorf("judged at %v, want the newest run's start", m.Offline.JudgedAt)
	}
	for _, c := range m.Fleet.Clusters {
		if c != b.Fleet.Cluster(c.Context) {
			t.Errorf("%s taken from the older bundle", c.Context)
		}
	}
	if got := m.Offline.Bundles[1]; len(got.Contexts) != 0 || len(got.Superseded) != len(a.Fleet.Clusters) || got.Age != "3h0m" {
		t.Errorf("older bundle's account %+v: want every cluster superseded, 3h0m old", got)
	}
	for _, ch := range m.Chosen {
		if !strings.Contains(ch.Reason, "new.tar.gz") || !strings.Contains(ch.Reason, "old.tar.gz holds an older reading") {
			t.Errorf("%s: reason %q does not say which bundle won and which was passed over", ch.Context, ch.Reason)
		}
	}
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Markers seeded into every Secret of fixture fleets (a remote secret's
// kubeconfig: a second user with every credential; a private key: a line
// before its PEM block; every Secret: an opaque value) are nowhere in their
// bundles, nor is any line of a private key's PEM body.
func TestNoSecretEntersABundle(t *testing.T) {
	dirs, err := filepath.Glob("../checks/all/testdata/MF*/*")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	n := 0
	for _, dir := range dirs {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		var markers, keys []string
		var public []byte // certificates: an EC key's public point may line up with a line of its key
		for _, c := range f.Clusters {
			for _, s := range c.Secrets {
				for _, v := range s.Data {
					if !bytes.Contains(v, []byte("PRIVATE KEY")) {
						public = append(public, v...)
					}
				}
			}
		}
		for _, c := range f.Clusters {
			for i := range c.Secrets {
				s := &c.Secrets[i]
				for k, v := range s.Data {
					m := fmt.Sprintf("MARKER-%d-%s-%s-%s", n, c.Context, s.Name, k)
					n++
					switch {
					case bytes.Contains(v, []byte("PRIVATE KEY-----")):
						keys = append(keys, string(v))
						s.Data[k] = append([]byte(m+"\n"), v...)
						markers = append(markers, m)
					case bytes.Contains(v, []byte("current-context")):
						if marked, ok := markedKubeconfig(v, m); ok {
							s.Data[k] = marked
							markers = append(markers, m)
						}
					}
				}
				m := fmt.Sprintf("MARKER-%d-%s-%s-opaque", n, c.Context, s.Name)
				n++
				if s.Data == nil {
					s.Data = model.SecretData{}
				}
				s.Data["zz-marker"] = []byte(m)
				markers = append(markers, m)
			}
		}
		var buf bytes.Buffer
		if err := Write(&buf, f, Manifest{ReadAt: now}); err != nil {
			t.Fatal(err)
		}
		gz, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(gz)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markers {
			if bytes.Contains(raw, []byte(m)) {
				t.Errorf("%s: the bundle holds %s", dir, m)
			}
		}
		for _, k := range keys {
			for _, line := range strings.Split(k, "\n") {
				if len(line) > 20 && !strings.HasPrefix(line, "-----") && bytes.Contains(raw, []byte(line)) && !bytes.Contains(public, []byte(line)) {
					i := bytes.Index(raw, []byte(line))
					t.Errorf("%s: the bundle holds a line of a private key: %q in %q", dir, line, raw[max(0, i-300):i+len(line)])
				}
			}
		}
	}
	if n < 300 {
		t.Errorf("only %d markers seeded", n)
	}
}

// markedKubeconfig adds a user, unused by the current context, whose every
// credential is marker.
func markedKubeconfig(v []byte, marker string) ([]byte, bool) {
	cfg, _, err := clientcmdlatest.Codec.Decode(v, nil, clientcmdapi.NewConfig())
	if err != nil {
		return nil, false
	}
	c := cfg.(*clientcmdapi.Config)
	c.AuthInfos["marked"] = &clientcmdapi.AuthInfo{Token: marker, Password: marker, ClientKeyData: []byte(marker),
		AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "x", Config: map[string]string{"secret": marker}},
		Exec:         &clientcmdapi.ExecConfig{Command: "x", Args: []string{marker}, Env: []clientcmdapi.ExecEnvVar{{Name: "T", Value: marker}}}}
	out, err := runtime.Encode(clientcmdlatest.Codec, c)
	return out, err == nil
}

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// A marker is seeded into every Secret the doctor reads in a lab: into the
// CA key of cacerts (a line before its PEM block, which PEM readers, istiod's
// and ours, skip), as a second user of every remote secret's kubeconfig
// (token, password, client key, exec argument and environment), as a data
// key of every other Secret of Istio's namespace, and in an Opaque Secret
// of its own and a remote-secret look-alike in another namespace. The whole
// bundle, decompressed, must hold none of them, nor any secret value the lab
// holds (its tokens and keys), in clear or base64; and it must hold what it
// may: the secrets' key names and the CA certificates.
func TestDumpHoldsNoSecret(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	ctx := context.Background()
	var markers []string
	mark := func(where string) string {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		m := "MESHFED-MARKER-" + hex.EncodeToString(b) + "-" + where
		markers = append(markers, m)
		return m
	}
	for _, c := range l.Contexts() {
		client := l.Client(c)
		secrets, err := client.CoreV1().Secrets("istio-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets.Items {
			s := s
			switch {
			case s.Name == "cacerts":
				s.Data["ca-key.pem"] = append([]byte(mark(c+"-cacerts-key")+"\n"), s.Data["ca-key.pem"]...)
			case s.Labels["istio/multiCluster"] == "true":
				for k, v := range s.Data {
					s.Data[k] = withMarkedUser(t, v, mark(c+"-remote-"+k))
				}
			default:
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data["meshfed-marker"] = []byte(mark(c + "-" + s.Name))
			}
			if _, err := client.CoreV1().Secrets("istio-system").Update(ctx, &s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-credentials", Namespace: "istio-system"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"password": []byte(mark(c + "-opaque")), "api-key": []byte(mark(c + "-opaque-2"))}}
		lookalike := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "istio-remote-secret-elsewhere", Namespace: "default",
			Labels: map[string]string{"istio/multiCluster": "true"}}, Data: map[string][]byte{"elsewhere": []byte(mark(c + "-lookalike"))}}
		for _, s := range []*corev1.Secret{opaque, lookalike} {
			if _, err := client.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}

	path := filepath.Join(t.TempDir(), "mesh.tar.gz")
	if _, stderr, code := labtest.Run(t, l, "dump", "--contexts", strings.Join(l.Contexts(), ","), "-o", path); code != 0 {
		t.Fatalf("dump: exit %d\n%s", code, stderr)
	}
	raw := decompressed(t, path)
	secrets := append(append([]string(nil), markers...), labtest.Secrets(t, l)...)
	// The certificates, public: an EC key's PEM holds its public point,
	// which may line up with a line of its certificate's PEM.
	var public []byte
	for _, c := range l.Contexts() {
		list, err := l.Client(c).CoreV1().Secrets("istio-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Items {
			for _, v := range s.Data {
				if !bytes.Contains(v, []byte("PRIVATE KEY")) {
					public = append(public, v...)
				}
			}
		}
	}
	for _, s := range secrets {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
			if len(form) >= 12 && bytes.Contains(raw, []byte(form)) {
				t.Errorf("the bundle holds a secret value (%.40s…)", form)
			}
		}
		// A PEM key's body, line by line: no line of it may be there. (A
		// whole kubeconfig's lines may: its server and CA are public, and
		// its tokens are among the values looked for on their own.)
		if !strings.Contains(s, "PRIVATE KEY") {
			continue
		}
		for _, line := range strings.Split(s, "\n") {
			if len(line) >= 40 && !strings.HasPrefix(line, "-----") && bytes.Contains(raw, []byte(line)) && !bytes.Contains(public, []byte(line)) {
				t.Errorf("the bundle holds a line of a secret value (%.40s…)", line)
			}
		}
	}
	// What it may hold is there: the key names, and a CA certificate.
	cacerts, err := l.Client(l.Contexts()[0]).CoreV1().Secrets("istio-system").Get(ctx, "cacerts", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := json.Marshal(string(cacerts.Data["ca-cert.pem"]))
	for _, want := range [][]byte{[]byte(`"meshfed-marker"`), []byte(`"app-credentials"`), []byte(`"istio-remote-secret-elsewhere"`), cert[1 : len(cert)-1]} {
		if !bytes.Contains(raw, want) {
			t.Errorf("the bundle lacks %.60s: the secrets were not read, or not kept as they should be", want)
		}
	}
	// And it is still judged: the keys' facts are enough for the trust checks.
	out, stderr, code := labtest.Run(t, l, "doctor", "--from", path, "-o", "json", "--checks", "trust")
	r := parseReport(t, out)
	if code != 0 || len(r.Findings) != 0 {
		t.Errorf("doctor --from on the marked lab's bundle: exit %d, findings %v; want 0 and none\n%s", code, keys(r.Findings), stderr)
	}
}

// withMarkedUser adds to a kubeconfig a user (unused by its context) whose
// every credential is the marker.
func withMarkedUser(t *testing.T, kubeconfig []byte, marker string) []byte {
	t.Helper()
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo].DeepCopy()
	u.Token, u.Password, u.Username, u.ClientKeyData = marker, marker, "someone", []byte(marker)
	cfg.AuthInfos["marked"] = u
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decompressed is the bundle's tar stream: every file's bytes in clear.
func decompressed(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// doctor --bundle gives the report the live doctor gives on the same
// lab: the same findings, check results and trust matrix, on a healthy mesh
// and two broken ones; the live-only results are marked as observed when
// the bundle was written. Bad bundles fail with exit 3 and no report.
func TestDoctorFromBundleIsTheLiveReport(t *testing.T) {
	// The finding each scenario plants, which the comparison must include.
	planted := map[string]string{"multi-primary": "", "missing-remote-secret": "MF4001", "different-roots": "MF2001"}
	for _, scenario := range []string{"multi-primary", "missing-remote-secret", "different-roots"} {
		t.Run(scenario, func(t *testing.T) {
			l := labtest.Start(t, scenario, 2)
			contexts := strings.Join(l.Contexts(), ",")
			dir := t.TempDir()
			path := filepath.Join(dir, "mesh.tar.gz")
			if _, stderr, code := labtest.Run(t, l, "dump", "--contexts", contexts, "-o", path); code != 0 {
				t.Fatalf("dump: exit %d\n%s", code, stderr)
			}
			liveOut, _, liveCode := labtest.Run(t, l, "doctor", "--contexts", contexts, "-o", "json")
			fromOut, stderr, fromCode := labtest.Run(t, l, "doctor", "--bundle", path, "-o", "json")
			requireSchema(t, fromOut)
			// Not a comparison of two empty reports: the planted fault is
			// found, and the trust matrix issued leaves (from the bundle,
			// the stand-ins its CA keys issued when it was written).
			lr := parseReport(t, liveOut)
			found := map[string]bool{}
			for _, f := range lr.Findings {
				found[f.Check] = true
			}
			if want := planted[scenario]; (want == "") != (len(lr.Findings) == 0) || (want != "" && !found[want]) {
				t.Errorf("live findings %v, want %q", keys(lr.Findings), want)
			}
			if !strings.Contains(fromOut, `"method": "issued leaf"`) && !strings.Contains(fromOut, `"method":"issued leaf"`) {
				t.Errorf("the trust matrix from the bundle issued no leaf:\n%s", fromOut)
			}
			live, from := comparable(t, liveOut), comparable(t, fromOut)
			if fromCode != liveCode || !reflect.DeepEqual(live, from) {
				t.Errorf("doctor --from: exit %d, live: exit %d; reports differ:\nfrom the bundle: %s\nlive: %s\nstderr: %s", fromCode, liveCode, from, live, stderr)
			}
			var marked struct {
				Offline struct {
					LiveResults string `json:"liveResults"`
					Bundles     []struct {
						File     string   `json:"file"`
						Age      string   `json:"age"`
						Contexts []string `json:"contexts"`
					} `json:"bundles"`
				} `json:"offline"`
				Reachability struct {
					From string `json:"from"`
				} `json:"reachability"`
			}
			if err := json.Unmarshal([]byte(fromOut), &marked); err != nil {
				t.Fatal(err)
			}
			if o := marked.Offline; !strings.Contains(o.LiveResults, "from the bundle, observed at") || len(o.Bundles) != 1 ||
				o.Bundles[0].File != path || o.Bundles[0].Age == "" || len(o.Bundles[0].Contexts) != 2 {
				t.Errorf("-o json does not account for the bundle: %+v", o)
			}
			if !strings.Contains(marked.Reachability.From, "from the bundle, observed at") {
				t.Errorf("reachability from %q: not marked as observed when the bundle was written", marked.Reachability.From)
			}
			// --from FILE, the alias of --bundle, reads the same bundle.
			text, _, _ := labtest.Run(t, l, "doctor", "--from", path)
			if !strings.Contains(text, "From bundles") || !strings.Contains(text, "Live results: ") {
				t.Errorf("text report does not say it comes from a bundle:\n%s", text)
			}
			// -o wide shows the gateway probes, marked as observed then.
			wide, _, _ := labtest.Run(t, l, "doctor", "--bundle", path, "-o", "wide")
			if !strings.Contains(wide, "From bundles") || !strings.Contains(wide, "from the bundle, observed at") {
				t.Errorf("-o wide does not say it comes from a bundle:\n%s", wide)
			}
			topo, _, code := labtest.Run(t, l, "topology", "--bundle", path, "-o", "json")
			liveTopo, _, _ := labtest.Run(t, l, "topology", "--contexts", contexts, "-o", "json")
			if code != 0 || !reflect.DeepEqual(networks(t, topo), networks(t, liveTopo)) {
				t.Errorf("topology --from: exit %d, %s; live: %s", code, networks(t, topo), networks(t, liveTopo))
			}

			if scenario != "multi-primary" {
				return
			}
			// One bundle per cluster, merged: each cluster from its own.
			var args []string
			for _, c := range l.Contexts() {
				p := filepath.Join(dir, c+".tar.gz")
				if _, stderr, code := labtest.Run(t, l, "dump", "--contexts", c, "-o", p); code != 0 {
					t.Fatalf("dump --contexts %s: exit %d\n%s", c, code, stderr)
				}
				args = append(args, "--bundle", p)
			}
			out, stderr, code := labtest.Run(t, l, append([]string{"doctor", "-o", "json"}, args...)...)
			r := parseReport(t, out)
			if code == 3 || len(r.Clusters) != 2 {
				t.Fatalf("doctor on two one-cluster bundles: exit %d, %d clusters\n%s", code, len(r.Clusters), stderr)
			}
			for _, c := range l.Contexts() {
				if !strings.Contains(stderr, c+".tar.gz") {
					t.Errorf("stderr does not say %s came from its bundle:\n%s", c, stderr)
				}
			}
			// The whole mesh's bundle is newer than neither: the one-cluster
			// bundles, newer, win over it, and that is said.
			_, stderr, _ = labtest.Run(t, l, append([]string{"doctor", "--bundle", path}, args...)...)
			if !strings.Contains(stderr, "holds an older reading of it") {
				t.Errorf("a cluster in two bundles: stderr does not say the newer reading is used:\n%s", stderr)
			}

			// Bad input: clear errors, exit 3, nothing on stdout.
			whole, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := map[string][]byte{
				"truncated.tar.gz": whole[:len(whole)*2/3],
				"foreign.tar.gz":   []byte("not a bundle at all\n"),
			}
			for name, b := range bad {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				out, stderr, code := labtest.Run(t, l, "doctor", "--bundle", path, "--bundle", p)
				if code != 3 || out != "" || !strings.Contains(stderr, p) {
					t.Errorf("doctor --from %s: exit %d, stdout %q, stderr %q; want 3, nothing on stdout, the file named", name, code, out, stderr)
				}
			}
		})
	}
}

// comparable is what a report must share with another of the same fleet:
// the clusters, findings, check results and summary and the trust matrix's
// verdicts, not how the contexts were chosen, nor where and when the
// probes ran, nor the instant certificates were judged at.
func comparable(t *testing.T, out string) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"selection", "offline"} {
		delete(doc, k)
	}
	if r, ok := doc["reachability"].(map[string]any); ok {
		delete(r, "from")
	}
	if tr, ok := doc["trust"].(map[string]any); ok {
		delete(tr, "at")
	}
	b, _ := json.MarshalIndent(doc, "", " ")
	return string(b)
}

// networks is the topology's networks (their clusters and gateways) and
// discovery edges, as JSON.
func networks(t *testing.T, out string) string {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b, _ := json.Marshal([]any{doc["networks"], doc["edges"]})
	return string(b)
}

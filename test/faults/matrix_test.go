package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

var update = flag.Bool("update", false, "rewrite docs/faults.md from Rows")

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.Cleanup()
	os.Exit(code)
}

// TestFaultsDoc keeps docs/faults.md equal to the rows the matrix runs.
func TestFaultsDoc(t *testing.T) {
	root, err := lab.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "faults.md")
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/faults.md is stale: go test ./test/faults -run TestFaultsDoc -update")
	}
}

// faulty is the context every row's fault is on.
const faulty = "faulty"

// setup plants a row's fault: it returns the kubeconfig to run with, the
// contexts to read and any extra arguments.
type setup func(t *testing.T, env *labEnv) (kubeconfig string, contexts []string, extra []string)

// labEnv is the shared two-cluster lab of the matrix.
type labEnv struct {
	l        *lab.Lab
	a, b     string // its contexts
	canaries []string
}

// secrets lists what must never be printed: the lab's admin keys, the
// tokens of its remote secrets, and every canary a row planted.
func (e *labEnv) secrets(t *testing.T) []string {
	out := append([]string(nil), e.canaries...)
	out = append(out, "PRIVATE KEY")
	for _, c := range []string{e.a, e.b} {
		cfg := e.l.RESTConfig(c)
		for _, line := range strings.Split(string(cfg.KeyData), "\n") {
			if len(line) > 40 && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
		list, err := e.l.Client(c).CoreV1().Secrets("istio-system").List(context.Background(), metav1.ListOptions{LabelSelector: multiClusterLabel + "=true"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Items {
			for _, v := range s.Data {
				kc, err := clientcmd.Load(v)
				if err != nil {
					continue
				}
				for _, u := range kc.AuthInfos {
					if u.Token != "" {
						out = append(out, u.Token)
					}
				}
			}
		}
	}
	return out
}

// kubeconfig writes the lab's kubeconfig plus a context "faulty" for server
// (its CA ca, its user a token canary or exec), and returns its path.
func (e *labEnv) kubeconfig(t *testing.T, server string, ca []byte, user *clientcmdapi.AuthInfo) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(e.l.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if user == nil {
		canary := "meshfed-canary-token-" + strings.ReplaceAll(t.Name(), "/", "-")
		e.canaries = append(e.canaries, canary)
		user = &clientcmdapi.AuthInfo{Token: canary}
	}
	cfg.Clusters[faulty] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[faulty] = user
	cfg.Contexts[faulty] = &clientcmdapi.Context{Cluster: faulty, AuthInfo: faulty}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// third: a third cluster that is the fault server on its own.
func third(fault func(*faultServer, http.ResponseWriter, *http.Request) bool) setup {
	return func(t *testing.T, e *labEnv) (string, []string, []string) {
		s := newFaultServer(t, nil, fault, nil)
		return e.kubeconfig(t, s.URL, s.caData(), nil), []string{e.a, e.b, faulty}, nil
	}
}

// inFront: the second lab cluster read through the fault server.
func inFront(fault func(*faultServer, http.ResponseWriter, *http.Request) bool, rewrite func(string, map[string]any)) setup {
	return func(t *testing.T, e *labEnv) (string, []string, []string) {
		s := newFaultServer(t, e.l.RESTConfig(e.b), fault, rewrite)
		return e.kubeconfig(t, s.URL, s.caData(), nil), []string{e.a, faulty}, nil
	}
}

func always(f func(w http.ResponseWriter)) func(*faultServer, http.ResponseWriter, *http.Request) bool {
	return func(_ *faultServer, w http.ResponseWriter, _ *http.Request) bool { f(w); return true }
}

func onList(resource string, f func(s *faultServer, w http.ResponseWriter, r *http.Request) bool) func(*faultServer, http.ResponseWriter, *http.Request) bool {
	return func(s *faultServer, w http.ResponseWriter, r *http.Request) bool {
		return isList(r, resource) && f(s, w, r)
	}
}

// execUser is a user whose exec credential plugin runs script.
func execUser(t *testing.T, script string) *clientcmdapi.AuthInfo {
	path := filepath.Join(t.TempDir(), "credential-plugin.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: path,
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}
}

var setups = map[string]setup{
	"hung-tcp": func(t *testing.T, e *labEnv) (string, []string, []string) {
		s := newFaultServer(t, nil, nil, nil) // only for a CA the kubeconfig trusts
		return e.kubeconfig(t, "https://"+stallListener(t), s.caData(), nil), []string{e.a, e.b, faulty}, nil
	},
	"hung-before-headers": third(func(s *faultServer, _ http.ResponseWriter, r *http.Request) bool { s.hang(r); return true }),
	"hung-after-headers": third(func(s *faultServer, w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[`))
		w.(http.Flusher).Flush()
		s.hang(r)
		return true
	}),
	"refused": func(t *testing.T, e *labEnv) (string, []string, []string) {
		return e.kubeconfig(t, "https://"+refusedAddress(t), nil, nil), []string{e.a, e.b, faulty}, nil
	},
	"unresolvable": func(t *testing.T, e *labEnv) (string, []string, []string) {
		return e.kubeconfig(t, "https://meshfed-no-such-cluster.invalid:6443", nil, nil), []string{e.a, e.b, faulty}, nil
	},
	"untrusted-ca": func(t *testing.T, e *labEnv) (string, []string, []string) {
		s := newFaultServer(t, nil, nil, nil)
		return e.kubeconfig(t, s.URL, e.l.RESTConfig(e.a).CAData, nil), []string{e.a, e.b, faulty}, nil
	},
	"401":      third(always(func(w http.ResponseWriter) { status(w, 401, "Unauthorized", "Unauthorized") })),
	"403-all":  third(always(func(w http.ResponseWriter) { status(w, 403, "Forbidden", "User \"nobody\" cannot list resource") })),
	"500-html": third(always(func(w http.ResponseWriter) { htmlError(w, 500) })),
	"503":      third(always(func(w http.ResponseWriter) { htmlError(w, 503) })),
	"403-secrets": inFront(onList("secrets", func(_ *faultServer, w http.ResponseWriter, _ *http.Request) bool {
		status(w, 403, "Forbidden", `secrets is forbidden: User "meshfed" cannot list resource "secrets"`)
		return true
	}), nil),
	"404-crd": inFront(func(_ *faultServer, w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/apis/networking.istio.io/") {
			status(w, 404, "NotFound", "the server could not find the requested resource")
			return true
		}
		return false
	}, nil),
	"429-retry-after": inFront(onList("secrets", func(s *faultServer, w http.ResponseWriter, _ *http.Request) bool {
		if s.hits("secrets") > 2 {
			return false
		}
		w.Header().Set("Retry-After", "1")
		status(w, 429, "TooManyRequests", "too many requests, please try again later")
		return true
	}), nil),
	"500-one-kind": inFront(onList("endpointslices", func(_ *faultServer, w http.ResponseWriter, _ *http.Request) bool {
		htmlError(w, 500)
		return true
	}), nil),
	"body-cut-off": inFront(onList("services", func(s *faultServer, w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"cut`))
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}), nil),
	"huge-object": inFront(nil, func(path string, doc map[string]any) {
		if strings.HasSuffix(path, "/namespaces/istio-system/configmaps") {
			doc["items"] = append(items(doc), map[string]any{
				"metadata": map[string]any{"name": "huge", "namespace": "istio-system"},
				"data":     map[string]any{"blob": strings.Repeat("x", 16<<20)},
			})
		}
	}),
	"malformed-object": inFront(nil, func(path string, doc map[string]any) {
		if strings.HasSuffix(path, "/services") {
			doc["items"] = append(items(doc), map[string]any{
				"metadata": map[string]any{"name": "malformed", "namespace": "default"},
				"spec":     "a string where an object belongs",
			})
		}
	}),
	"malformed-cacerts": inFront(nil, func(path string, doc map[string]any) {
		if !strings.HasSuffix(path, "/namespaces/istio-system/secrets") {
			return
		}
		bad := b64("-----BEGIN CERTIFICATE-----\nnot*base64*at*all\n-----END CERTIFICATE-----\n")
		for _, it := range items(doc) {
			o, _ := it.(map[string]any)
			md, _ := o["metadata"].(map[string]any)
			if md["name"] == "cacerts" {
				data, _ := o["data"].(map[string]any)
				for k := range data {
					if strings.HasSuffix(k, ".pem") {
						data[k] = bad
					}
				}
			}
		}
	}),
}

func init() {
	setups["library-logs-to-stdout"] = inFront(nil, func(path string, doc map[string]any) {
		if !strings.HasSuffix(path, "/namespaces/istio-system/configmaps") {
			return
		}
		for _, it := range items(doc) {
			o, _ := it.(map[string]any)
			md, _ := o["metadata"].(map[string]any)
			if data, _ := o["data"].(map[string]any); md["name"] == "istio" && data != nil {
				mesh, _ := data["mesh"].(string)
				data["mesh"] = mesh + "\nextensionProviders:\n- name: meshfed-bad\n  envoyExtAuthzHttp: {service: '', port: 0}\n"
			}
		}
	})
	setups["malformed-remote-secret"] = func(t *testing.T, e *labEnv) (string, []string, []string) {
		canary := "meshfed-canary-remote-" + strings.ReplaceAll(t.Name(), "/", "-")
		e.canaries = append(e.canaries, canary)
		bad := b64("apiVersion: v1\nclusters: [{name: x, cluster: {server: https://x\nusers:\n- name: u\n  user: {token: " + canary + "}\n")
		return inFront(nil, func(path string, doc map[string]any) {
			if !strings.HasSuffix(path, "/secrets") {
				return
			}
			for _, it := range items(doc) {
				o, _ := it.(map[string]any)
				md, _ := o["metadata"].(map[string]any)
				labels, _ := md["labels"].(map[string]any)
				if labels[multiClusterLabel] == "true" {
					data, _ := o["data"].(map[string]any)
					for k := range data {
						data[k] = bad
					}
				}
			}
		})(t, e)
	}
	setups["unknown-context"] = func(t *testing.T, e *labEnv) (string, []string, []string) {
		return e.l.Kubeconfig(), []string{e.a, e.b, faulty}, nil
	}
	setups["context-without-cluster"] = func(t *testing.T, e *labEnv) (string, []string, []string) {
		path := e.kubeconfig(t, "https://127.0.0.1:1", nil, nil)
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		delete(cfg.Clusters, faulty)
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			t.Fatal(err)
		}
		return path, []string{e.a, e.b, faulty}, nil
	}
	setups["unreadable-kubeconfig"] = func(t *testing.T, e *labEnv) (string, []string, []string) {
		return e.l.Kubeconfig(), []string{e.a, e.b}, []string{"--kubeconfig", t.TempDir()} // a directory
	}
	setups["malformed-kubeconfig"] = func(t *testing.T, e *labEnv) (string, []string, []string) {
		path := filepath.Join(t.TempDir(), "broken")
		if err := os.WriteFile(path, []byte("apiVersion: v1\nclusters: [{name: x\ncontexts: ]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return e.l.Kubeconfig() + string(os.PathListSeparator) + path, []string{e.a, e.b}, nil
	}
	setups["exec-fails"] = func(t *testing.T, e *labEnv) (string, []string, []string) {
		s := newFaultServer(t, nil, nil, nil)
		return e.kubeconfig(t, s.URL, s.caData(), execUser(t, "echo 'no credentials here' >&2; exit 1")), []string{e.a, e.b, faulty}, nil
	}
	setups["exec-hangs"] = func(t *testing.T, e *labEnv) (string, []string, []string) {
		s := newFaultServer(t, nil, nil, nil)
		return e.kubeconfig(t, s.URL, s.caData(), execUser(t, "exec sleep 20")), []string{e.a, e.b, faulty}, nil
	}
}

func sharedLab(t *testing.T) *labEnv {
	t.Helper()
	l := labtest.Shared(t, "multi-primary", 2)
	cs := l.Contexts()
	return &labEnv{l: l, a: cs[0], b: cs[1]}
}

func TestFaultMatrix(t *testing.T) {
	env := sharedLab(t)
	for _, row := range Rows {
		if setups[row.Name] == nil {
			t.Errorf("row %s has no setup", row.Name)
		}
	}
	for _, row := range Rows {
		t.Run(row.Name, func(t *testing.T) {
			setup := setups[row.Name]
			if setup == nil {
				t.Fatal("no setup")
			}
			kubeconfig, contexts, extra := setup(t, env)
			healthy := []string{}
			for _, c := range contexts {
				if c != faulty {
					healthy = append(healthy, c)
				}
			}
			timeout, bound := row.Timeouts()
			common := append([]string{"--contexts", strings.Join(contexts, ","), "--timeout", timeout.String(), "--probe-timeout", ProbeTimeout.String()}, extra...)
			runs := []struct {
				name string
				args []string
			}{
				{"doctor -o json", append([]string{"doctor", "-o", "json"}, common...)},
				{"doctor -o yaml", append([]string{"doctor", "-o", "yaml"}, common...)},
				{"topology -o json", append([]string{"topology", "-o", "json"}, common...)},
			}
			results := make([]result, len(runs))
			var wg sync.WaitGroup
			for i, r := range runs {
				wg.Go(func() { results[i] = runPlugin(t, kubeconfig, r.args...) })
			}
			wg.Wait()
			secrets := env.secrets(t)
			for i, r := range runs {
				res := results[i]
				t.Logf("%s: exit %d in %s", r.name, res.code, res.took.Round(time.Millisecond))
				if res.took > bound {
					t.Errorf("%s took %s, more than the bound %s", r.name, res.took.Round(time.Millisecond), bound)
				}
				noSecrets(t, r.name, res, secrets)
				quietStderr(t, r.name, res)
			}
			json := results[0]
			if json.code != row.Exit {
				t.Errorf("doctor exit code %d, want %d\nstderr: %s", json.code, row.Exit, json.stderr)
			}
			if row.Exit == 3 {
				for i, r := range runs {
					if results[i].stdout != "" {
						t.Errorf("%s exited 3 but wrote to stdout: %q", r.name, results[i].stdout)
					}
				}
				if !strings.Contains(json.stderr, row.Says) {
					t.Errorf("stderr does not say %q: %s", row.Says, json.stderr)
				}
				return
			}
			rep := strictJSON(t, "doctor -o json", json.stdout)
			strictYAML(t, "doctor -o yaml", results[1].stdout)
			strictJSON(t, "topology -o json", results[2].stdout)
			checkRow(t, row, rep, healthy)
		})
	}
}

type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// runPlugin runs the built plugin as a user would; it does not wait for
// children the plugin leaves behind (a hung exec credential plugin).
func runPlugin(t *testing.T, kubeconfig string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, labtest.Plugin(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "NO_COLOR=1", "AWS_EC2_METADATA_DISABLED=true")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 500 * time.Millisecond
	start := time.Now()
	err := cmd.Run()
	var r result
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case errors.Is(err, exec.ErrWaitDelay):
	case err != nil:
		t.Fatalf("run: %v", err)
	}
	// ProcessState is set even when only the output copying outlived it.
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
		r.took = time.Since(start) // upper bound; the process may have ended earlier
	}
	r.stdout, r.stderr = out.String(), errb.String()
	return r
}

type report struct {
	Clusters []struct {
		Context   string `json:"context"`
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
	} `json:"clusters"`
	Findings []struct {
		Check    string   `json:"check"`
		Severity string   `json:"severity"`
		Contexts []string `json:"contexts"`
		Message  string   `json:"message"`
		Evidence []string `json:"evidence"`
	} `json:"findings"`
	Checks []struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Unknown []struct {
			Context string `json:"context"`
			Reason  string `json:"reason"`
		} `json:"unknown"`
	} `json:"checks"`
}

// strictJSON: stdout is one JSON document and nothing else.
func strictJSON(t *testing.T, what, stdout string) report {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: stdout is not JSON: %v\n%s", what, err, head(stdout))
	}
	if dec.More() {
		t.Errorf("%s: stdout holds more than one JSON document", what)
	}
	var r report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return r
}

// strictYAML: stdout is one YAML document, with fields only once.
func strictYAML(t *testing.T, what, stdout string) {
	t.Helper()
	if strings.Contains(stdout, "\n---") {
		t.Errorf("%s: more than one YAML document", what)
	}
	var doc map[string]any
	if err := yaml.UnmarshalStrict([]byte(stdout), &doc); err != nil {
		t.Fatalf("%s: stdout is not YAML: %v\n%s", what, err, head(stdout))
	}
	if doc["kind"] != "Report" {
		t.Errorf("%s: kind %v, want Report", what, doc["kind"])
	}
}

func head(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// klogLine matches a klog header (I1203 07:00:00.000000) or a zap/Istio
// line, which must not reach stderr without -v.
var klogLine = regexp.MustCompile(`(?m)^([IWEF]\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.0-9]*Z\s+(info|warn|error))`)

func quietStderr(t *testing.T, what string, r result) {
	t.Helper()
	if m := klogLine.FindString(r.stderr); m != "" {
		t.Errorf("%s: a library logged on stderr without -v (%q):\n%s", what, m, r.stderr)
	}
}

func noSecrets(t *testing.T, what string, r result, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
			t.Errorf("%s printed a secret (%.12s…)", what, s)
		}
	}
}

// checkRow asserts the row's findings on the faulty context and that the
// healthy ones are reported in full.
func checkRow(t *testing.T, row Row, r report, healthy []string) {
	t.Helper()
	reachable := map[string]bool{}
	faultyError := ""
	for _, c := range r.Clusters {
		reachable[c.Context] = c.Reachable
		if c.Context == faulty {
			faultyError = c.Error
		}
	}
	for _, h := range healthy {
		if !reachable[h] {
			t.Errorf("healthy context %s not reachable", h)
		}
	}
	for _, c := range r.Checks {
		for _, u := range c.Unknown {
			for _, h := range healthy {
				if u.Context == h {
					t.Errorf("%s is unknown for healthy %s: %s", c.ID, h, u.Reason)
				}
			}
		}
	}
	var onFaulty []string
	text := faultyError
	for _, f := range r.Findings {
		on := false
		for _, c := range f.Contexts {
			on = on || c == faulty
		}
		if !on {
			if f.Severity == "unknown" {
				t.Errorf("unknown finding on healthy contexts: %s %v %s", f.Check, f.Contexts, f.Message)
			}
			continue
		}
		onFaulty = append(onFaulty, f.Check+" "+f.Severity)
		text += "\n" + f.Message + "\n" + strings.Join(f.Evidence, "\n")
	}
	for _, want := range row.Findings {
		found := false
		for _, got := range onFaulty {
			found = found || got == want
		}
		if !found {
			t.Errorf("no %s on %s; findings there: %v", want, faulty, onFaulty)
		}
	}
	if len(row.Findings) == 0 {
		for _, got := range onFaulty {
			if strings.HasPrefix(got, "MF0001") || strings.HasPrefix(got, "MF0002") || strings.HasSuffix(got, "unknown") {
				t.Errorf("want %s read in full, got %s", faulty, got)
			}
		}
	}
	if row.Says != "" && !strings.Contains(text, row.Says) {
		t.Errorf("the report does not say %q about %s:\n%s", row.Says, faulty, text)
	}
	if t.Failed() || row.Says == "" {
		t.Logf("findings on %s: %v\n%s", faulty, onFaulty, text)
	}
}

var _ = fmt.Sprint

// multiClusterLabel marks remote secrets (istiod selects on it).
const multiClusterLabel = "istio/multiCluster"

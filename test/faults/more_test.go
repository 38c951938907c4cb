package faults

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// addContexts writes a copy of kubeconfig with more contexts, each its own
// cluster at server with CA ca and a canary token.
func (e *labEnv) addContexts(t *testing.T, kubeconfig string, servers map[string]string, ca []byte) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for name, server := range servers {
		canary := "meshfed-canary-token-" + name
		e.canaries = append(e.canaries, canary)
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: canary}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	path := t.TempDir() + "/kubeconfig"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFiveClustersTwoHungOneRefused: the two healthy clusters are reported
// in full, within the bound, next to two that hang and one that refuses.
func TestFiveClustersTwoHungOneRefused(t *testing.T) {
	env := sharedLab(t)
	hung := newFaultServer(t, nil, func(s *faultServer, _ http.ResponseWriter, r *http.Request) bool { s.hang(r); return true }, nil)
	stalled := "https://" + stallListener(t)
	kubeconfig := env.addContexts(t, env.l.Kubeconfig(), map[string]string{
		"hung-1": hung.URL, "hung-2": stalled, "refused": "https://" + refusedAddress(t),
	}, hung.caData())
	contexts := []string{env.a, "hung-1", env.b, "hung-2", "refused"}
	res := runPlugin(t, kubeconfig, "doctor", "-o", "json", "--contexts", strings.Join(contexts, ","),
		"--timeout", Timeout.String(), "--probe-timeout", ProbeTimeout.String())
	t.Logf("doctor: exit %d in %s", res.code, res.took.Round(time.Millisecond))
	if res.took > Bound {
		t.Errorf("took %s, more than the bound %s", res.took.Round(time.Millisecond), Bound)
	}
	if res.code != 2 {
		t.Errorf("exit %d, want 2\nstderr: %s", res.code, res.stderr)
	}
	r := strictJSON(t, "doctor -o json", res.stdout)
	if len(r.Clusters) != 5 {
		t.Fatalf("%d clusters reported, want 5", len(r.Clusters))
	}
	dead := map[string]bool{"hung-1": true, "hung-2": true, "refused": true}
	for _, c := range r.Clusters {
		if c.Reachable == dead[c.Context] {
			t.Errorf("cluster %s reachable=%v, error %q", c.Context, c.Reachable, c.Error)
		}
	}
	for _, c := range r.Checks {
		for _, u := range c.Unknown {
			if !dead[u.Context] {
				t.Errorf("%s unknown for healthy %s: %s", c.ID, u.Context, u.Reason)
			}
		}
	}
	unreadable := map[string]bool{}
	for _, f := range r.Findings {
		if f.Check == "MF0001" {
			for _, c := range f.Contexts {
				unreadable[c] = true
			}
		}
		if f.Severity == "unknown" {
			t.Errorf("unknown finding: %s %v %s", f.Check, f.Contexts, f.Message)
		}
	}
	for c := range dead {
		if !unreadable[c] {
			t.Errorf("no MF0001 for %s", c)
		}
	}
	noSecrets(t, "doctor", res, env.secrets(t))
	quietStderr(t, "doctor", res)
}

// TestEveryCommandAndFormatStaysClean runs every command in every output
// format against a cluster whose server cuts a body off, answers 500 with
// HTML and stalls: stdout holds only the output and parses strictly; with
// -v the libraries' complaints appear, on stderr only.
func TestEveryCommandAndFormatStaysClean(t *testing.T) {
	env := sharedLab(t)
	s := newFaultServer(t, env.l.RESTConfig(env.b), func(s *faultServer, w http.ResponseWriter, r *http.Request) bool {
		switch {
		case isList(r, "services"):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"kind":"ServiceList","apiVersion":"v1","items":[{"metadata":{"name":"cut`))
			panic(http.ErrAbortHandler)
		case isList(r, "endpointslices"):
			htmlError(w, 500)
			return true
		case isList(r, "nodes"):
			s.hang(r)
			return true
		}
		return false
	}, nil)
	kubeconfig := env.kubeconfig(t, s.URL, s.caData(), nil)
	sel := []string{"--contexts", env.a + "," + faulty, "--timeout", Timeout.String(), "--probe-timeout", ProbeTimeout.String()}
	type run struct {
		args  []string
		parse func(t *testing.T, what, stdout string)
	}
	jsonOut := func(t *testing.T, what, out string) { strictJSONDoc(t, what, out) }
	yamlOut := func(t *testing.T, what, out string) { strictYAMLStream(t, what, out) }
	// textOut: stdout starts with one of firsts (any one: a verdict).
	textOut := func(firsts ...string) func(t *testing.T, what, out string) {
		return func(t *testing.T, what, out string) {
			if !slices.ContainsFunc(firsts, func(first string) bool { return strings.HasPrefix(out, first) }) {
				t.Errorf("%s: stdout starts %q, want one of %q", what, head(out), firsts)
			}
			if m := klogLine.FindString(out); m != "" {
				t.Errorf("%s: a log line on stdout: %q", what, m)
			}
		}
	}
	runs := []run{
		{append([]string{"doctor"}, sel...), textOut("✗ FAILING · ", "! DEGRADED · ", "? INCOMPLETE · ", "✓ HEALTHY · ")},
		{append([]string{"doctor", "-o", "wide"}, sel...), textOut("Clusters")},
		{append([]string{"doctor", "-o", "short"}, sel...), textOut("")},
		{append([]string{"doctor", "-o", "json"}, sel...), jsonOut},
		{append([]string{"doctor", "-o", "yaml"}, sel...), yamlOut},
		{append([]string{"topology"}, sel...), textOut("")},
		{append([]string{"topology", "-o", "json"}, sel...), jsonOut},
		{append([]string{"topology", "-o", "dot"}, sel...), textOut("digraph")},
		{append([]string{"fix"}, sel...), yamlOut},
		{[]string{"checks", "-o", "json"}, jsonOut},
		{[]string{"checks"}, textOut("")},
		{[]string{"explain", "MF0001"}, textOut("")},
		{[]string{"version", "-o", "json"}, jsonOut},
	}
	secrets := env.secrets(t)
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			what := strings.Join(r.args[:min(3, len(r.args))], " ")
			res := runPlugin(t, kubeconfig, r.args...)
			if res.took > Bound {
				t.Errorf("%s took %s, more than %s", what, res.took, Bound)
			}
			if res.code == 3 {
				t.Errorf("%s exited 3: %s", what, res.stderr)
			}
			r.parse(t, what, res.stdout)
			quietStderr(t, what, res)
			noSecrets(t, what, res, secrets)
		})
	}
	wg.Wait()

	// -v: the complaints go to stderr, and stdout still parses.
	res := runPlugin(t, kubeconfig, append([]string{"doctor", "-o", "json", "-v", "6"}, sel...)...)
	strictJSONDoc(t, "doctor -o json -v 6", res.stdout)
	if klogLine.FindString(res.stderr) == "" {
		t.Errorf("-v 6 logged nothing on stderr:\n%s", head(res.stderr))
	}
	noSecrets(t, "doctor -v 6", res, secrets)
}

func strictJSONDoc(t *testing.T, what, stdout string) {
	t.Helper()
	_ = strictJSON(t, what, stdout)
}

// strictYAMLStream: every document of stdout decodes (a fix plan is a
// stream; comments are allowed, anything else is not).
func strictYAMLStream(t *testing.T, what, stdout string) {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(stdout)), 4096)
	for n := 0; ; n++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err == io.EOF {
			if n == 0 && strings.TrimSpace(stdout) == "" {
				t.Errorf("%s: empty stdout", what)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: document %d is not YAML: %v\n%s", what, n, err, head(stdout))
		}
	}
}

// TestDoctorUnderFullCPULoad: with every core busy, the doctor with its
// default budgets still reads and probes the healthy lab in full (no check
// unknown, no unknown finding) within the bound, and stdout parses.
func TestDoctorUnderFullCPULoad(t *testing.T) {
	env := sharedLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second) // bounded, whatever happens
	defer cancel()
	var burners sync.WaitGroup
	for range 2 * runtime.NumCPU() {
		burners.Go(func() {
			x := 0
			for ctx.Err() == nil {
				for i := range 1 << 16 {
					x += i
				}
			}
			_ = x
		})
	}
	defer burners.Wait()
	defer cancel()
	time.Sleep(time.Second)          // the load is there before the run starts
	const timeout = 10 * time.Second // the default budgets: 10s + 10s
	res := runPlugin(t, env.l.Kubeconfig(), "doctor", "-o", "json", "--contexts", env.a+","+env.b)
	t.Logf("doctor under load: exit %d in %s", res.code, res.took.Round(time.Millisecond))
	if res.took > 2*timeout+time.Second {
		t.Errorf("took %s, more than the bound %s", res.took, 2*timeout+time.Second)
	}
	r := strictJSON(t, "doctor -o json", res.stdout)
	for _, c := range r.Clusters {
		if !c.Reachable {
			t.Errorf("%s unreachable under load: %s", c.Context, c.Error)
		}
	}
	for _, c := range r.Checks {
		if c.Status == "unknown" || len(c.Unknown) > 0 {
			t.Errorf("%s %s under load: %+v", c.ID, c.Status, c.Unknown)
		}
	}
	for _, f := range r.Findings {
		if f.Severity == "unknown" {
			t.Errorf("unknown finding under load: %s %v %s", f.Check, f.Contexts, f.Message)
		}
	}
	quietStderr(t, "doctor", res)
}

package e2e

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// The demo scenario has one fault per area (internal/lab/scenarios/demo.yaml);
// these are the findings they must give, and nothing else.
var demoFindings = []string{
	// central's cacerts come from a root of its own. (The probe sees central's
	// workloads fail to verify east's and west's gateways, but that is the
	// same fact, so MF3013 leaves it to MF2001.)
	"MF2001@central,east",
	"MF2001@central,west",
	"MF3002@central",      // central's east-west gateway is pending
	"MF4001@central,east", // east has no remote secret for central
	"MF4014@central",      // central has no Service for httpbin (endpoints in east and west) and no DNS proxying
	"MF5001@west",         // a node of west has no zone label
	"MF5002@west",         // west's DestinationRule fails over without outlier detection
}

// demoAsFindings turns demoFindings back into findings, to filter them.
func demoAsFindings() []finding {
	var out []finding
	for _, k := range demoFindings {
		check, contexts, _ := strings.Cut(k, "@")
		out = append(out, finding{Check: check, Contexts: strings.Split(contexts, ",")})
	}
	return out
}

func TestDoctorOnDemoLab(t *testing.T) {
	l := labtest.Start(t, "demo", 3)

	t.Run("follows the mesh from the current context", func(t *testing.T) {
		out, stderr, code := labtest.Run(t, l, "doctor", "-o", "json")
		r := parseReport(t, out)
		if code != 2 {
			t.Errorf("exit code %d, want 2 (errors found)\nstderr: %s", code, stderr)
		}
		var got []string
		for _, c := range r.Clusters {
			got = append(got, c.Context)
			if !c.Reachable || c.Role != "primary" || c.ClusterID != c.Context || c.Network != l.Network(c.Context) {
				t.Errorf("cluster %+v: want reachable primary %s on %s", c, c.Context, l.Network(c.Context))
			}
		}
		// east (current) has a remote secret for west only; west's lead to central.
		if want := []string{"east", "west", "central"}; !reflect.DeepEqual(got, want) {
			t.Errorf("contexts %v, want %v followed through remote secrets\nstderr: %s", got, want, stderr)
		}
		if !strings.Contains(stderr, "remote secret") {
			t.Errorf("stderr does not say why contexts were chosen:\n%s", stderr)
		}
		if k := keys(r.Findings); !reflect.DeepEqual(k, demoFindings) {
			t.Errorf("findings %v, want %v", k, demoFindings)
		}
		bySeverity := map[string]int{}
		for _, f := range r.Findings {
			bySeverity[f.Severity]++
		}
		if r.Summary.Errors != bySeverity["error"] || r.Summary.Warnings != bySeverity["warning"] || r.Summary.Warnings != 2 {
			t.Errorf("summary %+v does not count the findings %v", r.Summary, bySeverity)
		}
	})

	t.Run("fail-on and check selection", func(t *testing.T) {
		out, _, code := labtest.Run(t, l, "doctor", "-o", "json", "--checks", "locality", "--skip", "MF5002")
		if r := parseReport(t, out); code != 0 || !reflect.DeepEqual(keys(r.Findings), []string{"MF5001@west"}) {
			t.Errorf("--checks locality --skip MF5002: exit %d, findings %v; want 0 and only MF5001 (a warning)", code, keys(r.Findings))
		}
		if _, _, code := labtest.Run(t, l, "doctor", "-o", "json", "--checks", "MF5001", "--fail-on", "warning"); code != 2 {
			t.Errorf("--fail-on warning with a warning: exit %d, want 2", code)
		}
		if _, stderr, code := labtest.Run(t, l, "doctor", "--checks", "MF9999"); code != 3 || !strings.Contains(stderr, "MF9999") {
			t.Errorf("unknown check: exit %d, stderr %q; want 3 naming it", code, stderr)
		}
	})

	t.Run("through kubectl plugin discovery, as text", func(t *testing.T) {
		out, stderr, code := labtest.RunKubectl(t, l, "meshfed", "doctor", "--contexts", "east,west,central")
		if code != 2 {
			t.Fatalf("kubectl meshfed doctor: exit %d\n%s\n%s", code, out, stderr)
		}
		for _, want := range []string{"MF2001", "MF4001", "kubectl meshfed explain", "errors, 2 warnings"} {
			if !strings.Contains(out, want) {
				t.Errorf("text report lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "\x1b[") {
			t.Error("text report has ANSI escapes with NO_COLOR and no TTY")
		}
		// Incident-first: the verdict opens, the errors come before the
		// warnings and the passed checks, the summary closes; MF2001's
		// cluster pairs a line each (no 1,000-character paragraph).
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "✗ FAILING · 5 errors, 2 warnings") || !strings.HasPrefix(lines[len(lines)-1], "5 errors, 2 warnings") {
			t.Errorf("text report does not open with its verdict and close with its summary:\n%s", out)
		}
		firstError, firstWarning, passed := strings.Index(out, "\n  ✗ MF"), strings.Index(out, "\n  ! MF"), strings.Index(out, "\nPassed")
		if firstError < 0 || firstError > firstWarning || firstWarning > passed {
			t.Errorf("errors, then warnings, then passed checks: at %d, %d, %d:\n%s", firstError, firstWarning, passed, out)
		}
		for _, l := range lines {
			if strings.Contains(l, "central → east") && strings.Contains(l, "east → central") {
				t.Errorf("two cluster pairs on one line: %q", l)
			}
		}
		short, _, _ := labtest.RunKubectl(t, l, "meshfed", "doctor", "--contexts", "east,west,central", "-o", "short")
		if n := strings.Count(short, "\n"); n != 7+1 || !strings.HasPrefix(short, "✗ MF2001 [central,east] ") {
			t.Errorf("-o short: %d lines, want the 7 findings, worst first, and the summary:\n%s", n, short)
		}
	})

	t.Run("kubectl's kubeconfig flags, through kubectl as run directly", func(t *testing.T) {
		// kubectl hands a plugin its arguments as they are, KUBECONFIG in
		// the environment: the plugin takes kubectl's flags itself.
		args := []string{"--context", "west", "--request-timeout", "5s", "-n", "istio-system", "--cache-dir", t.TempDir(),
			"--disable-compression", "doctor", "-o", "json", "--no-probes", "--checks", "locality"}
		viaKubectl, stderr, code := labtest.RunKubectl(t, l, append([]string{"meshfed"}, args...)...)
		direct, _, directCode := labtest.Run(t, l, args...)
		kr, dr := parseReport(t, viaKubectl), parseReport(t, direct)
		var got, want []string
		for _, c := range kr.Clusters {
			got = append(got, c.Context)
		}
		for _, c := range dr.Clusters {
			want = append(want, c.Context)
		}
		if code != directCode || len(got) == 0 || got[0] != "west" || !reflect.DeepEqual(got, want) ||
			!reflect.DeepEqual(keys(kr.Findings), keys(dr.Findings)) {
			t.Errorf("through kubectl: exit %d, contexts %v, findings %v; run directly: exit %d, contexts %v, findings %v (want the same, from west)\nstderr: %s",
				code, got, keys(kr.Findings), directCode, want, keys(dr.Findings), stderr)
		}

		// --as reaches every context: a user nobody granted anything
		// cannot list namespaces anywhere.
		out, stderr, code := labtest.RunKubectl(t, l, "meshfed", "--as", "nobody@example.com", "doctor", "-o", "json", "--no-probes", "--contexts", "east,west")
		r := parseReport(t, out)
		if code != 3 || len(r.Clusters) != 2 {
			t.Fatalf("--as nobody: exit %d, %d clusters; want 3 (none reachable) and both reported\nstderr: %s", code, len(r.Clusters), stderr)
		}
		for _, c := range r.Clusters {
			if c.Reachable || !strings.Contains(c.Error, "forbidden (403)") || !strings.Contains(c.Error, "nobody@example.com") {
				t.Errorf("--as nobody: %s reachable %v, error %q; want forbidden for that user", c.Context, c.Reachable, c.Error)
			}
		}
	})

	t.Run("every kubeconfig flag means what it means to kubectl", func(t *testing.T) {
		cfg, err := clientcmd.LoadFromFile(l.Kubeconfig())
		if err != nil {
			t.Fatal(err)
		}
		westCluster, westUser := cfg.Contexts["west"].Cluster, cfg.Contexts["west"].AuthInfo
		read := func(args ...string) (report, string, int) {
			t.Helper()
			out, stderr, code := labtest.Run(t, l, append(args, "doctor", "-o", "json", "--no-probes", "--checks", "general")...)
			if code == 3 && out == "" {
				return report{}, stderr, code
			}
			return parseReport(t, out), stderr, code
		}

		// --cluster and --user: east's context, west's cluster and user (and
		// only that one context: the flags name one cluster). With east's
		// user, west rejects the credentials, as it does kubectl's.
		r, stderr, code := read("--context", "east", "--cluster", westCluster)
		if code != 3 || len(r.Clusters) != 1 || !strings.Contains(r.Clusters[0].Error, "401 Unauthorized") {
			t.Errorf("--context east --cluster %s: exit %d, clusters %+v; want east's credentials rejected by west\nstderr: %s", westCluster, code, r.Clusters, stderr)
		}
		r, stderr, code = read("--context", "east", "--cluster", westCluster, "--user", westUser)
		if code != 0 || len(r.Clusters) != 1 || r.Clusters[0].Context != "east" || r.Clusters[0].ClusterID != "west" {
			t.Errorf("--context east --cluster %s: exit %d, clusters %+v; want only east's context, reading west (cluster ID west)\nstderr: %s", westCluster, code, r.Clusters, stderr)
		}
		if !strings.Contains(stderr, "only this one, with --cluster") {
			t.Errorf("stderr does not say why one context was read:\n%s", stderr)
		}
		// -s/--server: a closed port is what east's context reaches.
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := closed.Addr().String()
		closed.Close()
		r, stderr, code = read("--context", "east", "-s", "https://"+addr, "--insecure-skip-tls-verify")
		if code != 3 || len(r.Clusters) != 1 || r.Clusters[0].Reachable || !strings.Contains(r.Clusters[0].Error, "connection refused") {
			t.Errorf("-s https://%s: exit %d, clusters %+v; want east unreachable, refused\nstderr: %s", addr, code, r.Clusters, stderr)
		}
		// --certificate-authority: a CA that did not sign east's server.
		other := filepath.Join(t.TempDir(), "other-ca.crt")
		if err := os.WriteFile(other, localhostCert, 0o600); err != nil {
			t.Fatal(err)
		}
		r, stderr, code = read("--context", "east", "--certificate-authority", other)
		if code != 3 || len(r.Clusters) != 1 || !strings.Contains(r.Clusters[0].Error, "certificate signed by unknown authority") {
			t.Errorf("--certificate-authority (another CA): exit %d, clusters %+v; want east's certificate refused\nstderr: %s", code, r.Clusters, stderr)
		}
		// --user: a user the kubeconfig does not define is client-go's
		// error, as it is kubectl's.
		if r, stderr, code := read("--context", "east", "--user", "nobody-here"); code != 3 || len(r.Clusters) != 1 || !strings.Contains(r.Clusters[0].Error, `auth info "nobody-here" does not exist`) {
			t.Errorf("--user nobody-here: exit %d, clusters %+v; want east unusable, naming the user\nstderr: %s", code, r.Clusters, stderr)
		}
		// One cluster's flags with several contexts: refused, with why.
		if _, stderr, code := read("--contexts", "east,west", "--server", "https://"+addr); code != 3 || !strings.Contains(stderr, "--server describe one cluster") {
			t.Errorf("--contexts east,west --server: exit %d; want 3 saying why\nstderr: %s", code, stderr)
		}
		// --request-timeout: reaches each request (1ns: none can finish).
		r, stderr, code = read("--contexts", "east,west", "--request-timeout", "1ns")
		if code != 3 || len(r.Clusters) != 2 || r.Clusters[0].Reachable || r.Clusters[1].Reachable {
			t.Errorf("--request-timeout 1ns: exit %d, clusters %+v; want both unreachable\nstderr: %s", code, r.Clusters, stderr)
		}

		// -n is Istio's namespace; a namespace without Istio is an error
		// finding naming where istiod runs, not a pass.
		for _, ns := range [][]string{{"--istio-namespace", "istio-sytem"}, {"-n", "istio-sytem"}} {
			r, stderr, code := read(append([]string{"--contexts", "east,west"}, ns...)...)
			if code != 2 || !reflect.DeepEqual(keys(r.Findings), []string{"MF0003@east", "MF0003@west"}) {
				t.Errorf("%v: exit %d, findings %v; want 2 and MF0003 in east and west\nstderr: %s", ns, code, keys(r.Findings), stderr)
				continue
			}
			if ev := strings.Join(r.Findings[0].Evidence, "\n"); !strings.Contains(ev, "run with -n istio-system") {
				t.Errorf("%v: evidence does not name istio-system:\n%s", ns, ev)
			}
		}
		if r, _, code := read("--contexts", "east,west", "-n", "istio-system"); code != 0 || len(r.Findings) != 0 {
			t.Errorf("-n istio-system: exit %d, findings %v; want 0, none", code, keys(r.Findings))
		}
		if _, stderr, code := read("-n", "istio-system", "--istio-namespace", "other"); code != 3 || !strings.Contains(stderr, "two namespaces") {
			t.Errorf("-n and --istio-namespace disagreeing: exit %d; want 3\nstderr: %s", code, stderr)
		}

		// KUBECONFIG naming a file that does not exist: the error names it.
		missing := filepath.Join(t.TempDir(), "nonexistent")
		_, stderr, code = labtest.RunEnv(t, l, []string{"KUBECONFIG=" + missing}, "doctor", "--no-probes")
		if code != 3 || !strings.Contains(stderr, missing+" (no such file)") {
			t.Errorf("KUBECONFIG=%s: exit %d; want 3 naming the file\nstderr: %s", missing, code, stderr)
		}
	})

	t.Run("dead clusters are reported within the timeout and hide nothing", func(t *testing.T) {
		kubeconfig := withDeadContexts(t, l)
		const timeout = 3 * time.Second
		start := time.Now()
		out, stderr, code := labtest.Run(t, l, "--kubeconfig", kubeconfig, "doctor", "-o", "json",
			"--timeout", timeout.String(), "--contexts", "east,west,central,refused,hung")
		elapsed := time.Since(start)
		// The read ends by --timeout; the probes then get --probe-timeout
		// (by default as much) of their own.
		if elapsed > 2*timeout+time.Second {
			t.Errorf("doctor took %s with --timeout %s", elapsed.Round(time.Millisecond), timeout)
		}
		if code != 2 {
			t.Errorf("exit code %d, want 2\nstderr: %s", code, stderr)
		}
		r := parseReport(t, out)
		// The hung read names the time left of the run's deadline when it began (2.9s under load):
		// no figure is asserted.
		dead := map[string]string{"refused": "connection refused", "hung": "no answer within "}
		for _, c := range r.Clusters {
			if want, isDead := dead[c.Context]; isDead != !c.Reachable || (isDead && !strings.Contains(c.Error, want)) {
				t.Errorf("cluster %s: reachable %v, error %q", c.Context, c.Reachable, c.Error)
			}
		}
		// The hung cluster uses up the read's time, but the probes have
		// their own budget: the live clusters are reported in full, probes
		// included, exactly as without the dead ones.
		if k := keys(without(r.Findings, "MF0001")); !reflect.DeepEqual(k, demoFindings) {
			t.Errorf("the live clusters' findings changed with dead ones beside them: %v, want %v", k, demoFindings)
		}
		for _, f := range r.Findings {
			if f.Severity == "unknown" {
				t.Errorf("unknown with the probes' own budget: %s %v %s", f.Check, f.Contexts, f.Message)
			}
		}
		var mf0001 []string
		for _, f := range r.Findings {
			if f.Check == "MF0001" {
				mf0001 = append(mf0001, strings.Join(f.Contexts, ","))
			}
		}
		if !reflect.DeepEqual(mf0001, []string{"hung", "refused"}) {
			t.Errorf("MF0001 for %v, want hung and refused", mf0001)
		}
	})

	t.Run("following the mesh to a hung cluster stays within the timeout", func(t *testing.T) {
		kubeconfig := withDeadContexts(t, l)
		cfg, err := clientcmd.LoadFromFile(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		// A remote secret in east that points at the hung server, which the
		// kubeconfig reaches as context "hung": following the mesh adds it.
		hungServer := cfg.Clusters["hung"].Server
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-remote-secret-hung",
				Labels: map[string]string{"istio/multiCluster": "true"}},
			StringData: map[string]string{"hung": "apiVersion: v1\nkind: Config\nclusters:\n- name: hung\n  cluster:\n    server: " + hungServer +
				"\ncontexts:\n- name: hung\n  context:\n    cluster: hung\n    user: hung\ncurrent-context: hung\nusers:\n- name: hung\n  user: {}\n"},
		}
		secrets := l.Client("east").CoreV1().Secrets("istio-system")
		if _, err := secrets.Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer secrets.Delete(context.Background(), secret.Name, metav1.DeleteOptions{})

		const timeout = 3 * time.Second
		start := time.Now()
		out, stderr, _ := labtest.Run(t, l, "--kubeconfig", kubeconfig, "--context", "east", "doctor", "-o", "json", "--timeout", timeout.String())
		if elapsed := time.Since(start); elapsed > 2*timeout+time.Second {
			t.Errorf("doctor took %s with --timeout %s (and --probe-timeout as much) while following the mesh", elapsed.Round(time.Millisecond), timeout)
		}
		r := parseReport(t, out)
		var got []string
		for _, c := range r.Clusters {
			got = append(got, c.Context)
		}
		if !reflect.DeepEqual(got, []string{"east", "hung", "west", "central"}) {
			t.Errorf("followed %v, want east, then hung and west from east's secrets, then central\n%s", got, stderr)
		}
	})

	t.Run("no cluster reachable exits 3", func(t *testing.T) {
		kubeconfig := withDeadContexts(t, l)
		_, stderr, code := labtest.Run(t, l, "--kubeconfig", kubeconfig, "doctor", "--timeout", "1s", "--contexts", "refused,hung")
		if code != 3 {
			t.Errorf("exit code %d, want 3\n%s", code, stderr)
		}
	})

	t.Run("no secret material in any output", func(t *testing.T) {
		secrets := labSecrets(t, l)
		if len(secrets) < 5 {
			t.Fatalf("found only %d secret values to look for", len(secrets))
		}
		for _, format := range []string{"text", "json", "yaml"} {
			out, stderr, _ := labtest.Run(t, l, "doctor", "-o", format, "--contexts", "east,west,central")
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(stderr, s) {
					t.Errorf("-o %s shows secret material (%d bytes, starting %.6q…)", format, len(s), s)
				}
			}
		}
	})
}

func TestDoctorOnHealthyLab(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 3)
	out, stderr, code := labtest.Run(t, l, "doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ","))
	r := parseReport(t, out)
	if code != 0 || len(r.Findings) != 0 {
		t.Errorf("healthy lab: exit %d, findings %v\nstderr: %s", code, keys(r.Findings), stderr)
	}
	if r.Summary.Checks == 0 {
		t.Error("no checks ran")
	}
}

// withDeadContexts writes a copy of the lab's kubeconfig with two more
// contexts: "refused" (nothing listens) and "hung" (a TLS server that
// completes the handshake and never answers).
func withDeadContexts(t *testing.T, l *lab.Lab) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(l.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := closed.Addr().String()
	closed.Close()

	hung := hungTLSServer(t)
	anyUser := cfg.Contexts[cfg.CurrentContext].AuthInfo
	for name, addr := range map[string]string{"refused": refusedAddr, "hung": hung} {
		cl := *cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]
		cl.Server = "https://" + addr
		cl.CertificateAuthorityData, cl.InsecureSkipTLSVerify = nil, true
		cfg.Clusters[name] = &cl
		kctx := *cfg.Contexts[cfg.CurrentContext]
		kctx.Cluster, kctx.AuthInfo = name, anyUser
		cfg.Contexts[name] = &kctx
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func hungTLSServer(t *testing.T) string {
	t.Helper()
	cert, err := tls.X509KeyPair(localhostCert, localhostKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() { _ = c.(*tls.Conn).Handshake() }() // then silence
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// labSecrets returns every secret value in the lab that must never be
// shown (labtest.Secrets).
func labSecrets(t *testing.T, l *lab.Lab) []string { return labtest.Secrets(t, l) }

func tokensIn(kubeconfig string) []string { return labtest.TokensIn(kubeconfig) }

package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

// labelFixer answers labelCheck's findings (label key=bad on a cluster's
// default namespace) by setting key=good there.
type labelFixer struct {
	id  checks.ID
	key string
	in  *fix.Input // the last input it planned from
}

func (l *labelFixer) Answers() []checks.ID { return []checks.ID{l.id} }

func (l *labelFixer) Plan(in fix.Input) (fix.Plan, error) {
	l.in = &in
	var p fix.Plan
	for _, f := range in.FindingsOf(l.id) {
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName("default")
		ns.SetLabels(map[string]string{l.key: "good"})
		p.Changes = append(p.Changes, fix.Change{Context: f.Contexts[0], Object: ns, Answers: []checks.ID{l.id},
			Reason: "the test's " + l.key + " label is bad"})
	}
	return p, nil
}

// fixMesh is a fakeMesh whose Apply changes the fake clusters' labels, so
// that reading them again sees the change, and rejects every change in the
// contexts of reject.
type fixMesh struct {
	*fakeMesh
	reject  map[string]bool
	applied []fix.ApplyOptions
	fixer   *labelFixer
}

func newFixMesh(t *testing.T) *fixMesh {
	return &fixMesh{fakeMesh: &fakeMesh{t: t}, fixer: &labelFixer{id: "MF1001", key: "id"}}
}

func (m *fixMesh) backend() Backend {
	b := m.fakeMesh.backend()
	b.Fixers = func() []fix.Fixer { return []fix.Fixer{m.fixer, &labelFixer{id: "MF5001", key: "zone"}} }
	b.Apply = func(_ context.Context, p fix.Plan, _ fix.Clients, o fix.ApplyOptions) fix.Result {
		m.applied = append(m.applied, o)
		var r fix.Result
		for _, c := range p.Changes {
			out := fix.Outcome{Key: fix.KeyOf(c), Answers: c.Answers, Action: fix.Configured, DryRun: o.DryRun}
			if m.reject[c.Context] {
				out.Action, out.Detail = fix.Failed, "admission webhook denied the request"
			} else if !o.DryRun {
				ns := &m.clusters[c.Context].Namespaces[0]
				for k, v := range c.Object.GetLabels() {
					ns.Labels[k] = v
				}
			}
			r.Outcomes = append(r.Outcomes, out)
		}
		return r
	}
	return b
}

func TestFixFlagValidation(t *testing.T) {
	dir := t.TempDir()
	root := pkitest.NewRoot("mesh root", pkitest.Opts{})
	other := pkitest.NewRoot("other root", pkitest.Opts{})
	leaf := root.Issue("not a CA", pkitest.Opts{NotCA: true})
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootCert, rootKey, otherKey := write("root.pem", root.CertPEM()), write("root-key.pem", root.KeyPEM()), write("other-key.pem", other.KeyPEM())
	leafCert, leafKey := write("leaf.pem", leaf.CertPEM()), write("leaf-key.pem", leaf.KeyPEM())
	file := write("file", []byte("x"))
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--dry-run", "maybe"}, "--dry-run must be none, client or server"},
		{[]string{"--dry-run", "none"}, "say --apply"},
		{[]string{"--only", "MF9999"}, `--only: "MF9999" is neither`},
		{[]string{"--aws-lb", "public"}, "--aws-lb must be internal or internet-facing"},
		{[]string{"--token-duration", "5m"}, "--token-duration must be at least 10m0s"},
		{[]string{"--remote-server", "east"}, "want CONTEXT=URL"},
		{[]string{"--remote-server", "east=10.0.0.1:6443"}, "is not an http(s) URL"},
		{[]string{"--remote-server", "east=https://a", "--remote-server", "east=https://b"}, "twice"},
		{[]string{"-s", "east=https://a"}, "is --remote-server CONTEXT=URL"},
		{[]string{"--network", "east=not a label"}, "is not a label value"},
		{[]string{"--root-cert", rootCert}, "--root-cert and --root-key go together"},
		{[]string{"--root-cert", rootCert, "--root-key", otherKey}, "root key is not the private key of"},
		{[]string{"--root-cert", leafCert, "--root-key", leafKey}, "cannot sign intermediates"},
		{[]string{"--root-cert", rootKey, "--root-key", rootKey}, `PEM block 1 is a "PRIVATE KEY", not a CERTIFICATE`},
		{[]string{"--root-cert", rootCert, "--root-key", filepath.Join(dir, "absent")}, "--root-key: open"},
		{[]string{"--output-dir", file}, "is not a directory"},
		{[]string{"--intermediate-key-dir", file}, "is not a directory"},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			m := newFixMesh(t)
			r := run(t, m.backend(), append([]string{"fix"}, tc.args...)...)
			r.expect(t, ExitFailed, tc.err)
			if m.chosen {
				t.Error("contexts were chosen despite invalid flags")
			}
			// The key's PEM never reaches an error.
			if strings.Contains(r.err.Error(), "PRIVATE KEY-----") || strings.Contains(r.stderr+r.stdout, "PRIVATE KEY-----") {
				t.Errorf("key material in the output: %v", r.err)
			}
		})
	}
}

func TestFixPassesOptionsToFixers(t *testing.T) {
	dir := t.TempDir()
	root := pkitest.NewRoot("mesh root", pkitest.Opts{})
	inter := root.Issue("mesh intermediate", pkitest.Opts{})
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	_ = os.WriteFile(certPath, inter.ChainPEM(), 0o600)
	_ = os.WriteFile(keyPath, inter.KeyPEM(), 0o600)
	m := newFixMesh(t)
	m.cluster("east", map[string]string{"id": "bad"})
	m.cluster("west", nil)
	run(t, m.backend(), "fix", "--root-cert", certPath, "--root-key", keyPath, "--allow-root-change",
		"--token-duration", "1h", "--remote-server", "west=https://10.0.0.2:6443", "--network", "east=net-east",
		"--aws-lb", "Internal", "--intermediate-key-dir", dir).expect(t, ExitOK, "")
	if m.fixer.in == nil {
		t.Fatal("the fixer did not plan")
	}
	o := m.fixer.in.Options
	if o.Root == nil || o.Root.Cert.Subject.CommonName != "mesh intermediate" || len(o.Root.Chain) != 1 || !o.Root.Key.Matches(inter.Cert) {
		t.Errorf("root %+v", o.Root)
	}
	if !o.AllowRootChange || o.TokenDuration.String() != "1h0m0s" || o.Servers["west"] != "https://10.0.0.2:6443" ||
		o.Networks["east"] != "net-east" || o.AWSLoadBalancer != "internal" || o.IntermediateKeyDir != dir || o.Now.IsZero() {
		t.Errorf("options %+v", o)
	}

	m = newFixMesh(t)
	m.cluster("east", nil)
	m.cluster("west", nil)
	run(t, m.backend(), "fix", "--network", "north=net").expect(t, ExitFailed, `--network names context "north", which this run does not read`)
}

func TestFixPrintsPlanOnly(t *testing.T) {
	m := newFixMesh(t)
	m.cluster("east", map[string]string{"id": "bad"})
	m.cluster("west", nil)
	r := run(t, m.backend(), "fix")
	r.expect(t, ExitOK, "")
	for _, want := range []string{"# context: east", "# answers: MF1001 Cluster IDs are unique", "id: good", "kind: Namespace"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if len(m.applied) != 0 || m.reread != 0 {
		t.Errorf("printing a plan applied %d times and re-read %d times", len(m.applied), m.reread)
	}
	if !strings.Contains(r.stderr, "Reading 2 contexts") {
		t.Errorf("stderr does not say which contexts were read:\n%s", r.stderr)
	}
}

func TestFixNothingToDo(t *testing.T) {
	for _, args := range [][]string{{"fix"}, {"fix", "--apply"}} {
		m := newFixMesh(t)
		m.cluster("east", nil)
		m.cluster("west", nil)
		r := run(t, m.backend(), args...)
		r.expect(t, ExitOK, "")
		if !strings.HasPrefix(r.stdout, "# nothing to do") {
			t.Errorf("%v: stdout does not say nothing to do:\n%s", args, r.stdout)
		}
		if len(m.applied) != 0 {
			t.Errorf("%v: an empty plan was applied", args)
		}
	}
}

func TestFixOnlyNarrowsTheFindings(t *testing.T) {
	m := newFixMesh(t)
	m.cluster("east", map[string]string{"id": "bad", "zone": "bad"})
	m.cluster("west", nil)
	r := run(t, m.backend(), "fix", "--only", "locality")
	r.expect(t, ExitOK, "")
	if m.fixer.in != nil {
		t.Error("the MF1001 fixer planned although --only names locality")
	}
	if !strings.Contains(r.stdout, "zone: good") || strings.Contains(r.stdout, "id: good") {
		t.Errorf("plan:\n%s", r.stdout)
	}
}

func TestFixApplyAndRecheck(t *testing.T) {
	m := newFixMesh(t)
	m.cluster("east", map[string]string{"id": "bad"})
	m.cluster("west", map[string]string{"id": "bad"})
	r := run(t, m.backend(), "fix", "--apply", "--timeout", "4s", "--force-conflicts")
	r.expect(t, ExitOK, "")
	if len(m.applied) != 1 || m.applied[0].DryRun || !m.applied[0].ForceConflicts || m.applied[0].Timeout.String() != "4s" {
		t.Errorf("apply options %+v", m.applied)
	}
	if m.reread != 1 {
		t.Errorf("re-read %d times, want once", m.reread)
	}
	for _, want := range []string{"Applied with server-side apply", "east  Namespace default  configured", "2 changes: 2 configured",
		"MF1001 Cluster IDs are unique: 2 errors → none"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestFixPartialFailure(t *testing.T) {
	m := newFixMesh(t)
	m.reject = map[string]bool{"west": true}
	m.cluster("east", map[string]string{"id": "bad"})
	m.cluster("west", map[string]string{"id": "bad"})
	r := run(t, m.backend(), "fix", "--apply")
	r.expect(t, ExitNotApplied, "")
	for _, want := range []string{"east  Namespace default  configured", "west  Namespace default  failed      admission webhook denied the request",
		"2 errors → 1 error", "remains (error) west: id is bad in west"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The obstacle gone, a second run converges.
	m.reject = nil
	m.fixer.in = nil
	r = run(t, m.backend(), "fix", "--apply")
	r.expect(t, ExitOK, "")
	if !strings.Contains(r.stdout, "1 error → none") {
		t.Errorf("second run:\n%s", r.stdout)
	}
}

func TestFixServerDryRun(t *testing.T) {
	m := newFixMesh(t)
	m.cluster("east", map[string]string{"id": "bad"})
	m.cluster("west", nil)
	r := run(t, m.backend(), "fix", "--dry-run=server")
	r.expect(t, ExitOK, "")
	if len(m.applied) != 1 || !m.applied[0].DryRun {
		t.Fatalf("apply options %+v, want one server dry run", m.applied)
	}
	if m.reread != 0 || m.clusters["east"].Namespaces[0].Labels["id"] != "bad" {
		t.Error("a server dry run changed or re-read the clusters")
	}
	if !strings.Contains(r.stdout, "Server-side dry run (nothing was changed)") {
		t.Errorf("output:\n%s", r.stdout)
	}
	// --apply --dry-run=client only prints, as kubectl's does.
	m = newFixMesh(t)
	m.cluster("east", map[string]string{"id": "bad"})
	run(t, m.backend(), "fix", "--apply", "--dry-run=client").expect(t, ExitOK, "")
	if len(m.applied) != 0 {
		t.Error("--dry-run=client applied")
	}
}

func TestFixOutputDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plan")
	m := newFixMesh(t)
	m.cluster("east", map[string]string{"id": "bad"})
	m.cluster("west", nil)
	r := run(t, m.backend(), "fix", "--output-dir", dir)
	r.expect(t, ExitOK, "")
	east := filepath.Join(dir, "east.yaml")
	data, err := os.ReadFile(east)
	if err != nil || !strings.Contains(string(data), "# context: east") {
		t.Fatalf("east.yaml: %v\n%s", err, data)
	}
	if _, err := os.Stat(filepath.Join(dir, "west.yaml")); !os.IsNotExist(err) {
		t.Errorf("west, with nothing planned, has a file: %v", err)
	}
	if !strings.Contains(r.stdout, east+": wrote") {
		t.Errorf("stdout does not name the file written:\n%s", r.stdout)
	}
	run(t, m.backend(), "fix", "--output-dir", dir).expect(t, ExitOK, "")
	_ = os.WriteFile(east, []byte("# mine\n"), 0o644)
	r = run(t, m.backend(), "fix", "--output-dir", dir)
	if !strings.Contains(r.stdout, east+": replaced (it held something else)") {
		t.Errorf("replacing a different file is not said:\n%s", r.stdout)
	}
	if planFileName("arn:aws:eks:eu-west-1:1:cluster/east") != "arn:aws:eks:eu-west-1:1:cluster_east.yaml" || planFileName("..") != "_..yaml" {
		t.Error("planFileName")
	}
}

// TestFixTakesKubectlServer: -s/--server is kubectl's flag in fix too, as
// the root's help says (fix's own CONTEXT=URL flag once shadowed it).
func TestFixTakesKubectlServer(t *testing.T) {
	m := newFixMesh(t)
	r := run(t, m.backend(), "fix", "-s", "https://api.example:6443")
	if r.err != nil && strings.Contains(r.err.Error(), "unknown shorthand") {
		t.Fatalf("fix -s URL: %v", r.err)
	}
	if !m.chosen {
		t.Errorf("fix -s URL did not run: %v", r.err)
	}
}

package trust

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/internal/awstest"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/pca"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	checktrust "github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
	"github.com/meshfed/kubectl-meshfed/pkg/pki/pkitest"
)

var now = time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)

func fleetOf(t *testing.T, cs []pkitest.Cluster) *model.Fleet {
	t.Helper()
	f := &model.Fleet{IstioNamespace: "istio-system"}
	for _, pc := range cs {
		c := &model.Cluster{Context: pc.Context, IstioNamespace: "istio-system", Reachable: true}
		if err := fleet.AddManifests(c, pc.Manifests("istio-system")); err != nil {
			t.Fatal(err)
		}
		f.Clusters = append(f.Clusters, c)
	}
	return f
}

// diagnose runs the trust checks the way doctor does, at now.
func diagnose(f *model.Fleet) []checks.Finding {
	opts := checktrust.DefaultOptions()
	opts.Now = now
	var out []checks.Finding
	for _, c := range checktrust.ChecksWith(opts) {
		for _, fd := range c.Run(f) {
			fd.Check = c.ID()
			if fd.Severity == 0 {
				m, _ := checks.DefaultCatalog().Lookup(c.ID())
				fd.Severity = m.Severity
			}
			out = append(out, fd)
		}
	}
	return out
}

func errorsOf(fs []checks.Finding) []checks.ID {
	var out []checks.ID
	for _, f := range fs {
		if f.Severity == checks.SeverityError && !slices.Contains(out, f.Check) {
			out = append(out, f.Check)
		}
	}
	return out
}

type meshRoot struct {
	cert *x509.Certificate
	key  *pki.Key
}

func newMeshRoot(t *testing.T) meshRoot {
	t.Helper()
	key, err := pki.GenerateKey(pki.DefaultRootAlgorithm)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.NewRoot(key, pki.RootOptions{NotBefore: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return meshRoot{cert, key}
}

func (r meshRoot) options() fix.Options {
	return fix.Options{Root: &fix.Root{Cert: r.cert, Key: r.key}, Now: now}
}

// fromPkitest is the scenario's root as the user's --root-cert/--root-key.
func fromPkitest(ca *pkitest.CA) fix.Options {
	return fix.Options{Root: &fix.Root{Cert: ca.Cert, Key: pki.WrapKey(ca.Key)}, Now: now}
}

func plan(t *testing.T, f *model.Fleet, opts fix.Options) fix.Plan {
	t.Helper()
	p, err := New().Plan(fix.Input{Fleet: f, Findings: diagnose(f), Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// apply does what --apply and then the user's restarts do: each change's
// Secret replaces the cluster's cacerts, and istiod (restarted) publishes
// the new root-cert.pem in istio-ca-root-cert everywhere.
func apply(t *testing.T, cs []pkitest.Cluster, p fix.Plan) []pkitest.Cluster {
	t.Helper()
	out := slices.Clone(cs)
	for _, ch := range p.Changes {
		obj, err := ch.Complete(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := ch.Complete(context.Background(), nil)
		if !equalData(obj.Object["data"], again.Object["data"]) {
			t.Fatal("Complete issued twice: a dry run and the apply would install different intermediates")
		}
		data := map[string][]byte{}
		for k, v := range obj.Object["data"].(map[string]any) {
			b, err := base64.StdEncoding.DecodeString(v.(string))
			if err != nil {
				t.Fatal(err)
			}
			data[k] = b
		}
		typ, _ := obj.Object["type"].(string)
		i := slices.IndexFunc(out, func(c pkitest.Cluster) bool { return c.Context == ch.Context })
		c := out[i]
		c.Secrets = []pkitest.Secret{{Name: "cacerts", Type: typ, Data: data}}
		root := data["root-cert.pem"]
		if root == nil {
			root = data["ca.crt"]
		}
		c.RootCerts = map[string][]byte{}
		for ns := range cs[i].RootCerts {
			c.RootCerts[ns] = root
		}
		c.IstiodEnv = nil
		out[i] = c
	}
	return out
}

func equalData(a, b any) bool {
	am, bm := a.(map[string]any), b.(map[string]any)
	for k, v := range am {
		if bm[k] != v {
			return false
		}
	}
	return len(am) == len(bm)
}

func contexts(p fix.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.Context)
	}
	return out
}

// plugged is a primary with cacerts from ca whose workloads trust ca's root.
func plugged(ctx string, ca *pkitest.CA) pkitest.Cluster {
	root := ca.Root().CertPEM()
	return pkitest.Cluster{Context: ctx, Secrets: []pkitest.Secret{pkitest.CACerts(ca)}, RootCerts: map[string][]byte{"istio-system": root, "default": root}}
}

// faults builds the trust faults of pkitest's scenarios around a root A
// whose key the test holds: east is broken, west is sound under A.
func faults(a *pkitest.CA) map[string][]pkitest.Cluster {
	west := plugged("west", a.Issue("intermediate west", pkitest.Opts{}))
	east := a.Issue("intermediate east", pkitest.Opts{})
	b := pkitest.NewRoot("root B", pkitest.Opts{})
	out := map[string][]pkitest.Cluster{}
	out["two-roots"] = []pkitest.Cluster{plugged("east", b.Issue("intermediate east", pkitest.Opts{})), west}

	self := pkitest.NewRoot("Istio self-signed root east", pkitest.Opts{Organization: "cluster.local"})
	out["self-signed"] = []pkitest.Cluster{{Context: "east", Secrets: []pkitest.Secret{pkitest.SelfSigned(self)},
		RootCerts: map[string][]byte{"istio-system": self.CertPEM(), "default": self.CertPEM()}}, west}

	out["expired-intermediate"] = []pkitest.Cluster{plugged("east", a.Issue("expired", pkitest.Opts{
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)})), west}
	out["expiring-intermediate"] = []pkitest.Cluster{plugged("east", a.Issue("expiring", pkitest.Opts{NotAfter: now.Add(10 * 24 * time.Hour)})), west}

	stray := plugged("east", pkitest.NewRoot("root X", pkitest.Opts{}).Issue("intermediate east", pkitest.Opts{}))
	stray.Secrets[0].Data["root-cert.pem"] = a.CertPEM()
	stray.RootCerts = map[string][]byte{"istio-system": a.CertPEM(), "default": a.CertPEM()}
	out["chain-not-to-root"] = []pkitest.Cluster{stray, west}

	noInter := plugged("east", east)
	noInter.Secrets[0].Data["cert-chain.pem"] = a.CertPEM()
	out["chain-missing-intermediate"] = []pkitest.Cluster{noInter, west}

	out["key-mismatch"] = []pkitest.Cluster{plugged("east", east.WithKey(pkitest.NewRoot("other", pkitest.Opts{}).Key)), west}
	out["not-ca"] = []pkitest.Cluster{plugged("east", a.Issue("not a CA", pkitest.Opts{NotCA: true})), west}
	out["no-cert-sign"] = []pkitest.Cluster{plugged("east", a.Issue("no keyCertSign", pkitest.Opts{NoCertSign: true})), west}

	incomplete := plugged("east", east)
	delete(incomplete.Secrets[0].Data, "ca-key.pem")
	out["incomplete-bundle"] = []pkitest.Cluster{incomplete, west}

	tlsEast := plugged("east", east)
	tlsEast.Secrets = []pkitest.Secret{pkitest.TLSCACerts(b.Issue("intermediate east", pkitest.Opts{}))}
	tlsEast.RootCerts = map[string][]byte{"istio-system": b.CertPEM()}
	out["tls-layout-two-roots"] = []pkitest.Cluster{tlsEast, west}

	out["shared-root"] = []pkitest.Cluster{plugged("east", east), west}
	return out
}

// Every trust fault a fresh intermediate fixes: the plan answers it, and
// after the apply and the restarts the doctor finds no trust error and a
// second plan is empty.
func TestFixConverges(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		// newRoot: the user gives a new root (ca init) instead of A.
		newRoot     bool
		changes     []string
		rootChange  []string
		wantAnswers []checks.ID
	}{
		{scenario: "two-roots", changes: []string{"east"}, rootChange: []string{"east"}, wantAnswers: []checks.ID{noCommonRoot}},
		{scenario: "two-roots", newRoot: true, changes: []string{"east", "west"}, rootChange: []string{"east", "west"}, wantAnswers: []checks.ID{noCommonRoot}},
		{scenario: "self-signed", changes: []string{"east"}, rootChange: []string{"east"}, wantAnswers: []checks.ID{noCommonRoot, selfSigned}},
		{scenario: "expired-intermediate", changes: []string{"east"}, wantAnswers: []checks.ID{noCommonRoot, expiry}},
		{scenario: "expiring-intermediate", changes: []string{"east"}, wantAnswers: []checks.ID{expiry}},
		{scenario: "chain-not-to-root", changes: []string{"east"}, wantAnswers: []checks.ID{noCommonRoot, chainNotRoot}},
		{scenario: "chain-not-to-root", newRoot: true, changes: []string{"east", "west"}, rootChange: []string{"east", "west"}, wantAnswers: []checks.ID{noCommonRoot}},
		{scenario: "chain-missing-intermediate", changes: []string{"east"}, wantAnswers: []checks.ID{chainNotRoot}},
		{scenario: "key-mismatch", changes: []string{"east"}, wantAnswers: []checks.ID{noCommonRoot, keyMismatch}},
		{scenario: "not-ca", changes: []string{"east"}, wantAnswers: []checks.ID{notUsableCA}},
		{scenario: "no-cert-sign", changes: []string{"east"}, wantAnswers: []checks.ID{noCommonRoot, notUsableCA}},
		{scenario: "incomplete-bundle", changes: []string{"east"}, wantAnswers: []checks.ID{unparseableCA}},
		{scenario: "tls-layout-two-roots", changes: []string{"east"}, rootChange: []string{"east"}, wantAnswers: []checks.ID{noCommonRoot}},
		{scenario: "shared-root"},
	} {
		name := tc.scenario
		if tc.newRoot {
			name += "/new-root"
		}
		t.Run(name, func(t *testing.T) {
			a := pkitest.NewRoot("root A", pkitest.Opts{})
			cs := faults(a)[tc.scenario]
			f := fleetOf(t, cs)
			opts := fix.Options{Root: &fix.Root{Cert: a.Cert, Key: pki.WrapKey(a.Key)}, Now: now}
			if tc.newRoot {
				opts = newMeshRoot(t).options()
			}
			if len(tc.rootChange) > 0 {
				p := plan(t, f, opts)
				var refused []string
				for _, r := range p.Refused {
					refused = append(refused, r.Context)
					if !strings.Contains(r.Reason, "--allow-root-change") {
						t.Errorf("refusal %q", r.Reason)
					}
				}
				if !slices.Equal(refused, tc.rootChange) || slices.ContainsFunc(p.Changes, func(c fix.Change) bool { return slices.Contains(tc.rootChange, c.Context) }) {
					t.Fatalf("without --allow-root-change: changes in %v, refused %v, want %v refused", contexts(p), refused, tc.rootChange)
				}
				if !hasNote(p, "multi-root migration") {
					t.Error("a refused root change still explains the migration")
				}
				opts.AllowRootChange = true
			}
			p := plan(t, f, opts)
			if got := contexts(p); !slices.Equal(got, tc.changes) {
				t.Fatalf("changes in %v, want %v (refused: %+v)", got, tc.changes, p.Refused)
			}
			for _, ch := range p.Changes {
				for _, id := range tc.wantAnswers {
					if !slices.Contains(ch.Answers, id) {
						t.Errorf("%s answers %v, want %s among them", ch.Context, ch.Answers, id)
					}
				}
				if ch.Complete == nil || !allEmpty(ch.Object.Object["data"]) || ch.Phase != fix.PhaseIdentity {
					t.Error("the key and certificate must be made when applying, not in the printed plan")
				}
				if strings.Contains(ch.Reason+ch.Pending, "PRIVATE KEY") || strings.Contains(ch.Reason, "BEGIN CERTIFICATE") {
					t.Error("key or certificate material in the plan text")
				}
			}
			if len(p.Changes) > 0 && !hasNote(p, "rollout restart deployment/istiod") {
				t.Error("the plan must say to restart istiod and the workloads")
			}
			after := fleetOf(t, apply(t, cs, p))
			if errs := errorsOf(diagnose(after)); len(errs) > 0 {
				for _, fd := range diagnose(after) {
					t.Logf("%s %v: %s", fd.Check, fd.Contexts, fd.Message)
				}
				t.Fatalf("trust errors after the fix: %v", errs)
			}
			again := plan(t, after, opts)
			if len(again.Changes)+len(again.Refused) != 0 {
				t.Errorf("a second plan: %d changes, refused %+v", len(again.Changes), again.Refused)
			}
		})
	}
}

func hasNote(p fix.Plan, s string) bool {
	for _, n := range p.Notes {
		if strings.Contains(n.Text, s) {
			return true
		}
	}
	return false
}

func TestRefusals(t *testing.T) {
	a := pkitest.NewRoot("root A", pkitest.Opts{})
	fs := faults(a)
	opts := fix.Options{Root: &fix.Root{Cert: a.Cert, Key: pki.WrapKey(a.Key)}, Now: now}

	// No root given: one refusal that says how to get one.
	p := plan(t, fleetOf(t, fs["two-roots"]), fix.Options{Now: now})
	if len(p.Changes) != 0 || len(p.Refused) != 1 || !strings.Contains(p.Refused[0].Reason, "ca init") || !strings.Contains(p.Refused[0].Reason, "--root-key") {
		t.Errorf("no root: %+v", p)
	}

	// istio-csr (external CA) and cert-manager's cacerts are not replaced.
	csr := pkitest.Cluster{Context: "east", IstiodEnv: map[string]string{"ENABLE_CA_SERVER": "false"},
		RootCerts: map[string][]byte{"istio-system": pkitest.NewRoot("csr root", pkitest.Opts{}).CertPEM()}}
	cm := plugged("east", pkitest.NewRoot("cm root", pkitest.Opts{}).Issue("cm east", pkitest.Opts{}))
	cm.Secrets[0].Annotations = map[string]string{"cert-manager.io/certificate-name": "istio-ca", "cert-manager.io/issuer-kind": "ClusterIssuer", "cert-manager.io/issuer-name": "mesh-root"}
	for name, east := range map[string]pkitest.Cluster{"does not sign workload certificates itself": csr, "written by cert-manager": cm} {
		cs := []pkitest.Cluster{east, fs["two-roots"][1]}
		o := opts
		o.AllowRootChange = true
		p := plan(t, fleetOf(t, cs), o)
		if len(p.Changes) != 0 || len(p.Refused) != 1 || !strings.Contains(p.Refused[0].Reason, name) {
			t.Errorf("%s: changes %v, refused %+v", name, contexts(p), p.Refused)
		}
	}

	// A root that expires within the warning window cannot carry intermediates.
	short := pkitest.NewRoot("short root", pkitest.Opts{NotAfter: now.Add(20 * 24 * time.Hour)})
	_, err := New().Plan(fix.Input{Fleet: fleetOf(t, fs["two-roots"]), Findings: diagnose(fleetOf(t, fs["two-roots"])),
		Options: fix.Options{Root: &fix.Root{Cert: short.Cert, Key: pki.WrapKey(short.Key)}, Now: now}})
	if err == nil || !strings.Contains(err.Error(), "expiring") {
		t.Errorf("an expiring root: %v", err)
	}
	// A key that is not the root's is bad options.
	_, err = New().Plan(fix.Input{Fleet: fleetOf(t, fs["two-roots"]), Findings: diagnose(fleetOf(t, fs["two-roots"])),
		Options: fix.Options{Root: &fix.Root{Cert: a.Cert, Key: pki.WrapKey(short.Key)}, Now: now}})
	if err == nil || !strings.Contains(err.Error(), "not the key") || strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("a key that is not the root's: %v", err)
	}
}

// Only what the findings name is fixed, and only what an intermediate fixes.
func TestAnswersOnlyItsFindings(t *testing.T) {
	a := pkitest.NewRoot("root A", pkitest.Opts{})
	fs := faults(a)
	opts := fix.Options{Root: &fix.Root{Cert: a.Cert, Key: pki.WrapKey(a.Key)}, Now: now, AllowRootChange: true}

	// --only MF2007 in a fleet where east also has another root: nothing,
	// since east's intermediate is not what expires.
	f := fleetOf(t, fs["two-roots"])
	var only []checks.Finding
	for _, fd := range diagnose(f) {
		if fd.Check == expiry {
			only = append(only, fd)
		}
	}
	p, err := New().Plan(fix.Input{Fleet: f, Findings: only, Options: opts})
	if err != nil || len(p.Changes) != 0 {
		t.Errorf("--only MF2007 on two roots: %v %v", contexts(p), err)
	}

	// A ConfigMap holding a stray root (MF2010) is istiod's to rewrite.
	mismatched := plugged("east", a.Issue("east", pkitest.Opts{}))
	mismatched.RootCerts["default"] = pkitest.NewRoot("B", pkitest.Opts{}).CertPEM()
	f = fleetOf(t, []pkitest.Cluster{mismatched, fs["shared-root"][1]})
	if p := plan(t, f, opts); len(p.Changes)+len(p.Refused) != 0 {
		t.Errorf("MF2010 alone: changes %v refused %+v", contexts(p), p.Refused)
	}

	// A remote cluster has no CA: only the primary is planned.
	remote := pkitest.Cluster{Context: "west", Remote: true, RootCerts: map[string][]byte{"istio-system": a.CertPEM()}}
	b := pkitest.NewRoot("B", pkitest.Opts{})
	f = fleetOf(t, []pkitest.Cluster{plugged("east", b.Issue("east", pkitest.Opts{})), remote})
	fds := diagnose(f)
	for i := range fds {
		fds[i].Contexts = append(fds[i].Contexts, "west") // as if a finding named the remote too
	}
	p, err = New().Plan(fix.Input{Fleet: f, Findings: append(fds, checks.Finding{Check: noCommonRoot, Contexts: []string{"east", "west"}}), Options: opts})
	if err != nil || !slices.Equal(contexts(p), []string{"east"}) {
		t.Errorf("primary-remote: changes %v, %v", contexts(p), err)
	}
}

func TestLayoutAndKeyDir(t *testing.T) {
	a := pkitest.NewRoot("root A", pkitest.Opts{})
	cs := faults(a)["tls-layout-two-roots"]
	dir := filepath.Join(t.TempDir(), "keys")
	opts := fix.Options{Root: &fix.Root{Cert: a.Cert, Key: pki.WrapKey(a.Key)}, Now: now, AllowRootChange: true, IntermediateKeyDir: dir}
	p := plan(t, fleetOf(t, cs), opts)
	if len(p.Changes) != 1 {
		t.Fatalf("changes %v", contexts(p))
	}
	ch := p.Changes[0]
	if ch.Object.Object["type"] != "kubernetes.io/tls" || !strings.Contains(ch.Pending, "tls.crt, tls.key, ca.crt") || !strings.Contains(ch.Pending, "mode 0600") {
		t.Errorf("type %v, pending %q", ch.Object.Object["type"], ch.Pending)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatal("planning must not write key files")
	}
	dry, err := ch.Complete(fix.WithDryRun(context.Background()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatal("a server-side dry run must not write key files")
	}
	obj, err := ch.Complete(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !equalData(dry.Object["data"], obj.Object["data"]) {
		t.Fatal("the dry run and the apply must send the same intermediate")
	}
	data := obj.Object["data"].(map[string]any)
	dec := func(k string) []byte { b, _ := base64.StdEncoding.DecodeString(data[k].(string)); return b }
	chain, err := pki.ParseCertificates(dec("tls.crt"))
	if err != nil || len(chain) != 1 {
		t.Fatalf("tls.crt: %d certificates (%v), want the intermediate alone (the root is in ca.crt)", len(chain), err)
	}
	roots, _ := pki.ParseCertificates(dec("ca.crt"))
	if len(roots) != 2 || !roots[0].Equal(a.Cert) {
		t.Errorf("ca.crt holds %d roots, want the new root then the old", len(roots))
	}
	entries, _ := os.ReadDir(dir)
	var keyFile string
	for _, e := range entries {
		info, _ := e.Info()
		if strings.HasSuffix(e.Name(), "-ca-key.pem") {
			keyFile = filepath.Join(dir, e.Name())
			if info.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", e.Name(), info.Mode().Perm())
			}
		}
		if !strings.HasPrefix(e.Name(), "east-"+keyFileID(chain[0])) {
			t.Errorf("file %s is not named after the context and the intermediate", e.Name())
		}
	}
	kb, _ := os.ReadFile(keyFile)
	if key, err := pki.ParsePrivateKey(kb); err != nil || !key.Matches(chain[0]) || string(kb) != string(dec("tls.key")) {
		t.Errorf("the key file is not the Secret's key of the intermediate: %v", err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v", st.Mode().Perm())
	}
}

func TestKeyFileStem(t *testing.T) {
	for in, want := range map[string]string{"east": "east", "arn:aws:eks:eu-west-1:123:cluster/prod": "arn_aws_eks_eu-west-1_123_cluster_prod", "../x": "x"} {
		if got := keyFileStem(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// allEmpty: the printed Secret names its keys and holds no value.
func allEmpty(data any) bool {
	m, ok := data.(map[string]any)
	if !ok || len(m) == 0 {
		return false
	}
	for _, v := range m {
		if v != "" {
			return false
		}
	}
	return true
}

// countingIssuer stands for an issuer outside this process (AWS Private CA).
type countingIssuer struct {
	pki.Issuer
	calls int
}

func (c *countingIssuer) IssueIntermediate(ctx context.Context, req pki.IntermediateRequest) (pki.Issued, error) {
	c.calls++
	return c.Issuer.IssueIntermediate(ctx, req)
}

// A remote issuer is not asked for the dry run, and once for the apply.
func TestRemoteIssuerIssuesOnlyWhenApplying(t *testing.T) {
	a := pkitest.NewRoot("root A", pkitest.Opts{})
	local, err := pki.NewLocalIssuer(a.Cert, nil, pki.WrapKey(a.Key), now)
	if err != nil {
		t.Fatal(err)
	}
	iss := &countingIssuer{Issuer: local}
	f := fleetOf(t, faults(a)["expired-intermediate"])
	p, err := New().Plan(fix.Input{Fleet: f, Findings: diagnose(f), Options: fix.Options{Issuer: iss, Now: now}})
	if err != nil || len(p.Changes) != 1 {
		t.Fatalf("plan: %v, %d changes", err, len(p.Changes))
	}
	if _, err := p.Changes[0].Complete(fix.WithDryRun(context.Background()), nil); err == nil || iss.calls != 0 {
		t.Errorf("dry run: err %v, %d issued", err, iss.calls)
	}
	for range 2 {
		if _, err := p.Changes[0].Complete(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if iss.calls != 1 {
		t.Errorf("issued %d times, want once", iss.calls)
	}
}

// An intermediate the issuer returns that cannot serve as istiod's CA is
// refused when applying, through the same check as ca issue
// (pki.NewIntermediate): Complete gives no Secret, and no key file is
// written. The issuer is AWS Private CA on the local test endpoint, signing
// with another template than asked.
func TestRefusedIntermediateIsNeverApplied(t *testing.T) {
	s := awstest.New()
	if err := s.StartTLS(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ca, err := s.PCA.CreateCA(awstest.CAOptions{CommonName: "corp root"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := pca.Client(s.Config(), ca.ARN)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := pca.NewIssuer(context.Background(), client, ca.ARN, pca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := pkitest.NewRoot("root A", pkitest.Opts{})
	f := fleetOf(t, faults(a)["expired-intermediate"])
	for fault, want := range map[string]string{
		"arn:aws:acm-pca:::template/EndEntityCertificate/V1":              "basicConstraints does not mark it as a CA",
		"arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen2/V1": "path length is 2, but the template asks for pathlen 0",
	} {
		s.PCA.SetIssueFault(awstest.IssueFault{Template: fault})
		dir := filepath.Join(t.TempDir(), "keys")
		p, err := New().Plan(fix.Input{Fleet: f, Findings: diagnose(f), Options: fix.Options{Issuer: iss, Now: time.Now(), AllowRootChange: true, IntermediateKeyDir: dir}})
		if err != nil || len(p.Changes) == 0 {
			t.Fatalf("plan: %v, %d changes", err, len(p.Changes))
		}
		obj, err := p.Changes[0].Complete(context.Background(), nil)
		if obj != nil || err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "SubordinateCACertificate_PathLen0/V1") {
			t.Errorf("%s: want a refusal saying %q and naming the template, got %v", fault, want, err)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: the key directory was created", fault)
		}
	}
}

package discovery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/fixtest"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/probe"
)

// fixtures are the discovery checks' own fixtures (pkg/checks/all/testdata).
const fixtures = "../../checks/all/testdata"

// planFixture runs the discovery checks on a fixture and plans from their
// findings, as `fix` does.
func planFixture(t *testing.T, dir string, o fix.Options) (fix.Plan, []checks.Finding) {
	t.Helper()
	f, err := fleet.LoadDir(dir, "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{"discovery"}})
	plan, err := Fixer{}.Plan(fix.Input{Fleet: f, Findings: res.Findings, Options: o})
	if err != nil {
		t.Fatal(err)
	}
	return plan, res.Findings
}

// describe renders a plan for the golden files: every change with its
// object (no data: a remote secret's is filled in at apply), notes and
// refusals.
func describe(t *testing.T, p fix.Plan) string {
	t.Helper()
	var b strings.Builder
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "change %s phase=%d %s %s/%s answers=%v takeOver=%v\n  reason: %s\n", c.Context, c.Phase, c.Object.GetKind(), c.Object.GetNamespace(), c.Object.GetName(), c.Answers, c.TakeOver, c.Reason)
		if c.Pending != "" {
			fmt.Fprintf(&b, "  pending: %s\n", c.Pending)
		}
		if (c.Complete != nil) != (c.Pending != "") {
			t.Errorf("%s %s: Complete and Pending must come together", c.Context, c.Object.GetName())
		}
		y, err := yaml.Marshal(c.Object.Object)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(y)), "\n") {
			fmt.Fprintf(&b, "  | %s\n", l)
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note %s answers=%v: %s\n", n.Context, n.Answers, n.Text)
	}
	for _, r := range p.Refused {
		fmt.Fprintf(&b, "refused %s answers=%v: %s\n", r.Context, r.Answers, r.Reason)
	}
	return b.String()
}

// TestPlansFromFixtures plans every failing discovery fixture against a
// golden file, and checks that no plan quotes a fixture's token or
// kubeconfig, and that every answerable finding is answered by a change,
// a note or a refusal.
func TestPlansFromFixtures(t *testing.T) {
	var dirs []string
	for _, id := range (Fixer{}).Answers() {
		d, _ := filepath.Glob(filepath.Join(fixtures, string(id), "fail-*"))
		dirs = append(dirs, d...)
	}
	if len(dirs) == 0 {
		t.Fatal("no fixtures")
	}
	forbidden := []string{"fixture-not-a-token", "current-context", "not: a kubeconfig", "command: aws"}
	for _, dir := range dirs {
		name := filepath.Base(filepath.Dir(dir)) + "-" + strings.TrimPrefix(filepath.Base(dir), "fail-")
		t.Run(name, func(t *testing.T) {
			plan, findings := planFixture(t, dir, fix.Options{})
			got := describe(t, plan)
			fixtest.Golden(t, filepath.Join("testdata", name+".golden"), got)
			for _, s := range forbidden {
				if strings.Contains(got, s) {
					t.Errorf("the plan quotes %q", s)
				}
			}
			answered := map[checks.ID]bool{}
			for _, c := range plan.Changes {
				for _, id := range c.Answers {
					answered[id] = true
				}
			}
			for _, n := range plan.Notes {
				for _, id := range n.Answers {
					answered[id] = true
				}
			}
			for _, r := range plan.Refused {
				for _, id := range r.Answers {
					answered[id] = true
				}
			}
			for _, fd := range findings {
				if fd.Severity >= checks.SeverityWarning && isAnswered(fd.Check) && !answered[fd.Check] {
					t.Errorf("%s %v is neither changed, noted nor refused", fd.Check, fd.Contexts)
				}
			}
		})
	}
}

func isAnswered(id checks.ID) bool {
	for _, a := range (Fixer{}).Answers() {
		if a == id {
			return true
		}
	}
	return false
}

// TestHealthyFixturesPlanNothing: where the doctor finds nothing, fix plans
// nothing, which is what makes a re-run after apply a no-op.
func TestHealthyFixturesPlanNothing(t *testing.T) {
	var dirs []string
	for _, id := range (Fixer{}).Answers() {
		d, _ := filepath.Glob(filepath.Join(fixtures, string(id), "pass-*"))
		dirs = append(dirs, d...)
	}
	for _, dir := range dirs {
		plan, findings := planFixture(t, dir, fix.Options{})
		var errs int
		for _, fd := range findings {
			if fd.Severity == checks.SeverityError {
				errs++
			}
		}
		if errs == 0 && !plan.Empty() {
			t.Errorf("%s: no discovery error, yet %d changes:\n%s", dir, len(plan.Changes), describe(t, plan))
		}
	}
}

func TestLoopbackServerIsRefused(t *testing.T) {
	dir := filepath.Join(fixtures, "MF4001", "fail-missing")
	plan, _ := planFixture(t, dir, fix.Options{Servers: map[string]string{"west": "https://127.0.0.1:6443", "east": "https://localhost:6443"}})
	if !plan.Empty() {
		t.Errorf("loopback servers planned changes:\n%s", describe(t, plan))
	}
	if len(plan.Refused) == 0 || !strings.Contains(plan.Refused[0].Reason, "loopback") {
		t.Errorf("want a refusal naming the loopback address, got %+v", plan.Refused)
	}
	// The localhost fixture's secrets point at 127.0.0.1, but the contexts'
	// servers are routable: the fix rewrites them with those.
	plan, _ = planFixture(t, filepath.Join(fixtures, "MF4006", "fail-localhost"), fix.Options{})
	if len(plan.Refused) != 0 || plan.Empty() {
		t.Errorf("want the secrets rewritten with the contexts' servers:\n%s", describe(t, plan))
	}
}

func TestServerOverride(t *testing.T) {
	dir := filepath.Join(fixtures, "MF4001", "fail-missing")
	if _, err := (Fixer{}).Plan(fix.Input{Fleet: &model.Fleet{}, Options: fix.Options{Servers: map[string]string{"west": "10.0.0.1:6443"}}}); err == nil {
		t.Error("a --remote-server without https:// was accepted")
	}
	plan, _ := planFixture(t, dir, fix.Options{Servers: map[string]string{"west": "https://west.example:443", "east": "https://east.example:443"}})
	var n int
	for _, c := range plan.Changes {
		if c.Pending != "" {
			n++
			if !strings.Contains(c.Pending, ".example:443") || !strings.Contains(c.Reason, "from --remote-server") {
				t.Errorf("the override is not used: %s / %s", c.Pending, c.Reason)
			}
		}
	}
	if n == 0 {
		t.Fatal("no remote secret planned")
	}
}

func TestTokenDurationUsesTokenRequest(t *testing.T) {
	plan, _ := planFixture(t, filepath.Join(fixtures, "MF4001", "fail-missing"), fix.Options{TokenDuration: 48 * time.Hour})
	for _, c := range plan.Changes {
		if c.Object.GetKind() == "Secret" && c.Object.Object["type"] == string(corev1.SecretTypeServiceAccountToken) {
			t.Errorf("a token secret is planned although --token-duration was given")
		}
		if c.Pending != "" && !strings.Contains(c.Pending, "TokenRequest") {
			t.Errorf("pending does not say TokenRequest: %s", c.Pending)
		}
	}
}

func TestReaderRulesAreIstios(t *testing.T) {
	got := map[probe.Access]bool{}
	for _, r := range readerRules(false) {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					got[probe.Access{Group: g, Resource: res, Verb: v}] = true
				}
			}
		}
	}
	if len(got) != len(probe.ReaderAccess) {
		t.Errorf("%d permissions, Istio's chart has %d", len(got), len(probe.ReaderAccess))
	}
	for _, a := range probe.ReaderAccess {
		if !got[a] {
			t.Errorf("missing %s", a)
		}
	}
}

// clients are the remote clusters' clients, by context.
type clients struct {
	kube map[string]*kube.Client
}

func (c clients) Client(ctx string) (*kube.Client, error) {
	if k, ok := c.kube[ctx]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("no context %s", ctx)
}

// secretsServer is a client of a local server that answers GETs of the
// given Secrets at their API paths, as JSON, and 404 to anything else.
func secretsServer(t *testing.T, secrets ...*corev1.Secret) *kube.Client {
	t.Helper()
	byPath := map[string][]byte{}
	for _, s := range secrets {
		s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		byPath["/api/v1/namespaces/"+s.Namespace+"/secrets/"+s.Name] = b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if b, ok := byPath[r.URL.Path]; ok && r.Method == http.MethodGet {
			_, _ = w.Write(b)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"` + r.URL.Path + ` not found"}`))
	}))
	t.Cleanup(srv.Close)
	cl, err := kube.NewClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

const testToken = "eyJhbGciOiJSUzI1NiJ9.secret-token-value.sig"

func TestCompleteBuildsTheKubeconfig(t *testing.T) {
	kc := secretsServer(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "reader-token"},
		Type:       corev1.SecretTypeServiceAccountToken,
		Data:       map[string][]byte{"token": []byte(testToken), "ca.crt": []byte("CA PEM")},
	})
	base := remoteSecret("istio-system", "istio-remote-secret-west", "west")
	complete := completeRemoteSecret(base, "west", "https://10.0.2.2:6443", credentialSource{context: "west", namespace: "istio-system", tokenSecret: "reader-token"})
	obj, err := complete(context.Background(), clients{map[string]*kube.Client{"west": kc}})
	if err != nil {
		t.Fatal(err)
	}
	if _, has := base.Object["data"]; has {
		t.Error("Complete changed the planned object")
	}
	data, _, _ := unstructured.NestedStringMap(obj.Object, "data")
	raw, err := base64.StdEncoding.DecodeString(data["west"])
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "west" || cfg.Clusters["west"].Server != "https://10.0.2.2:6443" ||
		string(cfg.Clusters["west"].CertificateAuthorityData) != "CA PEM" || cfg.AuthInfos["west"].Token != testToken {
		t.Errorf("unexpected kubeconfig: context %q", cfg.CurrentContext)
	}
	if obj.GetLabels()[model.MultiClusterSecretLabel] != "true" || obj.GetAnnotations()["networking.istio.io/cluster"] != "west" {
		t.Errorf("labels %v annotations %v", obj.GetLabels(), obj.GetAnnotations())
	}
}

func TestCompleteErrorsNameNoSecret(t *testing.T) {
	old := tokenWait
	tokenWait = 300 * time.Millisecond
	defer func() { tokenWait = old }()
	// A token secret the controller never fills (only a token, no CA).
	kc := secretsServer(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "reader-token"},
		Data:       map[string][]byte{"token": []byte(testToken)},
	})
	c := clients{map[string]*kube.Client{"west": kc}}
	base := remoteSecret("istio-system", "istio-remote-secret-west", "west")
	for _, src := range []credentialSource{
		{context: "west", namespace: "istio-system", tokenSecret: "reader-token"},
		{context: "west", namespace: "istio-system", tokenSecret: "absent"},
		{context: "west", namespace: "istio-system", duration: time.Hour}, // no kube-root-ca.crt
		{context: "north", namespace: "istio-system", tokenSecret: "reader-token"},
	} {
		_, err := completeRemoteSecret(base, "west", "https://10.0.2.2:6443", src)(context.Background(), c)
		if err == nil {
			t.Errorf("%+v: no error", src)
			continue
		}
		if strings.Contains(err.Error(), "secret-token-value") {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
}

// TestDuplicatesKeepTheSecretThatWorks: with two secrets for one cluster
// ID, one rejected, the plan never rewrites or deletes the one that works,
// whichever istiod uses; when istiod uses the broken one, the note ends
// with the restart that makes it read the working one.
func TestDuplicatesKeepTheSecretThatWorks(t *testing.T) {
	for _, tc := range []struct {
		fixture, working, broken string
		restart                  bool
	}{
		{"MF4013/fail-in-use-works-duplicate-rejected", "istio-remote-secret-west", "istio-remote-secret-west-old", false},
		{"MF4013/fail-in-use-rejected-duplicate-works", "istio-remote-secret-west-old", "istio-remote-secret-west", true},
		{"MF4011/fail-in-use-rejected-duplicate-works", "istio-remote-secret-west-old", "istio-remote-secret-west", true},
	} {
		plan, _ := planFixture(t, filepath.Join(fixtures, tc.fixture), fix.Options{})
		for _, c := range plan.Changes {
			if c.Context == "east" && c.Object.GetKind() == "Secret" && c.Object.GetName() == tc.working {
				t.Errorf("%s: the plan rewrites %s, which works", tc.fixture, tc.working)
			}
		}
		var notes []string
		for _, n := range plan.Notes {
			notes = append(notes, n.Text)
		}
		text := strings.Join(notes, "\n")
		if strings.Contains(text, "delete secret "+tc.working+";") || strings.HasSuffix(text, "delete secret "+tc.working) || !strings.Contains(text, "delete secret "+tc.broken) {
			t.Errorf("%s: the notes do not keep %s and delete %s:\n%s", tc.fixture, tc.working, tc.broken, text)
		}
		if strings.Contains(text, "rollout restart") != tc.restart {
			t.Errorf("%s: restart in the notes %v, want %v:\n%s", tc.fixture, !tc.restart, tc.restart, text)
		}
	}
}

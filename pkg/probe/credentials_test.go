package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

const kubeSystemUID = "7e57e57e-0000-4000-8000-000000000001"

// fakeAPIServer answers the two calls the credential probe makes, the way a
// kube-apiserver does: a kube-system read and access reviews, by token.
func fakeAPIServer(t *testing.T) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		status := func(code int, reason string) {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"code":%d}`, reason, code)
		}
		if !strings.HasPrefix(tok, "good") && !strings.HasPrefix(tok, "forbidden") && !strings.Contains(tok, ".") {
			status(401, "Unauthorized")
			return
		}
		switch {
		case r.URL.Path == "/api/v1/namespaces/kube-system":
			if strings.HasPrefix(tok, "forbidden") {
				status(403, "Forbidden")
				return
			}
			fmt.Fprintf(w, `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":%q}}`, kubeSystemUID)
		case r.URL.Path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
			b, _ := io.ReadAll(r.Body) // JSON or protobuf: the resource name is in it as it is
			allowed := !strings.Contains(string(b), "nodes")
			fmt.Fprintf(w, `{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","status":{"allowed":%v}}`, allowed)
		default:
			status(404, "NotFound")
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the wrong-CA case's handshake error is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func kubeconfigFor(server string, caPEM []byte, token string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user: {token: %q}
`, server, base64.StdEncoding.EncodeToString(caPEM), token))
}

// credFleet is a primary "east" with one remote secret per case, keyed by
// the case name.
func credFleet(kubeconfigs map[string][]byte) *model.Fleet {
	data := model.SecretData{}
	for k, v := range kubeconfigs {
		data[k] = v
	}
	c := &model.Cluster{
		Context: "east", Reachable: true, IstioNamespace: "istio-system",
		Namespaces: []model.Namespace{{Meta: model.Meta{Name: "istio-system"}}},
		Deployments: []model.Workload{{
			Meta:       model.Meta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}},
			Containers: []model.Container{{Name: "discovery", Env: map[string]string{"CLUSTER_ID": "east"}}},
		}},
		Secrets: []model.Secret{{
			Meta: model.Meta{Namespace: "istio-system", Name: "istio-remote-secret-peers",
				Labels: map[string]string{model.MultiClusterSecretLabel: "true"}},
			Data: data,
		}},
	}
	return &model.Fleet{Clusters: []*model.Cluster{c}, IstioNamespace: "istio-system"}
}

func selfSigned(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("not-a-signature"))
}

func TestCredentialsTellsOutcomesApart(t *testing.T) {
	srv := fakeAPIServer(t)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	otherCA := selfSigned(t) // a CA that did not sign the server's certificate

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "https://" + closed.Addr().String()
	closed.Close()

	silent, _ := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	exp := time.Now().Add(90 * time.Minute).Truncate(time.Second).UTC()
	goodJWT := jwt(fmt.Sprintf(`{"sub":"system:serviceaccount:istio-system:istio-reader-service-account","exp":%d}`, exp.Unix()))
	cases := map[string][]byte{
		"ok":          kubeconfigFor(srv.URL, ca, goodJWT),
		"bad-token":   kubeconfigFor(srv.URL, ca, "sekret-rejected-token"),
		"forbidden":   kubeconfigFor(srv.URL, ca, "forbidden-sekret"),
		"wrong-ca":    kubeconfigFor(srv.URL, otherCA, "good-sekret"),
		"unreachable": kubeconfigFor(closedURL, ca, "good-sekret"),
		"malformed":   []byte("{{ good-sekret"),
	}
	// The answering servers get time enough on any machine (nothing here
	// waits for it); only the silent one is waited for, to its timeout.
	got := Credentials(context.Background(), credFleet(cases), Options{Timeout: 30 * time.Second, From: "test"})
	silentCase := map[string][]byte{"silent": kubeconfigFor("https://"+silent.Addr().String(), ca, "good-sekret")}
	got = append(got, Credentials(context.Background(), credFleet(silentCase), Options{Timeout: 1500 * time.Millisecond, From: "test"})...)
	by := map[string]model.CredentialProbe{}
	for _, p := range got {
		by[p.Key] = p
	}
	want := map[string]model.CredentialOutcome{
		"ok": model.CredOK, "bad-token": model.CredUnauthorized, "forbidden": model.CredForbidden,
		"wrong-ca": model.CredTLS, "unreachable": model.CredUnreachable, "silent": model.CredTimeout,
		"malformed": model.CredNotRun,
	}
	for k, w := range want {
		if by[k].Outcome != w {
			t.Errorf("%s: outcome %s (%s), want %s", k, by[k].Outcome, by[k].Detail, w)
		}
	}
	ok := by["ok"]
	if ok.KubeSystemUID != kubeSystemUID {
		t.Errorf("ok: kube-system UID %q", ok.KubeSystemUID)
	}
	if ok.TokenExpiry == nil || !ok.TokenExpiry.Equal(exp) || ok.TokenSubject != "system:serviceaccount:istio-system:istio-reader-service-account" {
		t.Errorf("ok: token claims %v %q", ok.TokenExpiry, ok.TokenSubject)
	}
	if ok.RBACChecked != len(ReaderAccess) || strings.Join(ok.RBACDenied, ",") != "get core/nodes,list core/nodes,watch core/nodes" {
		t.Errorf("ok: RBAC checked %d, denied %v (%s)", ok.RBACChecked, ok.RBACDenied, ok.RBACError)
	}
	if fb := by["forbidden"]; fb.RBACChecked != len(ReaderAccess) {
		t.Errorf("forbidden: an authenticated credential is still asked for access reviews (%d)", fb.RBACChecked)
	}
	if by["bad-token"].RBACChecked != 0 {
		t.Error("bad-token: no access review for a rejected credential")
	}

	// Nothing of a credential leaves the probe.
	b, _ := json.Marshal(got)
	for _, s := range []string{"sekret", goodJWT, "not-a-signature"} {
		if strings.Contains(string(b), s) || strings.Contains(fmt.Sprintf("%v %+v", got, got), s) {
			t.Errorf("probe results quote a credential (%q): %s", s, b)
		}
	}
}

func TestCredentialsSkippedWithoutTime(t *testing.T) {
	f := credFleet(map[string][]byte{"west": kubeconfigFor("https://192.0.2.1:6443", nil, "x")})
	got := Credentials(context.Background(), f, Options{Deadline: time.Now().Add(50 * time.Millisecond)})
	if len(got) != 1 || got[0].Outcome != model.CredNotRun {
		t.Fatalf("got %+v", got)
	}
}

func TestJWTClaims(t *testing.T) {
	if sub, exp := jwtClaims("opaque-token"); sub != "" || exp != nil {
		t.Error("an opaque token has no claims")
	}
	sub, exp := jwtClaims(jwt(`{"sub":"x"}`))
	if sub != "x" || exp != nil {
		t.Errorf("no exp: %q %v", sub, exp)
	}
}

// TestCredentialsSlowReviewsGetTheWholeBudget: on a busy machine each access
// review may take a while; with only a Deadline (as the doctor passes the
// probe budget), no constant of the probe cuts them short: every review of
// Istio's reader role is answered, none fails with a deadline.
func TestCredentialsSlowReviewsGetTheWholeBudget(t *testing.T) {
	const perReview = 600 * time.Millisecond
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/namespaces/kube-system":
			fmt.Fprintf(w, `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":%q}}`, kubeSystemUID)
		case "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
			time.Sleep(perReview)
			fmt.Fprint(w, `{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","status":{"allowed":true}}`)
		default:
			w.WriteHeader(404)
		}
	}))
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	f := credFleet(map[string][]byte{"slow": kubeconfigFor(srv.URL, ca, "good-sekret")})
	// Longer than the old fixed 3 s per probe: reviews/rbacParallel rounds.
	need := time.Duration((len(ReaderAccess)+len(RemoteControlAccess))/rbacParallel+2) * perReview
	if need <= 3*time.Second {
		t.Fatalf("the reviews need only %s: the test would not show a budget beyond the old 3 s", need)
	}
	start := time.Now()
	got := Credentials(context.Background(), f, Options{Deadline: time.Now().Add(need + 5*time.Second), From: "test"})
	if len(got) != 1 {
		t.Fatalf("%d probes, want 1", len(got))
	}
	p := got[0]
	if p.Outcome != model.CredOK || p.RBACError != "" || p.RBACChecked != len(ReaderAccess) || len(p.RBACDenied) != 0 {
		t.Errorf("after %s: outcome %s, %d of %d reviews checked, error %q", time.Since(start).Round(time.Millisecond),
			p.Outcome, p.RBACChecked, len(ReaderAccess), p.RBACError)
	}
}

// TestCredentialsSameKubeconfigCalledOnce: create-remote-secret's output
// applied to two primaries is one credential: its server is asked once
// (one kube-system read, one set of access reviews), and both entries get
// the answers under their own names.
func TestCredentialsSameKubeconfigCalledOnce(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/namespaces/kube-system":
			fmt.Fprintf(w, `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system","uid":%q}}`, kubeSystemUID)
		case "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, `{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","status":{"allowed":%v}}`, !strings.Contains(string(b), "nodes"))
		default:
			w.WriteHeader(404)
		}
	}))
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	kc := kubeconfigFor(srv.URL, ca, "good-sekret")
	f := credFleet(map[string][]byte{"west": kc})
	central := credFleet(map[string][]byte{"west": kc}).Clusters[0]
	central.Context = "central"
	central.Deployments = []model.Workload{{
		Meta:       model.Meta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}},
		Containers: []model.Container{{Name: "discovery", Env: map[string]string{"CLUSTER_ID": "central"}}},
	}}
	f.Clusters = append(f.Clusters, central)

	got := Credentials(context.Background(), f, Options{Timeout: 5 * time.Second, From: "test"})
	if len(got) != 2 || got[0].Context != "east" || got[1].Context != "central" {
		t.Fatalf("got %+v, want west's entry of east, then of central", got)
	}
	if n := calls["/api/v1/namespaces/kube-system"]; n != 1 {
		t.Errorf("kube-system read %d times, want once for one credential", n)
	}
	if n, want := calls["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"], len(ReaderAccess)+len(RemoteControlAccess); n != want {
		t.Errorf("%d access reviews, want %d: one set for one credential", n, want)
	}
	for _, p := range got {
		if p.Outcome != model.CredOK || p.Key != "west" || p.KubeSystemUID != kubeSystemUID || p.RBACChecked != len(ReaderAccess) ||
			p.ControlChecked != len(RemoteControlAccess) || strings.Join(p.RBACDenied, ",") != "get core/nodes,list core/nodes,watch core/nodes" {
			t.Errorf("%s: %+v", p.Context, p)
		}
	}
	a, b := got[0], got[1]
	a.Context, b.Context = "", ""
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the two entries of one credential differ beyond their primary:\n%+v\n%+v", got[0], got[1])
	}
}

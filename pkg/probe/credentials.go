package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// CredentialTarget is one remote secret entry istiod reads: a primary, the
// secret, the data key (cluster ID) and the API server its kubeconfig names.
type CredentialTarget struct {
	Context, Secret, Key, Server string
	// NotRun says why the entry is not probed (empty when it is).
	NotRun string
	// kubeconfig is the entry's value; only ever handed to client-go.
	kubeconfig []byte
}

// PlanCredentials lists the remote secret entries of every primary that
// istiod reads and would use: in the Istio namespace, labelled, with a key
// other than the primary's own cluster ID. An entry whose kubeconfig istiod
// refuses is planned as not run, with the reason.
func PlanCredentials(f *model.Fleet) []CredentialTarget {
	var out []CredentialTarget
	for _, c := range f.Clusters {
		if ok, _ := c.Readable(model.KindSecrets); !ok {
			continue
		}
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary {
			continue
		}
		for _, s := range mesh.RemoteSecrets(c) {
			if !s.Read() {
				continue
			}
			data := secretData(c, s.Namespace, s.Name)
			for _, e := range s.Entries {
				if e.Key == id.ClusterID {
					continue
				}
				t := CredentialTarget{Context: c.Context, Secret: s.Ref(), Key: e.Key, Server: e.Server, kubeconfig: data[e.Key]}
				switch {
				case e.Err != "":
					t.NotRun = e.Err
				case len(t.kubeconfig) == 0:
					t.NotRun = "the secret's data was not read (a snapshot loaded from a dump holds none)"
				}
				out = append(out, t)
			}
		}
	}
	return out
}

func secretData(c *model.Cluster, ns, name string) model.SecretData {
	for _, s := range c.Secrets {
		if s.Namespace == ns && s.Name == name {
			return s.Data
		}
	}
	return nil
}

// rbacParallel bounds the concurrent access reviews of one credential
// (the reader's and the remote control's together, 84 with Istio's chart):
// they share the credential's HTTP/2 connection, and 16 at a time stays well
// inside an API server's share for one service account (API Priority and
// Fairness) while taking six round trips instead of eleven.
const rbacParallel = 16

// Credentials calls each planned remote cluster's API server with the
// credentials of its remote secret, from this machine, concurrently: it
// reads kube-system (who answers, and whether the credentials are accepted)
// and asks SelfSubjectAccessReview for every permission of Istio's reader
// ClusterRole. Entries that carry the same kubeconfig (one
// create-remote-secret applied to every primary) are called once. It
// returns by opts.Deadline whatever the servers do.
func Credentials(ctx context.Context, f *model.Fleet, opts Options) []model.CredentialProbe {
	opts = opts.withDefaults()
	if dl, ok := ctx.Deadline(); ok && dl.Before(opts.Deadline) {
		opts.Deadline = dl
	}
	if opts.credentialCalls == nil {
		opts.credentialCalls = newCredentialCalls()
	}
	targets := PlanCredentials(f)
	out := make([]model.CredentialProbe, len(targets))
	for i, t := range targets {
		out[i] = model.CredentialProbe{Context: t.Context, Secret: t.Secret, Key: t.Key, Server: t.Server}
		if t.NotRun == "" {
			out[i].TokenSubject, out[i].TokenExpiry = tokenClaims(t.kubeconfig)
		}
	}
	if left := time.Until(opts.Deadline); left < MinTime {
		for i := range out {
			out[i].Outcome = model.CredNotRun
			out[i].Detail = fmt.Sprintf("not called: the run's deadline left %s", left.Round(time.Millisecond))
		}
		return out
	}
	planned := slices.Clone(out) // what late work reads, while out is filled
	got := fanOut(ctx, opts.Deadline, opts.Timeout, len(targets), func(ctx context.Context, i int) model.CredentialProbe {
		r := planned[i]
		if targets[i].NotRun == "" {
			opts.credentialCalls.call(ctx, opts, targets[i], &r)
		}
		return r
	})
	for i, t := range targets {
		switch {
		case t.NotRun != "":
			out[i].Outcome, out[i].Detail = model.CredNotRun, t.NotRun
		case got[i] != nil:
			out[i] = *got[i]
		default:
			out[i].Outcome, out[i].Detail = model.CredTimeout, "no result by the deadline"
		}
	}
	return out
}

// credentialCalls are the credential calls of one run, by what they send:
// istioctl create-remote-secret writes one kubeconfig per remote cluster,
// and the guides apply it to every primary, so a mesh of n primaries holds
// each remote's credentials n-1 times. The same kubeconfig asked the same
// questions of the same server at the same moment gets the same answers:
// it is asked once, and every entry that carries it gets the answers.
type credentialCalls struct {
	mu sync.Mutex
	m  map[string]*credentialCall
}

type credentialCall struct {
	done chan struct{}
	r    model.CredentialProbe
}

func newCredentialCalls() *credentialCalls {
	return &credentialCalls{m: map[string]*credentialCall{}}
}

// call fills r with what the API server said to t's credentials: by calling
// it, or by waiting for the call made for another entry with the same
// kubeconfig (and the same Istio namespace, whose network label it reads).
func (cc *credentialCalls) call(ctx context.Context, opts Options, t CredentialTarget, r *model.CredentialProbe) {
	istioNS, _, _ := strings.Cut(t.Secret, "/")
	key := istioNS + "\x00" + string(t.kubeconfig)
	cc.mu.Lock()
	c, called := cc.m[key]
	if !called {
		c = &credentialCall{done: make(chan struct{})}
		cc.m[key] = c
	}
	cc.mu.Unlock()
	if !called {
		callCredential(ctx, opts, t, r)
		c.r = *r
		close(c.done)
		return
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		r.Outcome, r.Detail = model.CredTimeout, "no result by the deadline"
		return
	}
	// The answers are the call's; the entry, its server and its token's
	// claims stay this entry's own (the same, from the same kubeconfig).
	got := c.r
	got.Context, got.Secret, got.Key, got.Server = r.Context, r.Secret, r.Key, r.Server
	got.TokenSubject, got.TokenExpiry = r.TokenSubject, r.TokenExpiry
	got.RBACDenied, got.ControlDenied, got.Regions = slices.Clone(got.RBACDenied), slices.Clone(got.ControlDenied), slices.Clone(got.Regions)
	*r = got
}

// callCredential fills r with what the API server said to the credentials:
// kube-system first (whether they are accepted at all), then at once the
// nodes' regions, the Istio namespace's network and the access reviews.
func callCredential(ctx context.Context, opts Options, t CredentialTarget, r *model.CredentialProbe) {
	start := time.Now()
	defer func() { r.Duration = time.Since(start) }()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(t.kubeconfig)
	if err != nil {
		r.Outcome, r.Detail = model.CredNotRun, "the kubeconfig cannot be loaded"
		return
	}
	secrets := credentialsOf(cfg)
	cfg.Timeout = opts.Timeout
	cfg.UserAgent = "kubectl-meshfed (credential probe)"
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter() // a few dozen reviews, not a load
	if opts.Dial != nil {
		cfg.Dial = opts.Dial
	}
	client, err := kube.NewClient(cfg)
	if err != nil {
		r.Outcome, r.Detail = model.CredError, scrub(oneLine(err), secrets)
		return
	}
	var ns corev1.Namespace
	err = client.Core().Get().Resource("namespaces").Name("kube-system").Do(ctx).Into(&ns)
	switch {
	case err == nil:
		r.Outcome, r.KubeSystemUID = model.CredOK, string(ns.UID)
	default:
		r.Outcome = classifyAPI(ctx, err)
		r.Detail = scrub(oneLine(err), secrets)
	}
	if r.Outcome != model.CredOK && r.Outcome != model.CredForbidden {
		return // not authenticated: there is nobody to ask access reviews for
	}
	var wg sync.WaitGroup
	if r.Outcome == model.CredOK {
		wg.Go(func() { r.Regions = nodeRegions(ctx, client) })
		wg.Go(func() {
			istioNS, _, _ := strings.Cut(t.Secret, "/") // the remote's Istio namespace is named as the primary's
			r.Network = namespaceNetwork(ctx, client, istioNS)
		})
	}
	reviews := review(ctx, client, ReaderAccess, RemoteControlAccess)
	wg.Wait()
	r.RBACChecked, r.RBACDenied, r.RBACError = reviews[0].checked, reviews[0].denied, scrub(reviews[0].errText, secrets)
	r.ControlChecked, r.ControlDenied, r.ControlError = reviews[1].checked, reviews[1].denied, scrub(reviews[1].errText, secrets)
}

// nodeRegions lists the regions of the cluster's nodes as istiod's reader
// sees them (it lists nodes for its endpoints' localities): a run that does
// not read the cluster still knows where its endpoints are. Served from the
// watch cache; nil when the nodes cannot be listed.
func nodeRegions(ctx context.Context, client *kube.Client) []string {
	md, err := client.Metadata()
	if err != nil {
		return nil
	}
	// Only labels matter: a metadata-only LIST, which needs the same
	// permission (list nodes) and decodes a fraction of each Node.
	nodes, err := md.Resource(corev1.SchemeGroupVersion.WithResource("nodes")).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range nodes.Items {
		if r := n.Labels[corev1.LabelTopologyRegion]; r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// namespaceNetwork reads the network label of the cluster's Istio namespace
// as istiod's reader sees it: the network istiod puts the cluster's
// endpoints on. "" when it is not set or cannot be read.
func namespaceNetwork(ctx context.Context, client *kube.Client, namespace string) string {
	var ns corev1.Namespace
	err := client.Core().Get().Resource("namespaces").Name(namespace).Do(ctx).Into(&ns)
	if err != nil {
		return ""
	}
	return ns.Labels[mesh.NetworkLabel]
}

// reviewed is what the access reviews of one list of accesses said.
type reviewed struct {
	checked int
	denied  []string // refused, as Access.String, sorted
	errText string   // why some could not be asked
}

// review asks a SelfSubjectAccessReview for every access of every list
// (cluster-wide), rbacParallel at a time across the lists, and returns what
// each list got.
func review(ctx context.Context, client *kube.Client, lists ...[]Access) []reviewed {
	out := make([]reviewed, len(lists))
	firstErr := make([]error, len(lists))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, rbacParallel)
	for l, accesses := range lists {
		for _, a := range accesses {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				rev := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
					ResourceAttributes: &authorizationv1.ResourceAttributes{Group: a.Group, Resource: a.Resource, Verb: a.Verb},
				}}
				var res authorizationv1.SelfSubjectAccessReview
				err := client.Authorization().Post().Resource("selfsubjectaccessreviews").Body(rev).Do(ctx).Into(&res)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr[l] == nil {
						firstErr[l] = err
					}
					return
				}
				out[l].checked++
				if !res.Status.Allowed {
					out[l].denied = append(out[l].denied, a.String())
				}
			})
		}
	}
	wg.Wait()
	for l, accesses := range lists {
		sort.Strings(out[l].denied)
		if firstErr[l] != nil {
			out[l].errText = fmt.Sprintf("%d of %d access reviews failed: %s", len(accesses)-out[l].checked, len(accesses), oneLine(firstErr[l]))
		}
	}
	return out
}

// classifyAPI tells a rejected credential (401), a refused read (403), a
// server whose certificate the kubeconfig's CA does not verify, and an
// unreachable or silent server apart.
func classifyAPI(ctx context.Context, err error) model.CredentialOutcome {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case apierrors.IsUnauthorized(err):
		return model.CredUnauthorized
	case apierrors.IsForbidden(err):
		return model.CredForbidden
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &verifyErr), errors.As(err, &recordErr):
		return model.CredTLS
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return model.CredTimeout
	case errors.As(err, &netErr) && netErr.Timeout():
		return model.CredTimeout
	case errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return model.CredUnreachable
	case strings.Contains(err.Error(), "x509: ") || strings.Contains(err.Error(), "tls: "):
		return model.CredTLS // errors client-go flattens to text
	}
	return model.CredError
}

// credentialsOf lists the secret strings of a rest.Config, to scrub them
// from any text that leaves the probe.
func credentialsOf(cfg *rest.Config) []string {
	var out []string
	for _, s := range []string{cfg.BearerToken, cfg.Password, string(cfg.KeyData)} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "<redacted>")
	}
	return s
}

// tokenClaims reads the subject and expiry of the kubeconfig's bearer token
// when it is a JWT. The signature is not verified (the API server does
// that); only these two public claims are kept, never the token.
func tokenClaims(kubeconfig []byte) (subject string, expiry *time.Time) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return "", nil
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return "", nil
	}
	user, ok := cfg.AuthInfos[kctx.AuthInfo]
	if !ok {
		return "", nil
	}
	return jwtClaims(user.Token)
}

func jwtClaims(token string) (string, *time.Time) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", nil
	}
	var claims struct {
		Sub string   `json:"sub"`
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return "", nil
	}
	if claims.Exp == nil {
		return claims.Sub, nil
	}
	exp := time.Unix(int64(*claims.Exp), 0).UTC()
	return claims.Sub, &exp
}

package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// remoteFleet is a primary east and a remote west whose webhook calls
// 192.0.2.8:15017 with caBundle webhookRoot, and whose istiod Service has
// the endpoint 192.0.2.7, judged by west's istio-ca-root-cert (meshRoot).
func remoteFleet(t *testing.T, meshRoot, webhookRoot *ca) *model.Fleet {
	t.Helper()
	f := &model.Fleet{IstioNamespace: "istio-system"}
	docs := map[string]string{
		"east": `
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system, labels: {app: istiod}}
spec:
  selector: {matchLabels: {app: istiod}}
  template:
    metadata: {labels: {app: istiod}}
    spec: {containers: [{name: discovery, image: "istio/pilot:1.28.0", env: [{name: CLUSTER_ID, value: east}]}]}
`,
		"west": fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-system}
spec: {ports: [{name: tls-istiod, port: 15012}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: istiod-x, namespace: istio-system, labels: {kubernetes.io/service-name: istiod}}
addressType: IPv4
endpoints: [{addresses: [192.0.2.7], conditions: {ready: true}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-ca-root-cert, namespace: istio-system}
data:
  root-cert.pem: %q
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks:
- name: rev.namespace.sidecar-injector.istio.io
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig: {url: "https://192.0.2.8:15017/inject/cluster/west/net/n1", caBundle: %s}
`, meshRoot.pem(), base64.StdEncoding.EncodeToString([]byte(webhookRoot.pem()))),
	}
	for _, name := range []string{"east", "west"} {
		cl := &model.Cluster{Context: name, Reachable: true, IstioNamespace: "istio-system"}
		if err := fleet.AddManifests(cl, []byte(docs[name])); err != nil {
			t.Fatal(err)
		}
		f.Clusters = append(f.Clusters, cl)
	}
	return f
}

func TestIstiodPathsJudgeByTheRemotesRoots(t *testing.T) {
	mesh, other := newCA(t, "mesh root"), newCA(t, "another root")
	var s servers
	s.tlsServer(t, "192.0.2.7:15012", mesh.workload(t), false)  // istiod through the gateway
	s.tlsServer(t, "192.0.2.8:15017", other.workload(t), false) // something the webhook's caBundle does not explain
	f := remoteFleet(t, mesh, mesh)
	opts := Options{Dial: s.dial, Timeout: 2 * time.Second}
	got := map[string]model.ProbeOutcome{}
	for _, p := range IstiodPaths(context.Background(), f, opts) {
		if p.Context != "west" {
			t.Errorf("a path of %s, but only west is remote", p.Context)
		}
		got[p.Address] = p.Outcome
	}
	want := map[string]model.ProbeOutcome{"192.0.2.7:15012": model.ProbeOK, "192.0.2.8:15017": model.ProbeUntrusted}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}

	// Judged by the webhook's own caBundle: trusted when it holds the root.
	for _, p := range IstiodPaths(context.Background(), remoteFleet(t, mesh, other), opts) {
		if p.Address == "192.0.2.8:15017" && p.Outcome != model.ProbeOK {
			t.Errorf("webhook with its root in caBundle: %s (%s)", p.Outcome, p.Detail)
		}
	}

	// Nothing listening: refused, within the deadline.
	var none servers
	for _, p := range IstiodPaths(context.Background(), f, Options{Dial: none.dial, Timeout: 2 * time.Second}) {
		if p.Outcome != model.ProbeRefused {
			t.Errorf("%s with nothing listening: %s", p.Address, p.Outcome)
		}
	}
}

// Istio's chart renders a remote's injector with four hooks calling one
// URL (namespace, object and their rev. twins): that is one path, dialled
// and reported once, naming every hook that uses it.
func TestIstiodPathsDialAWebhookURLOnce(t *testing.T) {
	root := newCA(t, "mesh root")
	f := remoteFleet(t, root, root)
	for _, c := range f.Clusters {
		for i := range c.Webhooks {
			h := c.Webhooks[i].Hooks[0]
			for _, name := range []string{"rev.object.sidecar-injector.istio.io", "namespace.sidecar-injector.istio.io"} {
				twin := h
				twin.Name = name
				c.Webhooks[i].Hooks = append(c.Webhooks[i].Hooks, twin)
			}
		}
	}
	var hooks []istiodPath
	for _, p := range PlanIstiodPaths(f) {
		if p.probe.Kind == "MutatingWebhookConfiguration" {
			hooks = append(hooks, p)
		}
	}
	if len(hooks) != 1 {
		t.Fatalf("%d webhook paths, want 1: %+v", len(hooks), hooks)
	}
	want := "injection webhooks rev.namespace.sidecar-injector.istio.io, rev.object.sidecar-injector.istio.io, namespace.sidecar-injector.istio.io of istio-sidecar-injector"
	if hooks[0].probe.Via != want || hooks[0].probe.Address != "192.0.2.8:15017" {
		t.Errorf("path via %q at %s, want %q at 192.0.2.8:15017", hooks[0].probe.Via, hooks[0].probe.Address, want)
	}
}

// serving issues a certificate shaped like istiod's serving certificate:
// DNS names of its Service.
func (a *ca) serving(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: names, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// asInjectionPath turns west's webhook into what the remote profile renders
// with istiodRemote.injectionPath: it calls the istiod Service on 443, whose
// port tcp-webhook (targetPort 15017) has the EndpointSlice port 15017 at
// the istiod endpoint 192.0.2.7.
func asInjectionPath(t *testing.T, f *model.Fleet) {
	t.Helper()
	w := f.Cluster("west")
	for i := range w.Webhooks {
		for j := range w.Webhooks[i].Hooks {
			h := &w.Webhooks[i].Hooks[j]
			h.URL, h.Service, h.Path = "", "istio-system/istiod:443", "/inject/cluster/west/net/n1"
		}
	}
	for i := range w.Services {
		if w.Services[i].Name == "istiod" {
			w.Services[i].ClusterIP = "10.2.0.9"
			w.Services[i].Ports = []model.ServicePort{{Name: "tcp-istiod", Port: 15012}, {Name: "tcp-webhook", Port: 443, TargetPort: "15017"}}
		}
	}
	for i := range w.EndpointSlices {
		if w.EndpointSlices[i].Service == "istiod" {
			w.EndpointSlices[i].Ports = []model.EndpointPort{{Name: "tcp-istiod", Port: 15012}, {Name: "tcp-webhook", Port: 15017}}
		}
	}
}

// A webhook that names the istiod Service is followed as the API server
// and kube-proxy follow it: the Service's port 443 → the slice port of the
// same name (15017) at each endpoint, verified against the caBundle and as
// istiod.istio-system.svc.
func TestIstiodPathsFollowAWebhookService(t *testing.T) {
	root, other := newCA(t, "mesh root"), newCA(t, "another root")
	var s servers
	s.tlsServer(t, "192.0.2.7:15012", root.workload(t), false)
	s.tlsServer(t, "192.0.2.7:15017", root.serving(t, "istiod.istio-system.svc"), false)
	f := remoteFleet(t, root, root)
	asInjectionPath(t, f)
	opts := Options{Dial: s.dial, Timeout: 2 * time.Second}
	var hook *model.IstiodPathProbe
	paths := IstiodPaths(context.Background(), f, opts)
	for i, p := range paths {
		if p.Kind == "MutatingWebhookConfiguration" {
			hook = &paths[i]
		}
	}
	if hook == nil || hook.Address != "192.0.2.7:15017" || hook.Outcome != model.ProbeOK {
		t.Fatalf("webhook path %+v, want 192.0.2.7:15017 ok", hook)
	}
	if !strings.Contains(hook.Via, "through Service istio-system/istiod:443") {
		t.Errorf("via %q does not name the Service", hook.Via)
	}

	// The API server verifies istiod as istiod.istio-system.svc: a
	// certificate from the right root for another name fails it.
	var wrongName servers
	wrongName.tlsServer(t, "192.0.2.7:15017", root.serving(t, "istiod.elsewhere.svc"), false)
	for _, p := range IstiodPaths(context.Background(), f, Options{Dial: wrongName.dial, Timeout: 2 * time.Second}) {
		if p.Kind == "MutatingWebhookConfiguration" && p.Outcome != model.ProbeUntrusted {
			t.Errorf("istiod's certificate for another name: %s (%s)", p.Outcome, p.Detail)
		}
	}
	// From a root the caBundle does not hold: untrusted.
	var otherRoot servers
	otherRoot.tlsServer(t, "192.0.2.7:15017", other.serving(t, "istiod.istio-system.svc"), false)
	for _, p := range IstiodPaths(context.Background(), f, Options{Dial: otherRoot.dial, Timeout: 2 * time.Second}) {
		if p.Kind == "MutatingWebhookConfiguration" && p.Outcome != model.ProbeUntrusted {
			t.Errorf("a certificate from another root: %s (%s)", p.Outcome, p.Detail)
		}
	}
	// Nothing listens at the endpoint's 15017: refused.
	var none servers
	for _, p := range IstiodPaths(context.Background(), f, Options{Dial: none.dial, Timeout: 2 * time.Second}) {
		if p.Outcome != model.ProbeRefused {
			t.Errorf("%s with nothing listening: %s", p.Address, p.Outcome)
		}
	}

	// An ExternalName Service: the API server calls the name on the
	// webhook's port itself (443), where nothing listens here.
	w := f.Cluster("west")
	for i := range w.Services {
		if w.Services[i].Name == "istiod" {
			w.Services[i].Type, w.Services[i].ExternalName, w.Services[i].ClusterIP = "ExternalName", "istiod.example.com", ""
		}
	}
	for _, p := range PlanIstiodPaths(f) {
		if p.probe.Kind == "MutatingWebhookConfiguration" && p.probe.Address != "istiod.example.com:443" {
			t.Errorf("ExternalName: webhook dialled at %s, want istiod.example.com:443", p.probe.Address)
		}
	}

	// No endpoints at all: nothing to dial, and the probe says why.
	for i := range w.Services {
		if w.Services[i].Name == "istiod" {
			w.Services[i].Type, w.Services[i].ExternalName, w.Services[i].ClusterIP = "ClusterIP", "", "10.2.0.9"
		}
	}
	w.EndpointSlices = nil
	for _, p := range IstiodPaths(context.Background(), f, opts) {
		if p.Kind == "MutatingWebhookConfiguration" && (p.Outcome != model.ProbeError || !strings.Contains(p.Detail, "no endpoint")) {
			t.Errorf("no endpoints: %s (%s), want an error saying so", p.Outcome, p.Detail)
		}
	}

	// No such Service, called by every hook of the configuration (a
	// revisioned remote whose Service is named otherwise): one path with
	// nothing to dial, naming all the hooks. Planning it panicked once
	// the second hook joined the first's entry.
	for i := range w.Services {
		if w.Services[i].Name == "istiod" {
			w.Services[i].Name = "istiod-old"
		}
	}
	for i := range w.Webhooks { // the chart renders several hooks calling one Service
		twin := w.Webhooks[i].Hooks[0]
		twin.Name = "rev." + twin.Name
		w.Webhooks[i].Hooks = append(w.Webhooks[i].Hooks, twin)
	}
	var missing []model.IstiodPathProbe
	for _, p := range IstiodPaths(context.Background(), f, opts) {
		if p.Kind == "MutatingWebhookConfiguration" {
			missing = append(missing, p)
		}
	}
	if len(missing) != 1 || missing[0].Address != "" || !strings.Contains(missing[0].Detail, "no Service istio-system/istiod") {
		t.Errorf("a missing Service: %+v, want one path with nothing dialled, saying so", missing)
	}
}

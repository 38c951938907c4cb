package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, cn string) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &ca{c, key}
}

// workload issues a certificate shaped like istiod's: URI SAN only.
func (a *ca) workload(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u, _ := url.Parse("spiffe://cluster.local/ns/sample/sa/helloworld")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		URIs: []*url.URL{u}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (a *ca) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw}))
}

// fleetOf builds two primaries on two networks whose gateways have the
// given load-balancer IPs, trusting root.
func fleetOf(t *testing.T, root *ca, eastIP, westIP string) *model.Fleet {
	t.Helper()
	f := &model.Fleet{IstioNamespace: "istio-system"}
	for _, c := range []struct{ name, ip string }{{"east", eastIP}, {"west", westIP}} {
		cl := &model.Cluster{Context: c.name, IstioNamespace: "istio-system", Reachable: true}
		doc := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: istio-system, labels: {topology.istio.io/network: net-%[1]s}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system, labels: {app: istiod}}
spec:
  selector: {matchLabels: {app: istiod}}
  template:
    metadata: {labels: {app: istiod}}
    spec: {containers: [{name: discovery, image: "istio/pilot:1.28.0", env: [{name: CLUSTER_ID, value: %[1]s}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: istio-eastwestgateway, namespace: istio-system, labels: {topology.istio.io/network: net-%[1]s}}
spec: {type: LoadBalancer, ports: [{name: tls, port: 15443}]}
status: {loadBalancer: {ingress: [{ip: %[2]s}]}}
---
apiVersion: v1
kind: Service
metadata: {name: helloworld, namespace: sample}
spec: {ports: [{name: http, port: 5000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: helloworld-x, namespace: sample, labels: {kubernetes.io/service-name: helloworld}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-ca-root-cert, namespace: istio-system}
data:
  root-cert.pem: %[3]q
`, c.name, c.ip, root.pem())
		if err := fleet.AddManifests(cl, []byte(doc)); err != nil {
			t.Fatal(err)
		}
		f.Clusters = append(f.Clusters, cl)
	}
	return f
}

// servers are stand-in gateways reached through Options.Dial.
type servers struct {
	mu    sync.Mutex
	addrs map[string]string // "ip:15443" → listener address
	snis  []string
}

func (s *servers) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	to, ok := s.addrs[addr]
	s.mu.Unlock()
	if !ok {
		to = "127.0.0.1:1" // nothing listens: refused
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (s *servers) tlsServer(t *testing.T, ip string, cert tls.Certificate, clientAuth bool) {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		s.mu.Lock()
		s.snis = append(s.snis, h.ServerName)
		s.mu.Unlock()
		return nil, nil
	}}
	if clientAuth {
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); time.Sleep(100 * time.Millisecond); c.Close() }()
		}
	}()
	s.set(ip, ln.Addr().String())
}

func (s *servers) set(ip, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addrs == nil {
		s.addrs = map[string]string{}
	}
	key := ip // host:port, or an IP whose gateway port 15443 is meant
	if _, _, err := net.SplitHostPort(ip); err != nil {
		key = net.JoinHostPort(ip, "15443")
	}
	s.addrs[key] = to
}

// hang accepts and never answers.
func (s *servers) hang(t *testing.T, ip string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	s.set(ip, ln.Addr().String())
}

// closer accepts and closes at once (no TLS).
func (s *servers) closer(t *testing.T, ip string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	s.set(ip, ln.Addr().String())
}

func outcomes(p *model.Probes) map[string]model.ProbeOutcome {
	out := map[string]model.ProbeOutcome{}
	for _, g := range p.Gateways {
		out[g.SourceNetwork+"→"+g.Network] = g.Outcome
	}
	return out
}

func TestSNIIsIstios(t *testing.T) {
	if got, want := SNI(5000, "helloworld.sample.svc.cluster.local"), "outbound_.5000_._.helloworld.sample.svc.cluster.local"; got != want {
		t.Errorf("SNI %q, want %q", got, want)
	}
}

func TestGatewaysTellOutcomesApart(t *testing.T) {
	root, other := newCA(t, "mesh root"), newCA(t, "other root")
	cases := []struct {
		name  string
		setup func(s *servers)
		want  model.ProbeOutcome
	}{
		{"trusted", func(s *servers) { s.tlsServer(t, "192.0.2.2", root.workload(t), false) }, model.ProbeOK},
		{"trusted, client certificate required", func(s *servers) { s.tlsServer(t, "192.0.2.2", root.workload(t), true) }, model.ProbeOK},
		{"wrong root", func(s *servers) { s.tlsServer(t, "192.0.2.2", other.workload(t), false) }, model.ProbeUntrusted},
		{"refused", func(s *servers) {}, model.ProbeRefused},
		{"closes without TLS", func(s *servers) { s.closer(t, "192.0.2.2") }, model.ProbeHandshake},
		{"hangs", func(s *servers) { s.hang(t, "192.0.2.2") }, model.ProbeTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &servers{}
			s.tlsServer(t, "192.0.2.1", root.workload(t), false)
			tc.setup(s)
			f := fleetOf(t, root, "192.0.2.1", "192.0.2.2")
			start := time.Now()
			p := Gateways(context.Background(), f, Options{Timeout: 500 * time.Millisecond, Dial: s.dial, From: "test"})
			if took := time.Since(start); took > 1500*time.Millisecond { // the promise: deadline + 1 s
				t.Errorf("took %s with a 500ms timeout", took)
			}
			got := outcomes(p)
			if got["net-east→net-west"] != tc.want || got["net-west→net-east"] != model.ProbeOK {
				t.Errorf("outcomes %v, want net-east→net-west %s and the other way ok\n%+v", got, tc.want, p.Gateways)
			}
			for _, sni := range s.snis {
				if sni != "outbound_.5000_._.helloworld.sample.svc.cluster.local" {
					t.Errorf("server saw SNI %q", sni)
				}
			}
			for _, g := range p.Gateways {
				if g.Outcome == model.ProbeUntrusted && (g.OwnNetworkTrusts == nil || *g.OwnNetworkTrusts) {
					t.Errorf("a certificate from a root no network trusts: own network trusts %v", g.OwnNetworkTrusts)
				}
			}
			m := model.NewReachabilityMatrix(p)
			if m.Cells["net-east"]["net-west"].Outcome != tc.want || m.From != "test" {
				t.Errorf("matrix %+v", m)
			}
		})
	}
}

func TestDeadlineHoldsWhateverTheGatewayDoes(t *testing.T) {
	root := newCA(t, "mesh root")
	s := &servers{}
	s.hang(t, "192.0.2.1")
	s.hang(t, "192.0.2.2")
	f := fleetOf(t, root, "192.0.2.1", "192.0.2.2")
	// A dialer that ignores its context stands for anything that could block.
	stuck := func(ctx context.Context, network, addr string) (net.Conn, error) {
		time.Sleep(5 * time.Second)
		return nil, fmt.Errorf("too late")
	}
	start := time.Now()
	p := Gateways(context.Background(), f, Options{Deadline: time.Now().Add(300 * time.Millisecond), Timeout: 10 * time.Second, Dial: stuck})
	if took := time.Since(start); took > 1300*time.Millisecond { // the promise: deadline + 1 s
		t.Errorf("took %s past a 300ms deadline", took)
	}
	for _, g := range p.Gateways {
		if g.Outcome != model.ProbeTimeout {
			t.Errorf("%+v: want timeout", g)
		}
	}
	if len(p.Gateways) != 2 || !strings.HasPrefix(ThisMachine(), "this machine") {
		t.Errorf("gateways %+v", p.Gateways)
	}
}

func TestSingleNetworkPlansNothing(t *testing.T) {
	root := newCA(t, "mesh root")
	f := fleetOf(t, root, "192.0.2.1", "192.0.2.2")
	for _, c := range f.Clusters {
		c.Namespaces[0].Labels["topology.istio.io/network"] = "net1"
		for i := range c.Services {
			if c.Services[i].Labels != nil {
				c.Services[i].Labels["topology.istio.io/network"] = "net1"
			}
		}
	}
	if ts := Plan(f, ""); len(ts) != 0 {
		t.Errorf("one network planned %+v", ts)
	}
}

func TestCallersDeadlineWins(t *testing.T) {
	root := newCA(t, "mesh root")
	s := &servers{}
	s.hang(t, "192.0.2.1")
	s.hang(t, "192.0.2.2")
	f := fleetOf(t, root, "192.0.2.1", "192.0.2.2")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	p := Gateways(ctx, f, Options{Timeout: 5 * time.Second, Dial: s.dial})
	if took := time.Since(start); took > 1200*time.Millisecond { // the promise: deadline + 1 s
		t.Errorf("took %s past the caller's 200ms", took)
	}
	if !p.Deadline.Before(start.Add(time.Second)) {
		t.Errorf("recorded deadline %s", p.Deadline)
	}
}

func TestNoTimeLeftSkips(t *testing.T) {
	root := newCA(t, "mesh root")
	f := fleetOf(t, root, "192.0.2.1", "192.0.2.2")
	dialled := false
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialled = true
		return nil, fmt.Errorf("no")
	}
	p := Gateways(context.Background(), f, Options{Deadline: time.Now().Add(50 * time.Millisecond), Dial: dial})
	if dialled || len(p.Gateways) != 0 || p.Skipped == "" {
		t.Errorf("with 50ms left: dialled %v, results %+v, skipped %q", dialled, p.Gateways, p.Skipped)
	}
}

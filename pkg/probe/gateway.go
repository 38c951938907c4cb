// Package probe holds the live part of a diagnosis: dials from this machine
// to what the mesh exposes (east-west gateways). A probe never decides
// anything: it records what it saw as data (model.Probes) on the Fleet
// before the checks run, and the checks judge it. Every probe is bound by
// one absolute deadline, and says where it ran from.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// MinTime is the least time before the deadline worth dialling in: with
// less, the probes are skipped rather than reported as timeouts.
const MinTime = 200 * time.Millisecond

// Options control one probe pass.
type Options struct {
	// Deadline is when every probe must have finished; results not in by
	// then are recorded as timeouts. Zero means now + Timeout.
	Deadline time.Time
	// Timeout bounds each probe, within Deadline (default: the time to
	// Deadline; 3s when neither is set).
	Timeout time.Duration
	// Domain is the cluster DNS domain used in service host names
	// (default cluster.local).
	Domain string
	// From names where the probes run (default "this machine (<hostname>)").
	From string
	// Dial opens the TCP connection (default a net.Dialer); tests replace it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock for certificate validity (default time.Now).
	Now func() time.Time
	// Client gives the client of a context, for the port-forwards to
	// istiod pods: the run's, which read the cluster (nil: a client of
	// RESTConfig's configuration).
	Client func(context string) (*kube.Client, error)
	// RESTConfig gives the client configuration of a context when Client is
	// nil (both nil: istiod is read only at the debug addresses given).
	RESTConfig func(context string) (*rest.Config, error)
	// NoRegistry: istiod's registry is not read after its clusterz (no
	// check that judges it runs: topology, or --skip MF4020,MF4021); on
	// a large mesh it is tens of megabytes per replica.
	NoRegistry bool
	// Forwards are the run's port-forward connections, one per pod, shared
	// by every read of an istiod replica and its xDS streams (nil: each
	// read dials its own).
	Forwards *Forwards
	// NoNetworkz: istiod's list of cross-network gateways
	// (/debug/networkz) is not read (no check that judges it runs).
	NoNetworkz bool
	// NoMetrics: istiod's /metrics is not read (no check that judges its
	// sync history or rejected xDS runs).
	NoMetrics bool

	// credentialCalls are the run's credential calls, shared by the
	// probes started early and late (nil: each Credentials call has its
	// own).
	credentialCalls *credentialCalls
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 && !o.Deadline.IsZero() {
		o.Timeout = max(time.Until(o.Deadline), time.Millisecond)
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Deadline.IsZero() {
		o.Deadline = time.Now().Add(o.Timeout)
	}
	if o.Domain == "" {
		o.Domain = "cluster.local"
	}
	if o.From == "" {
		o.From = ThisMachine()
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil && o.RESTConfig != nil {
		config := o.RESTConfig
		o.Client = func(context string) (*kube.Client, error) {
			cfg, err := config(context)
			if err != nil {
				return nil, err
			}
			return kube.NewClient(cfg)
		}
	}
	return o
}

// ThisMachine names the machine the probes run on.
func ThisMachine() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return "this machine (" + h + ")"
	}
	return "this machine"
}

// SNI is the server name an Istio proxy sends to another network's gateway
// for a service: outbound_.<port>_.<subset>_.<host>, the DNS-SRV form of the
// cluster name (istio.io/istio pilot/pkg/model BuildDNSSrvSubsetKey with
// TrafficDirectionOutbound and no subset). AUTO_PASSTHROUGH routes on it.
func SNI(port int32, host string) string {
	return "outbound_." + strconv.Itoa(int(port)) + "_._." + host
}

// Target is one dial: a gateway address of a destination network, and the
// source networks whose istiod hands that address out.
type Target struct {
	Network string
	Context string
	Service string // namespace/name, or "meshNetworks"
	Address string // host:port
	SNI     string
	// ALPN is what the client offers (nil: what an Istio proxy offers a
	// peer proxy).
	ALPN    []string
	Sources []string
	// NotRun says why the target cannot be dialled (empty when it can).
	NotRun string
}

// Plan lists the dials of a multi-network fleet: for every ordered pair of
// networks (S, N), the addresses S's istiod hands out for N (meshNetworks,
// else the load-balancer addresses of N's labelled gateways). One network
// (or none) plans nothing: there is no gateway path to probe.
func Plan(f *model.Fleet, domain string) []Target {
	if domain == "" {
		domain = "cluster.local"
	}
	nets := mesh.NamedNetworks(f)
	if len(nets) < 2 {
		return nil
	}
	_, members := mesh.Networks(f)
	byKey := map[string]*Target{}
	var keys []string
	for _, dst := range nets {
		sni, sniWhy := serviceSNI(f, members[dst], domain)
		for _, src := range nets {
			if src == dst {
				continue
			}
			view := viewCluster(f, members[src])
			if view == nil {
				continue
			}
			addrs, _ := mesh.GatewayAddressFor(f, view, dst)
			for _, a := range addrs {
				ctx, svc, port := gatewayOf(f, dst, a)
				hostport := net.JoinHostPort(a, strconv.Itoa(int(port)))
				k := dst + "|" + hostport
				t, ok := byKey[k]
				if !ok {
					t = &Target{Network: dst, Context: ctx, Service: svc, Address: hostport, SNI: sni}
					if sni == "" {
						t.NotRun = sniWhy
					}
					byKey[k] = t
					keys = append(keys, k)
				}
				t.Sources = append(t.Sources, src)
			}
		}
	}
	sort.Strings(keys)
	out := make([]Target, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out
}

// viewCluster is the cluster whose istiod serves network src's proxies: a
// primary of that network, else any of its clusters.
func viewCluster(f *model.Fleet, contexts []string) *model.Cluster {
	var first *model.Cluster
	for _, name := range contexts {
		c := f.Cluster(name)
		if c == nil || !c.Reachable {
			continue
		}
		if mesh.Identify(c).Role == mesh.RolePrimary {
			return c
		}
		if first == nil {
			first = c
		}
	}
	return first
}

// gatewayOf finds the labelled gateway Service of network that has addr.
func gatewayOf(f *model.Fleet, network, addr string) (ctx, svc string, port int32) {
	for _, c := range f.Clusters {
		if !c.Reachable {
			continue
		}
		for _, g := range mesh.NetworkGateways(c) {
			if g.Network != network || g.Port == 0 {
				continue
			}
			for _, a := range g.Addresses {
				if a == addr {
					return c.Context, g.Ref(), g.Port
				}
			}
		}
	}
	return "", "meshNetworks", mesh.CrossNetworkPort
}

var skipNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// serviceSNI picks a real service of the network to name in the SNI: one
// with ready endpoints, outside the system namespaces, the first by name.
func serviceSNI(f *model.Fleet, contexts []string, domain string) (string, string) {
	type cand struct {
		host string
		port int32
	}
	var cands []cand
	for _, name := range contexts {
		c := f.Cluster(name)
		if c == nil || !c.Reachable {
			continue
		}
		ready := map[string]bool{}
		for _, es := range c.EndpointSlices {
			if es.Ready > 0 && len(es.Addresses) > 0 {
				ready[es.Namespace+"/"+es.Service] = true
			}
		}
		for _, s := range c.Services {
			if skipNamespaces[s.Namespace] || s.Namespace == c.IstioNamespace || s.Labels[mesh.NetworkLabel] != "" ||
				s.Type == "ExternalName" || len(s.Ports) == 0 || !ready[s.Namespace+"/"+s.Name] ||
				(s.Namespace == "default" && s.Name == "kubernetes") {
				continue
			}
			cands = append(cands, cand{s.Name + "." + s.Namespace + ".svc." + domain, s.Ports[0].Port})
		}
	}
	if len(cands) == 0 {
		return "", "no service with ready endpoints in the network to name in the SNI"
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].host < cands[j].host })
	return SNI(cands[0].port, cands[0].host), ""
}

// Gateways plans and runs the gateway probes of a fleet, concurrently, and
// returns their results. It returns by opts.Deadline (plus the time to
// collect results) whatever the gateways do.
func Gateways(ctx context.Context, f *model.Fleet, opts Options) *model.Probes {
	opts = opts.withDefaults()
	if dl, ok := ctx.Deadline(); ok && dl.Before(opts.Deadline) {
		opts.Deadline = dl // the caller's budget for the whole run wins
	}
	out := &model.Probes{From: opts.From, Deadline: opts.Deadline}
	targets := Plan(f, opts.Domain)
	if len(targets) == 0 {
		return out
	}
	if left := time.Until(opts.Deadline); left < MinTime {
		// Dials cut off at once would read as gateways that time out.
		out.Skipped = fmt.Sprintf("%d gateway probes not dialled: the run's deadline left %s (reading the clusters used the time)", len(targets), left.Round(time.Millisecond))
		return out
	}
	bundles := map[string][]*x509.Certificate{}
	for _, t := range targets {
		for _, s := range append([]string{t.Network}, t.Sources...) {
			if _, ok := bundles[s]; !ok {
				bundles[s] = TrustBundle(f, s)
			}
		}
	}
	got := fanOut(ctx, opts.Deadline, opts.Timeout, len(targets), func(ctx context.Context, i int) dialResult {
		if t := targets[i]; t.NotRun != "" {
			return dialResult{outcome: model.ProbeNotRun, detail: t.NotRun}
		}
		return dial(ctx, opts, targets[i])
	})
	for i, t := range targets {
		d := got[i]
		if d == nil {
			d = &dialResult{outcome: model.ProbeTimeout, detail: "no result by the deadline", took: time.Until(opts.Deadline)}
		}
		for _, src := range t.Sources {
			p := model.GatewayProbe{
				SourceNetwork: src, Network: t.Network, Context: t.Context, Service: t.Service,
				Address: t.Address, SNI: t.SNI, Outcome: d.outcome, Detail: d.detail, Duration: d.took,
			}
			if len(d.chain) > 0 {
				p.Presented = describe(d.chain[0])
				p.Outcome, p.Detail = judge(d, bundles[src], src, opts.Now())
				if p.Outcome == model.ProbeUntrusted {
					p.CARefused = caConstraintRefusal(verifyChain(d.chain, bundles[src], opts.Now()))
					verdict, own := ownVerdict(d, bundles[t.Network], t.Network, opts.Now())
					p.Detail += "; " + verdict
					p.OwnNetworkTrusts = own
				}
			}
			out.Gateways = append(out.Gateways, p)
		}
	}
	return out
}

// dialResult is what one dial saw, before any trust bundle judged it.
type dialResult struct {
	outcome model.ProbeOutcome
	detail  string
	took    time.Duration
	chain   []*x509.Certificate
	// hsErr is the handshake error after a certificate arrived (a server
	// asking for a client certificate the probe does not have).
	hsErr error
}

// istioALPN is what an Istio proxy offers to a peer proxy.
var istioALPN = []string{"istio-peer-exchange", "istio"}

func dial(ctx context.Context, opts Options, t Target) dialResult {
	start := time.Now()
	res := func(o model.ProbeOutcome, detail string) dialResult {
		return dialResult{outcome: o, detail: detail, took: time.Since(start)}
	}
	conn, err := opts.Dial(ctx, "tcp", t.Address)
	if err != nil {
		return res(classify(ctx, err), oneLine(err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	alpn := t.ALPN
	if alpn == nil {
		alpn = istioALPN
	}
	var chain []*x509.Certificate
	cfg := &tls.Config{
		ServerName: t.SNI,
		NextProtos: alpn,
		MinVersion: tls.VersionTLS12,
		// The chain is judged afterwards, against each source network's
		// bundle; here it is only captured (also when the server then
		// rejects the handshake for want of a client certificate).
		InsecureSkipVerify: true, //nolint:gosec // verified in judge
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return nil
		},
	}
	tc := tls.Client(conn, cfg)
	err = tc.HandshakeContext(ctx)
	if len(chain) > 0 {
		return dialResult{outcome: model.ProbeOK, took: time.Since(start), chain: chain, hsErr: err}
	}
	if err != nil {
		o := classify(ctx, err)
		if o == model.ProbeRefused || o == model.ProbeError {
			o = model.ProbeHandshake // TCP was up: the TLS exchange failed
		}
		return res(o, oneLine(err))
	}
	return res(model.ProbeHandshake, "the server completed TLS without a certificate")
}

func classify(ctx context.Context, err error) model.ProbeOutcome {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return model.ProbeTimeout
	case errors.As(err, &netErr) && netErr.Timeout():
		return model.ProbeTimeout
	case errors.As(err, &dnsErr):
		return model.ProbeUnresolved
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return model.ProbeRefused
	}
	return model.ProbeError
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// judge verifies a presented chain against a source network's roots.
func judge(d *dialResult, roots []*x509.Certificate, src string, now time.Time) (model.ProbeOutcome, string) {
	if len(roots) == 0 {
		return model.ProbeNotRun, fmt.Sprintf("a certificate was presented, but no trust bundle (istio-ca-root-cert) was read for network %q to judge it", src)
	}
	if err := verifyChain(d.chain, roots, now); err != nil {
		return model.ProbeUntrusted, fmt.Sprintf("does not chain to the %d root(s) network %q trusts: %s", len(roots), src, oneLine(err))
	}
	detail := fmt.Sprintf("chains to the roots network %q trusts", src)
	if d.hsErr != nil {
		detail += "; then the server ended the handshake (" + oneLine(d.hsErr) + "), as a sidecar does without a client certificate"
	}
	return model.ProbeOK, detail
}

// verifyChain verifies a presented chain (leaf first) against roots, for
// any key usage and without a host name: the probes judge trust, not names.
func verifyChain(chain, roots []*x509.Certificate, now time.Time) error {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// caConstraintRefusal reports whether a verification failed on a
// constraint of a CA in the chain rather than on the chain's root: the
// root was found, and a name constraint, an extended key usage or a path
// length of a CA below it refused the certificate.
func caConstraintRefusal(err error) bool {
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) {
		return false
	}
	switch invalid.Reason {
	case x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage, x509.TooManyIntermediates:
		return true
	}
	return false
}

// ownVerdict says whether the gateway's own network trusts what it
// presented: if it does, the networks merely do not share a root; if not,
// something other than the mesh's gateway answers at that address.
func ownVerdict(d *dialResult, roots []*x509.Certificate, network string, now time.Time) (string, *bool) {
	yes, no := true, false
	switch o, _ := judge(d, roots, network, now); o {
	case model.ProbeOK:
		return fmt.Sprintf("network %q itself trusts it: the networks do not share a root (see MF2001)", network), &yes
	case model.ProbeUntrusted:
		if caConstraintRefusal(verifyChain(d.chain, roots, now)) {
			return fmt.Sprintf("network %q, whose gateway it is, refuses it too, for a constraint of the CA that issued it (see MF2015)", network), &no
		}
		return fmt.Sprintf("not even network %q, whose gateway it is, trusts it: something other than the east-west gateway's passthrough answers there", network), &no
	}
	return fmt.Sprintf("no trust bundle of network %q was read to say whether it trusts it", network), nil
}

// describe names a certificate by its public facts.
func describe(c *x509.Certificate) string {
	parts := []string{"subject " + c.Subject.String()}
	for _, u := range c.URIs {
		parts = append(parts, "URI "+u.String())
	}
	parts = append(parts, "issuer "+c.Issuer.String(), pki.Fingerprint(c.Raw))
	return strings.Join(parts, ", ")
}

// TrustBundle returns the roots the workloads of a network trust: every
// certificate in the istio-ca-root-cert ConfigMaps (root-cert.pem) of the
// Istio namespace of the network's clusters.
func TrustBundle(f *model.Fleet, network string) []*x509.Certificate {
	_, members := mesh.Networks(f)
	var out []*x509.Certificate
	seen := map[string]bool{}
	for _, name := range members[network] {
		c := f.Cluster(name)
		if c == nil {
			continue
		}
		for _, cm := range c.ConfigMaps {
			if cm.Name != model.RootCertConfigMap || cm.Namespace != c.IstioNamespace {
				continue
			}
			rest := []byte(cm.Data["root-cert.pem"])
			for {
				var b *pem.Block
				b, rest = pem.Decode(rest)
				if b == nil {
					break
				}
				cert, err := x509.ParseCertificate(b.Bytes)
				if err != nil || seen[string(cert.Raw)] {
					continue
				}
				seen[string(cert.Raw)] = true
				out = append(out, cert)
			}
		}
	}
	return out
}

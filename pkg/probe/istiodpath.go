package probe

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// istiodPath is one address a remote cluster reaches its primary's istiod
// at, with the roots that must verify what answers there.
type istiodPath struct {
	probe model.IstiodPathProbe
	sni   string
	alpn  []string
	roots []*x509.Certificate
	// rootsFrom names where the roots come from, for the verdict.
	rootsFrom string
	// hooks are the webhooks of one configuration that call this path.
	hooks []string
	// serverName is the name the caller verifies the certificate by, when
	// the probe must too: <service>.<namespace>.svc for a webhook that
	// names a Service (the API server's check).
	serverName string
	// problem says why there is nothing to dial: the API server itself
	// cannot call the webhook's Service (mesh.ServiceCall.Problem).
	problem string
}

// hooksVia names the injection webhooks of configuration that call one path.
func hooksVia(hooks []string, configuration string) string {
	if len(hooks) == 1 {
		return fmt.Sprintf("injection webhook %s of %s", hooks[0], configuration)
	}
	return fmt.Sprintf("injection webhooks %s of %s", strings.Join(hooks, ", "), configuration)
}

// PlanIstiodPaths lists, for every remote cluster, the addresses its API
// server and proxies use to reach the primary's istiod: where each
// sidecar-injector webhook calls, verified against the webhook's caBundle
// as the API server does (its URL; or, for a webhook that names a Service,
// as the remote profile renders it with istiodRemote.injectionPath, that
// Service's endpoints or ExternalName, as mesh.ResolveServiceCall works
// out), and the endpoints of its istiod Service on 15012 (or the
// ExternalName), verified against the cluster's istio-ca-root-cert, as its
// proxies do. A Service that selects local pods is not a path to another
// cluster.
func PlanIstiodPaths(f *model.Fleet) []istiodPath {
	var out []istiodPath
	for _, c := range f.Clusters {
		if !c.Reachable || mesh.Identify(c).Role != mesh.RoleRemote {
			continue
		}
		for _, w := range c.Webhooks {
			if !strings.Contains(w.Name, "sidecar-injector") {
				continue
			}
			// Istio's chart renders four hooks (namespace, object, and
			// their rev. twins) with one URL: one path, dialled once.
			byPath := map[string]int{}
			// add records a hook's path and returns its index in out: a
			// path already planned (another hook, same address) is shared.
			add := func(h model.WebhookClient, addr, sni, via string) int {
				key := addr + "\x00" + string(h.CABundle)
				if i, ok := byPath[key]; ok {
					out[i].hooks = append(out[i].hooks, h.Name)
					out[i].probe.Via = hooksVia(out[i].hooks, w.Name) + via
					return i
				}
				byPath[key] = len(out)
				p := istiodPath{
					probe: model.IstiodPathProbe{Context: c.Context, Via: hooksVia([]string{h.Name}, w.Name) + via,
						Kind: "MutatingWebhookConfiguration", Name: w.Name, Address: addr},
					roots: parseCerts(h.CABundle), rootsFrom: "the webhook's caBundle",
					alpn:  []string{"h2", "http/1.1"}, // as the API server calls a webhook
					hooks: []string{h.Name}, sni: sni,
				}
				if via != "" {
					p.serverName = sni
				}
				out = append(out, p)
				return len(out) - 1
			}
			for _, h := range w.Hooks {
				if ns, name, port, ok := h.ServiceRef(); ok {
					// The remote profile with injectionPath: the hook
					// calls the remote's istiod Service, whose endpoints
					// (or ExternalName) are remotePilotAddress.
					call := mesh.ResolveServiceCall(c, ns, name, port)
					if call.Local {
						continue // pods of this cluster answer: not a path to the primary
					}
					via := ", through " + call.Via
					if call.Problem != "" {
						// Every hook without a path shares one entry: the
						// index is add's, not the end of out (a second
						// hook calling the same missing Service panicked).
						out[add(h, "", call.ServerName, via)].problem = call.Problem
						continue
					}
					for _, t := range call.Targets {
						add(h, t, call.ServerName, via)
					}
					continue
				}
				u, err := url.Parse(h.URL)
				if h.URL == "" || err != nil || u.Host == "" {
					continue
				}
				port := u.Port()
				if port == "" {
					port = "443"
				}
				sni := ""
				if !mesh.IsIP(u.Hostname()) {
					sni = u.Hostname()
				}
				add(h, net.JoinHostPort(u.Hostname(), port), sni, "")
			}
		}
		for _, s := range c.Services {
			if s.Namespace != c.IstioNamespace || s.Name != mesh.IstiodApp || len(s.Selector) > 0 {
				continue
			}
			roots := rootCerts(c)
			base := istiodPath{
				probe: model.IstiodPathProbe{Context: c.Context, Via: fmt.Sprintf("istiod Service %s/%s", s.Namespace, s.Name),
					Kind: "Service", Namespace: s.Namespace, Name: s.Name},
				sni: fmt.Sprintf("%s.%s.svc", s.Name, s.Namespace), roots: roots,
				alpn:      []string{"h2"}, // xDS is gRPC
				rootsFrom: fmt.Sprintf("%s's %s", c.Context, model.RootCertConfigMap),
			}
			var hosts []string
			if s.Type == "ExternalName" {
				hosts = []string{s.ExternalName}
			}
			for _, es := range c.EndpointSlices {
				if es.Namespace == s.Namespace && es.Service == s.Name {
					hosts = append(hosts, es.Addresses...)
				}
			}
			sort.Strings(hosts)
			for i, h := range hosts {
				if i > 0 && hosts[i-1] == h {
					continue
				}
				p := base
				p.probe.Address = net.JoinHostPort(h, strconv.Itoa(int(mesh.IstiodXDSPort)))
				out = append(out, p)
			}
		}
	}
	return out
}

// IstiodPaths dials every path PlanIstiodPaths lists, from this machine,
// within opts' deadline, and judges what answers against the roots the
// remote cluster's API server or proxies would use.
func IstiodPaths(ctx context.Context, f *model.Fleet, opts Options) []model.IstiodPathProbe {
	opts = opts.withDefaults()
	if dl, ok := ctx.Deadline(); ok && dl.Before(opts.Deadline) {
		opts.Deadline = dl
	}
	paths := PlanIstiodPaths(f)
	out := make([]model.IstiodPathProbe, len(paths))
	for i, p := range paths {
		out[i] = p.probe
	}
	if len(paths) == 0 {
		return nil
	}
	if left := time.Until(opts.Deadline); left < MinTime {
		for i := range out {
			out[i].Outcome, out[i].Detail = model.ProbeNotRun, fmt.Sprintf("not dialled: the run's deadline left %s", left.Round(time.Millisecond))
		}
		return out
	}
	got := fanOut(ctx, opts.Deadline, opts.Timeout, len(paths), func(ctx context.Context, i int) dialResult {
		p := paths[i]
		if p.problem != "" {
			return dialResult{} // nothing to dial
		}
		return dial(ctx, opts, Target{Address: p.probe.Address, SNI: p.sni, ALPN: p.alpn})
	})
	for i, p := range paths {
		if p.problem != "" {
			out[i].Outcome, out[i].Detail = model.ProbeError, p.problem
			continue
		}
		d := got[i]
		if d == nil {
			d = &dialResult{outcome: model.ProbeTimeout, detail: "no result by the deadline", took: time.Until(opts.Deadline)}
		}
		r := &out[i]
		r.Outcome, r.Detail, r.Duration = d.outcome, d.detail, d.took
		if len(d.chain) == 0 {
			continue
		}
		r.Presented = describe(d.chain[0])
		if len(p.roots) == 0 {
			r.Outcome, r.Detail = model.ProbeNotRun, fmt.Sprintf("a certificate was presented, but %s holds no certificate to judge it by", p.rootsFrom)
			continue
		}
		if err := verifyChain(d.chain, p.roots, opts.Now()); err != nil {
			r.Outcome, r.Detail = model.ProbeUntrusted, fmt.Sprintf("does not chain to %s: %s", p.rootsFrom, oneLine(err))
		} else if err := d.chain[0].VerifyHostname(p.serverName); p.serverName != "" && err != nil {
			r.Outcome, r.Detail = model.ProbeUntrusted, fmt.Sprintf("chains to %s, but the API server verifies it as %s: %s", p.rootsFrom, p.serverName, oneLine(err))
		} else {
			r.Detail = "chains to " + p.rootsFrom
		}
	}
	return out
}

// rootCerts reads the roots of the cluster's istio-ca-root-cert in Istio's
// namespace: what its proxies verify istiod with.
func rootCerts(c *model.Cluster) []*x509.Certificate {
	for _, cm := range c.ConfigMaps {
		if cm.Name == model.RootCertConfigMap && cm.Namespace == c.IstioNamespace {
			return parseCerts([]byte(cm.Data["root-cert.pem"]))
		}
	}
	return nil
}

func parseCerts(b []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

package connectivity

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// probeGroup is one gateway address with every source network's result.
type probeGroup struct {
	key     string
	first   model.GatewayProbe
	sources []string
}

func groupProbes(f *model.Fleet, keep func(model.GatewayProbe) bool) []probeGroup {
	if f.Probes == nil {
		return nil // no probe ran (--no-probes): the report says so; nothing to judge
	}
	byKey := map[string]*probeGroup{}
	var keys []string
	for _, p := range f.Probes.Gateways {
		if f.Cluster(p.Context) == nil || !keep(p) {
			continue // the gateway's cluster is not in the check's view: the runner reports it unknown
		}
		k := p.Context + "|" + p.Service + "|" + p.Address + "|" + string(p.Outcome)
		g, ok := byKey[k]
		if !ok {
			g = &probeGroup{key: k, first: p}
			byKey[k] = g
			keys = append(keys, k)
		}
		g.sources = append(g.sources, p.SourceNetwork)
	}
	sort.Strings(keys)
	out := make([]probeGroup, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out
}

func probeRef(p model.GatewayProbe) *checks.ObjectRef {
	ns, name, _ := strings.Cut(p.Service, "/")
	return &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name}
}

var unreachable = map[model.ProbeOutcome]string{
	model.ProbeRefused:    "the connection was refused: nothing listens there",
	model.ProbeTimeout:    "no answer before the deadline: the address is filtered, black-holed or the gateway hangs",
	model.ProbeHandshake:  "TCP connected but the TLS handshake failed before a certificate arrived: no AUTO_PASSTHROUGH listener for the SNI, or something terminates TLS in front of it",
	model.ProbeUnresolved: "the host name does not resolve",
	model.ProbeError:      "the dial failed",
}

// gatewayUnreachable reports gateway addresses the probe could not complete
// TLS with, from the machine it ran on, and those it could not try (unknown).
func gatewayUnreachable(f *model.Fleet) []checks.Finding {
	out := notRun(f, false, "the gateway could not be probed", func(cluster string, d checks.Details) checks.Finding {
		return checks.NewMF3012(checks.MF3012Subjects{Cluster: cluster}, d)
	})
	for _, g := range groupProbes(f, func(p model.GatewayProbe) bool { _, bad := unreachable[p.Outcome]; return bad }) {
		p := g.first
		sev := checks.SeverityOK
		if p.Outcome == model.ProbeTimeout || p.Outcome == model.ProbeUnresolved {
			// From this machine only: a private load balancer may still be
			// reachable from the peer networks.
			sev = checks.SeverityWarning
		}
		ev := []string{
			fmt.Sprintf("probed from %s", f.Probes.From),
			fmt.Sprintf("dialled %s with SNI %s: %s after %s", p.Address, p.SNI, p.Outcome, p.Duration.Round(1e6)),
			fmt.Sprintf("the address istiod gives the proxies of network %s for network %q", strings.Join(quoted(g.sources), ", "), p.Network),
		}
		if p.Detail != "" {
			ev = append(ev, p.Detail)
		}
		out = append(out, checks.NewMF3012(checks.MF3012Subjects{Cluster: p.Context}, checks.Details{
			Severity: sev,
			Object:   probeRef(p),
			Message:  fmt.Sprintf("east-west gateway %s of network %q at %s is not usable from %s: %s", p.Service, p.Network, p.Address, f.Probes.From, unreachable[p.Outcome]),
			Evidence: ev,
		}))
	}
	return out
}

// gatewayUntrusted reports gateways whose certificate (the passthrough
// target's) does not chain to the roots a source network trusts.
func gatewayUntrusted(f *model.Fleet) []checks.Finding {
	out := notRun(f, true, "the certificate the gateway presented could not be judged", func(cluster string, d checks.Details) checks.Finding {
		return checks.NewMF3013(checks.MF3013Subjects{Cluster: cluster}, d)
	})
	// When the gateway's own network trusts the certificate, the networks
	// only sign under different roots: MF2001 reports that, once.
	untrusted := func(p model.GatewayProbe) bool {
		return p.Outcome == model.ProbeUntrusted && (p.OwnNetworkTrusts == nil || !*p.OwnNetworkTrusts)
	}
	for _, g := range groupProbes(f, func(p model.GatewayProbe) bool { return p.Outcome == model.ProbeUntrusted && !untrusted(p) }) {
		out = append(out, checks.ReportedUnder("MF2001", g.first.Context))
	}
	// A chain that reaches a trusted root and is refused for a constraint
	// of its CA is that CA's fault, which MF2015 names.
	for _, g := range groupProbes(f, func(p model.GatewayProbe) bool { return p.Outcome == model.ProbeUntrusted && p.CARefused }) {
		out = append(out, checks.ReportedUnder("MF2015", g.first.Context))
	}
	untrusted = func(p model.GatewayProbe) bool {
		return p.Outcome == model.ProbeUntrusted && !p.CARefused && (p.OwnNetworkTrusts == nil || !*p.OwnNetworkTrusts)
	}
	for _, g := range groupProbes(f, untrusted) {
		p := g.first
		out = append(out, checks.NewMF3013(checks.MF3013Subjects{Cluster: p.Context}, checks.Details{
			Object: probeRef(p),
			Message: fmt.Sprintf("east-west gateway %s of network %q at %s presents a certificate that the workloads of network %s do not trust%s",
				p.Service, p.Network, p.Address, strings.Join(quoted(g.sources), ", "), ownClause(p)),
			Evidence: []string{
				fmt.Sprintf("probed from %s with SNI %s", f.Probes.From, p.SNI),
				"presented: " + p.Presented,
				p.Detail,
			},
		}))
	}
	return out
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// notRun turns probes that could not decide into unknown findings: those
// that dialled nothing (presented false) for reachability, those that got a
// certificate but had no trust bundle to judge it (presented true) for trust.
func notRun(f *model.Fleet, presented bool, what string, finding func(cluster string, d checks.Details) checks.Finding) []checks.Finding {
	var out []checks.Finding
	for _, g := range groupProbes(f, func(p model.GatewayProbe) bool {
		return p.Outcome == model.ProbeNotRun && (p.Presented != "") == presented
	}) {
		p := g.first
		out = append(out, finding(p.Context, checks.Details{
			Severity: checks.SeverityUnknown,
			Object:   probeRef(p),
			Message:  fmt.Sprintf("east-west gateway %s of network %q at %s: %s: %s", p.Service, p.Network, p.Address, what, p.Detail),
			Evidence: []string{fmt.Sprintf("probed from %s, for network %s", f.Probes.From, strings.Join(quoted(g.sources), ", "))},
		}))
	}
	return out
}

func ownClause(p model.GatewayProbe) string {
	if p.OwnNetworkTrusts != nil && !*p.OwnNetworkTrusts {
		return ", nor does its own network: something other than the gateway answers there"
	}
	return ""
}

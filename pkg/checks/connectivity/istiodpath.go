package connectivity

import (
	"fmt"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

var istiodPathFailure = map[model.ProbeOutcome]string{
	model.ProbeRefused:    "the connection was refused: nothing listens there",
	model.ProbeTimeout:    "no answer before the deadline",
	model.ProbeHandshake:  "TCP connected but the TLS handshake failed before a certificate arrived (no passthrough to istiod on that port, or no istiod serving behind it: an unready istiod has not opened 15012 and 15017)",
	model.ProbeUnresolved: "the host name does not resolve",
	model.ProbeError:      "the dial failed",
	model.ProbeUntrusted:  "what answers presents a certificate the remote does not trust",
	model.ProbeNotRun:     "it could not be judged",
}

// istiodPath (MF3016): a remote cluster's API server calls the primary's
// injector at its webhook URL (15017), and its proxies reach istiod at the
// endpoints of their istiod Service (15012); the probe dials both from this
// machine. A refused dial, a failed handshake or an untrusted certificate
// fails for every caller (error); a timeout or a name that does not resolve
// may be this machine's alone (warning); a dial that could not be judged is
// unknown.
func istiodPath(f *model.Fleet) []checks.Finding {
	if f.Probes == nil {
		return nil
	}
	var out []checks.Finding
	for _, p := range f.Probes.IstiodPaths {
		what, bad := istiodPathFailure[p.Outcome]
		if !bad || f.Cluster(p.Context) == nil {
			continue
		}
		if under := uncallableWebhookService(f.Cluster(p.Context), p); under != "" {
			out = append(out, checks.ReportedUnder(under, p.Context))
			continue
		}
		sev := checks.SeverityOK
		switch p.Outcome {
		case model.ProbeTimeout, model.ProbeUnresolved:
			sev = checks.SeverityWarning // a private address may answer the remote and not this machine
		case model.ProbeNotRun:
			sev = checks.SeverityUnknown
		}
		msg := fmt.Sprintf("remote cluster %s reaches its primary's istiod through %s at %s, and from %s %s", p.Context, p.Via, p.Address, f.Probes.From, what)
		ev := []string{fmt.Sprintf("dialled %s from %s: %s after %s", p.Address, f.Probes.From, p.Outcome, p.Duration.Round(1e6))}
		if p.Address == "" {
			// A webhook naming a Service the API server cannot call:
			// nothing was dialled (pkg/mesh.ResolveServiceCall).
			msg = fmt.Sprintf("remote cluster %s reaches its primary's istiod through %s, which its API server cannot call: pods are not created where the webhook fails closed", p.Context, p.Via)
			ev = nil
		}
		if p.Detail != "" {
			ev = append(ev, p.Detail)
		}
		if p.Presented != "" {
			ev = append(ev, "presented: "+p.Presented)
		}
		out = append(out, checks.NewMF3016(checks.MF3016Subjects{Remote: p.Context}, checks.Details{
			Severity: sev,
			Object:   &checks.ObjectRef{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name},
			Message:  msg,
			Evidence: ev,
		}))
	}
	return out
}

// uncallableWebhookService: a probe of a webhook's path through a Service
// the API server cannot use as meant (none by that name: MF4040; an
// ExternalName: MF4041) fails because of that Service, which those checks
// report with its cause; "" otherwise.
func uncallableWebhookService(c *model.Cluster, p model.IstiodPathProbe) checks.ID {
	if p.Kind != "MutatingWebhookConfiguration" {
		return ""
	}
	for _, w := range c.Webhooks {
		if w.Name != p.Name {
			continue
		}
		for _, h := range w.Hooks {
			ns, name, port, ok := h.ServiceRef()
			if !ok || !strings.Contains(p.Via, fmt.Sprintf("Service %s/%s:%d", ns, name, port)) {
				continue
			}
			switch mesh.UncallableService(c, ns, name) {
			case "missing":
				return checks.MF4040
			case "externalname":
				return checks.MF4041
			}
		}
	}
	return ""
}

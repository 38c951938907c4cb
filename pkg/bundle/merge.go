package bundle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Merged is one fleet made of several bundles.
type Merged struct {
	Fleet *model.Fleet
	// Chosen says, per context, which bundle it was taken from.
	Chosen []checks.ContextChoice
	// Offline is the report's account of the bundles.
	Offline *checks.Offline
	// Security holds the security policies of every namespace by context,
	// from the bundle each cluster was taken from (absent: that bundle
	// does not record them).
	Security map[string]model.SecurityPolicies
}

// Merge makes one fleet of bundles, a context held by several taken from
// the one whose run began last (the others' reading of it is named as
// superseded). Each context's live results (the probes about it, its
// istiod's views) come from the same bundle as its cluster, with where the
// probes ran marked "from the bundle, observed at T". now dates each
// bundle's age.
func Merge(bs []*Bundle, now time.Time) (*Merged, error) {
	if len(bs) == 0 {
		return nil, fmt.Errorf("no bundle")
	}
	ns := bs[0].Fleet.IstioNamespace
	for _, b := range bs[1:] {
		if b.Fleet.IstioNamespace != ns {
			return nil, fmt.Errorf("%s was read with Istio namespace %s, %s with %s: a fleet has one", bs[0].Path, ns, b.Path, b.Fleet.IstioNamespace)
		}
	}
	// The newest reading of each context wins.
	winner := map[string]int{}
	var order []string
	for i, b := range bs {
		for _, c := range b.Fleet.Clusters {
			w, seen := winner[c.Context]
			if !seen {
				order = append(order, c.Context)
			}
			if !seen || b.Manifest.ReadAt.After(bs[w].Manifest.ReadAt) {
				winner[c.Context] = i
			}
		}
	}
	out := &Merged{Fleet: &model.Fleet{IstioNamespace: ns}, Offline: &checks.Offline{}}
	kube := map[string]bool{}
	var observed []string
	for i, b := range bs {
		src := checks.BundleSource{
			File: b.Path, FormatVersion: b.Manifest.FormatVersion, ReadAt: b.Manifest.ReadAt,
			Tool: strings.TrimSpace(b.Manifest.Tool.Version + " " + b.Manifest.Tool.Commit),
			Age:  age(now.Sub(b.Manifest.ReadAt)),
		}
		for _, c := range b.Fleet.Clusters {
			if winner[c.Context] == i {
				src.Contexts = append(src.Contexts, c.Context)
			} else {
				src.Superseded = append(src.Superseded, c.Context)
			}
		}
		if p := b.Manifest.Probes; p != nil && b.Fleet.Probes != nil {
			at := p.ObservedAt
			src.ProbesFrom, src.ProbesObservedAt = p.From, &at
			observed = append(observed, fmt.Sprintf("%s at %s", b.Path, at.UTC().Format(time.RFC3339)))
		}
		if b.Manifest.ReadAt.After(out.Offline.JudgedAt) {
			out.Offline.JudgedAt = b.Manifest.ReadAt
		}
		for _, k := range b.Fleet.Kubeconfig {
			if !kube[k.Name] {
				kube[k.Name] = true
				out.Fleet.Kubeconfig = append(out.Fleet.Kubeconfig, k)
			}
		}
		out.Offline.Bundles = append(out.Offline.Bundles, src)
	}
	for _, ctx := range order {
		b := bs[winner[ctx]]
		c := b.Fleet.Cluster(ctx)
		out.Fleet.Clusters = append(out.Fleet.Clusters, c)
		reason := fmt.Sprintf("from bundle %s (read %s, %s ago)", b.Path, b.Manifest.ReadAt.UTC().Format(time.RFC3339), age(now.Sub(b.Manifest.ReadAt)))
		for j, other := range bs {
			if j != winner[ctx] && other.Fleet.Cluster(ctx) != nil {
				reason += fmt.Sprintf("; %s holds an older reading of it (read %s), not used", other.Path, other.Manifest.ReadAt.UTC().Format(time.RFC3339))
			}
		}
		out.Chosen = append(out.Chosen, checks.ContextChoice{Context: ctx, Reason: reason})
		if p, ok := b.Security[ctx]; ok {
			if out.Security == nil {
				out.Security = map[string]model.SecurityPolicies{}
			}
			out.Security[ctx] = p
		}
	}
	out.Fleet.Probes = mergeProbes(bs, winner)
	out.Fleet.AWSNetwork, out.Fleet.AWSPrivateCA = newestAWS(bs)
	if len(observed) > 0 {
		out.Offline.LiveResults = "the probes' results and istiod's views are from the bundle, observed at " + strings.Join(observed, ", ") + "; nothing was read or probed live"
	} else {
		out.Offline.LiveResults = "the bundles hold no probe results (dumped with --no-probes); nothing was read or probed live"
	}
	return out, nil
}

// mergeProbes keeps of each bundle's probes those about the contexts taken
// from it, and marks where each ran from as observed then.
func mergeProbes(bs []*Bundle, winner map[string]int) *model.Probes {
	var out *model.Probes
	var froms []string
	for i, b := range bs {
		p := b.Fleet.Probes
		if p == nil {
			continue
		}
		if out == nil {
			out = &model.Probes{}
		}
		mine := func(ctx string) bool { w, ok := winner[ctx]; return !ok || w == i }
		at := b.Manifest.WrittenAt
		if b.Manifest.Probes != nil {
			at = b.Manifest.Probes.ObservedAt
		}
		from := fmt.Sprintf("%s, from the bundle, observed at %s", p.From, at.UTC().Format(time.RFC3339))
		if len(bs) > 1 {
			from = fmt.Sprintf("%s (%s)", from, b.Path)
		}
		if !slices.Contains(froms, from) {
			froms = append(froms, from)
		}
		if p.Deadline.After(out.Deadline) {
			out.Deadline = p.Deadline
		}
		if out.Skipped == "" {
			out.Skipped = p.Skipped
		}
		out.Gateways = append(out.Gateways, keep(p.Gateways, func(g model.GatewayProbe) bool { return mine(g.Context) })...)
		out.Credentials = append(out.Credentials, keep(p.Credentials, func(c model.CredentialProbe) bool { return mine(c.Context) })...)
		out.Istiod = append(out.Istiod, keep(p.Istiod, func(v model.IstiodView) bool { return mine(v.Context) })...)
		out.IstiodPaths = append(out.IstiodPaths, keep(p.IstiodPaths, func(v model.IstiodPathProbe) bool { return mine(v.Context) })...)
		out.SidecarViews = append(out.SidecarViews, keep(p.SidecarViews, func(v model.SidecarView) bool { return mine(v.Context) })...)
	}
	if out != nil {
		out.From = strings.Join(froms, "; ")
	}
	return out
}

func keep[T any](in []T, ok func(T) bool) []T {
	var out []T
	for _, v := range in {
		if ok(v) {
			out = append(out, v)
		}
	}
	return out
}

// newestAWS takes what AWS said from the newest bundle that asked it.
func newestAWS(bs []*Bundle) (*model.AWSNetwork, *model.AWSPrivateCA) {
	var network *model.AWSNetwork
	var pca *model.AWSPrivateCA
	var netAt, pcaAt time.Time
	for _, b := range bs {
		at := b.Manifest.ReadAt
		if b.Fleet.AWSNetwork != nil && (network == nil || at.After(netAt)) {
			network, netAt = b.Fleet.AWSNetwork, at
		}
		if b.Fleet.AWSPrivateCA != nil && (pca == nil || at.After(pcaAt)) {
			pca, pcaAt = b.Fleet.AWSPrivateCA, at
		}
	}
	return network, pca
}

// age is a duration as a person says it: "40s", "12m", "3h5m", "2d4h".
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

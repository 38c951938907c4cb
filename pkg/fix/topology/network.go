// Package topology fixes the mesh's shape: a cluster that names no network
// in a multi-network mesh (MF1003).
package topology

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// NetworkLabel labels the Istio namespace of a cluster without a network
// (MF1003) with the network its own objects say it is on, or the one
// --network names.
type NetworkLabel struct{}

// Answers is MF1003.
func (NetworkLabel) Answers() []checks.ID { return []checks.ID{checks.MF1003} }

// Plan labels each unlabelled cluster's Istio namespace, or refuses when the
// network cannot be told.
func (NetworkLabel) Plan(in fix.Input) (fix.Plan, error) {
	var p fix.Plan
	done := map[string]bool{}
	for _, f := range in.FindingsOf(checks.MF1003) {
		for _, ctx := range f.SubjectsOf(checks.RoleCluster) {
			c := in.Fleet.Cluster(ctx)
			if c == nil || done[ctx] {
				continue
			}
			done[ctx] = true
			p.Add(planCluster(in.Fleet, c, in.Options.Networks[ctx]))
		}
	}
	return p, nil
}

func planCluster(f *model.Fleet, c *model.Cluster, given string) fix.Plan {
	answers := []checks.ID{checks.MF1003}
	claims := mesh.NetworkClaims(f, c)
	byNetwork := map[string][]string{}
	for _, cl := range claims {
		byNetwork[cl.Network] = append(byNetwork[cl.Network], cl.Source)
	}
	network, why := given, ""
	switch {
	case given != "":
		why = fmt.Sprintf("--network %s=%s names it", c.Context, given)
		if others := otherNetworks(byNetwork, given); len(others) > 0 {
			why += fmt.Sprintf(" (although %s)", strings.Join(others, "; "))
		}
	case len(byNetwork) == 1:
		network = claims[0].Network
		why = "the cluster's own objects say so: " + strings.Join(byNetwork[network], "; ")
	case len(byNetwork) == 0:
		return fix.Plan{Refused: []fix.Refusal{{Context: c.Context, Answers: answers, Reason: fmt.Sprintf(
			"nothing in %s says which network it is on (no east-west gateway labelled %s, no values.global.network, no meshNetworks entry for its cluster ID); the networks in the mesh are %s. Pass --network %s=NAME.",
			c.Context, mesh.NetworkLabel, strings.Join(mesh.NamedNetworks(f), ", "), c.Context)}}}
	default:
		return fix.Plan{Refused: []fix.Refusal{{Context: c.Context, Answers: answers, Reason: fmt.Sprintf(
			"%s's objects disagree about its network: %s. Pass --network %s=NAME.",
			c.Context, strings.Join(otherNetworks(byNetwork, ""), "; "), c.Context)}}}
	}

	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(c.IstioNamespace)
	ns.SetLabels(map[string]string{mesh.NetworkLabel: network})
	p := fix.Plan{Changes: []fix.Change{{
		Context: c.Context, Object: ns, Answers: answers, Phase: fix.PhasePrepare,
		Reason: fmt.Sprintf("istiod takes the network of %s's endpoints from the %s label of namespace %s, which is missing while other clusters name theirs, so the other networks are handed %s's pod IPs, which they cannot reach. The network is %s: %s. istiod watches that namespace and applies the label without a restart (pilot/pkg/serviceregistry/kube/controller: onSystemNamespaceEvent).",
			c.Context, mesh.NetworkLabel, c.IstioNamespace, c.Context, network, why),
	}}}
	if installed := installNetwork(claims); installed != network {
		p.Notes = append(p.Notes, fix.Note{Context: c.Context, Answers: answers, Text: fmt.Sprintf(
			"%s's sidecars carry their own network in ISTIO_META_NETWORK, which the injector sets from values.global.network (%s), not from the namespace label: set values.global.network=%s in %s's Istio install and restart its workloads, so that their proxies know they are on %s.",
			c.Context, orNone(installed), network, c.Context, network)})
	}
	return p
}

// installNetwork is the network values.global.network names, if any.
func installNetwork(claims []mesh.NetworkClaim) string {
	for _, cl := range claims {
		if cl.Kind == mesh.ClaimInstall {
			return cl.Network
		}
	}
	return ""
}

// otherNetworks lists the claims for networks other than except.
func otherNetworks(byNetwork map[string][]string, except string) []string {
	var out []string
	for n, sources := range byNetwork {
		if n != except {
			out = append(out, fmt.Sprintf("%s says %s", strings.Join(sources, " and "), n))
		}
	}
	sort.Strings(out)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "unset"
	}
	return s
}

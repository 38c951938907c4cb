package discovery

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	meshconfig "istio.io/api/mesh/v1alpha1"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// SelectorLabels answers MF4032: a peer's namespace that a primary's
// discoverySelectors drop gets the labels that make a selector match it,
// the labels the primary's own namespace of that name carries for it. The
// mesh config is never changed: widening the selectors would admit every
// namespace they then match, in every cluster.
type SelectorLabels struct{}

// Answers is MF4032.
func (SelectorLabels) Answers() []checks.ID { return []checks.ID{checks.MF4032} }

// Plan labels each dropped namespace once, or refuses with the reason.
func (SelectorLabels) Plan(in fix.Input) (fix.Plan, error) {
	type nsKey struct{ peer, ns string }
	primaries := map[nsKey][]string{}
	var keys []nsKey
	for _, fd := range in.FindingsOf(checks.MF4032) {
		if fd.Object == nil {
			continue
		}
		k := nsKey{fd.Subject(checks.RolePeer), fd.Object.Name}
		if _, ok := primaries[k]; !ok {
			keys = append(keys, k)
		}
		primaries[k] = append(primaries[k], fd.Subject(checks.RolePrimary))
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].peer+"/"+keys[i].ns < keys[j].peer+"/"+keys[j].ns })
	var p fix.Plan
	for _, k := range keys {
		p.Add(planNamespace(in.Fleet, k.peer, k.ns, primaries[k]))
	}
	return p, nil
}

func planNamespace(f *model.Fleet, peer, ns string, dropping []string) fix.Plan {
	answers := []checks.ID{checks.MF4032}
	refuse := func(format string, a ...any) fix.Plan {
		return fix.Plan{Refused: []fix.Refusal{{Context: peer, Answers: answers, Reason: fmt.Sprintf(format, a...)}}}
	}
	r := f.Cluster(peer)
	if r == nil {
		return refuse("%s was not read", peer)
	}
	target, ok := namespaceIn(r, ns)
	if !ok {
		return refuse("%s has no namespace %s any more", peer, ns)
	}
	add := map[string]string{}
	var why []string
	for _, pc := range dropping {
		p := f.Cluster(pc)
		if p == nil {
			return refuse("primary %s was not read", pc)
		}
		l, how, err := labelsFor(p, target)
		if err != nil {
			return refuse("namespace %s of %s: %v; label it by hand so that a selector of %s's discoverySelectors matches", ns, peer, err, pc)
		}
		for k, v := range l {
			if prev, ok := add[k]; ok && prev != v {
				return refuse("namespace %s of %s would need %s=%s for %s and %s=%s for another primary; label it by hand", ns, peer, k, v, pc, k, prev)
			}
			add[k] = v
		}
		why = append(why, how)
	}
	for k, v := range add {
		if have, ok := target.Labels[k]; ok && have != v {
			return refuse("namespace %s of %s already has %s=%s, and the selector needs %s=%s: changing a label's value may change what else selects the namespace; decide by hand", ns, peer, k, have, k, v)
		}
		if istioReads(k) {
			return refuse("the selector needs label %s=%s on namespace %s of %s, a label Istio also reads for other purposes (injection, revision, network, ambient): decide by hand", k, v, ns, peer)
		}
	}
	after := maps.Clone(target.Labels)
	if after == nil {
		after = map[string]string{}
	}
	maps.Copy(after, add)
	// The label must not make any istiod that discovers the namespace now
	// drop it (a NotIn or DoesNotExist selector of another primary).
	for _, q := range f.Clusters {
		qid := mesh.Identify(q)
		if qid.Role != mesh.RolePrimary || qid.Mesh == nil {
			continue
		}
		if _, reads := mesh.RemoteSecretKeys(q)[mesh.Identify(r).ClusterID]; q != r && !reads {
			continue
		}
		sels, err := mesh.DiscoverySelectors(qid.Mesh)
		if err != nil {
			continue // istiod keeps no selectors: it discovers every namespace, before and after
		}
		_, before := mesh.SelectedBy(sels, target.Labels)
		_, now := mesh.SelectedBy(sels, after)
		if before && !now {
			return refuse("labelling namespace %s of %s with %s would make %s's istiod drop it (%s)", ns, peer, describeLabels(add), q.Context, mesh.DescribeSelectors(sels))
		}
		if !now && slices.Contains(dropping, q.Context) && len(add) == 0 {
			return refuse("no label added can make %s's discoverySelectors (%s) match namespace %s of %s, whose labels %s they exclude; change the namespace's labels by hand", q.Context, mesh.DescribeSelectors(sels), ns, peer, describeLabels(target.Labels))
		}
		if !now && slices.Contains(dropping, q.Context) {
			return refuse("labelling namespace %s of %s with %s would still not make %s's discoverySelectors match it; label it by hand", ns, peer, describeLabels(add), q.Context)
		}
	}
	if len(add) == 0 {
		return fix.Plan{}
	}
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("v1")
	obj.SetKind("Namespace")
	obj.SetName(ns)
	obj.SetLabels(add)
	return fix.Plan{Changes: []fix.Change{{
		Context: peer, Object: obj, Answers: answers, Phase: fix.PhasePrepare,
		Reason: fmt.Sprintf("istiod applies a primary's meshConfig discoverySelectors to the namespaces of every cluster it reads (istio/istio#54402), and %s's match none of namespace %s's labels in %s, so its Services never reach %s's sidecars. %s. istiod watches namespaces and picks the label up without a restart (pkg/kube/namespace/filter.go); the mesh config is left alone.",
			strings.Join(dropping, " and "), ns, peer, strings.Join(dropping, " and "), strings.Join(why, "; ")),
	}}}
}

// labelsFor works out the labels that make one of p's selectors match
// namespace target (of a peer): those of the entry that selects p's own
// namespace of that name, with p's own values; else an entry made only of
// matchLabels (and single-value In).
func labelsFor(p *model.Cluster, target model.Namespace) (map[string]string, string, error) {
	id := mesh.Identify(p)
	if id.Mesh == nil {
		return nil, "", fmt.Errorf("%s's mesh config could not be read", p.Context)
	}
	sels, err := mesh.DiscoverySelectors(id.Mesh)
	if err != nil || len(sels) == 0 {
		return nil, "", fmt.Errorf("%s's istiod applies no discoverySelectors now", p.Context)
	}
	if own, ok := namespaceIn(p, target.Name); ok {
		if matched, selected := mesh.SelectedBy(sels, own.Labels); selected {
			s := matched[0]
			add, err := fromEntry(s.Source, own.Labels)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", s, err)
			}
			return add, fmt.Sprintf("%s's own namespace %s is discovered through %s with %s, so the peer's gets the same", p.Context, target.Name, s, describeLabels(add)), nil
		}
	}
	for _, s := range sels {
		if add, err := fromEntry(s.Source, nil); err == nil && len(add) > 0 {
			return add, fmt.Sprintf("%s's %s asks for %s", p.Context, s, describeLabels(add)), nil
		}
	}
	return nil, "", fmt.Errorf("no selector of %s names the labels it wants (only expressions with several values, Exists or exclusions)", p.Context)
}

// fromEntry returns the labels an entry requires, with the values of own
// where the entry leaves a choice (In, Exists); exclusions need no label.
func fromEntry(e *meshconfig.LabelSelector, own map[string]string) (map[string]string, error) {
	add := maps.Clone(e.GetMatchLabels())
	if add == nil {
		add = map[string]string{}
	}
	for _, x := range e.GetMatchExpressions() {
		switch metav1.LabelSelectorOperator(x.GetOperator()) {
		case metav1.LabelSelectorOpIn:
			if v, ok := own[x.GetKey()]; ok && slices.Contains(x.GetValues(), v) {
				add[x.GetKey()] = v
			} else if len(x.GetValues()) == 1 {
				add[x.GetKey()] = x.GetValues()[0]
			} else {
				return nil, fmt.Errorf("%s In %v leaves the value open", x.GetKey(), x.GetValues())
			}
		case metav1.LabelSelectorOpExists:
			v, ok := own[x.GetKey()]
			if !ok {
				return nil, fmt.Errorf("%s Exists leaves the value open", x.GetKey())
			}
			add[x.GetKey()] = v
		}
	}
	return add, nil
}

func describeLabels(l map[string]string) string {
	return labels.Set(l).String()
}

// istioReads reports a namespace label Istio acts on besides discovery.
func istioReads(key string) bool {
	return key == "istio-injection" || strings.Contains(key, "istio.io/")
}

func namespaceIn(c *model.Cluster, name string) (model.Namespace, bool) {
	for _, n := range c.Namespaces {
		if n.Name == name {
			return n, true
		}
	}
	return model.Namespace{}, false
}

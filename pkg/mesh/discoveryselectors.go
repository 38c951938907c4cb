package mesh

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	meshconfig "istio.io/api/mesh/v1alpha1"
)

// DiscoverySelector is one entry of meshConfig.discoverySelectors, compiled
// as istiod compiles it (istio.io/istio pkg/config/mesh/labelselector,
// LabelSelectorAsSelector; ported, since that package is not light to link).
type DiscoverySelector struct {
	// Index is the entry's position in the list, for evidence.
	Index    int
	Selector labels.Selector
	// Source is the entry as written, for the fixer.
	Source *meshconfig.LabelSelector
}

func (s DiscoverySelector) String() string {
	text := s.Selector.String()
	switch {
	case s.Source == nil:
		text = "null (selects nothing)"
	case text == "":
		text = "{} (selects every namespace)"
	}
	return fmt.Sprintf("discoverySelectors[%d] %s", s.Index, text)
}

// DiscoverySelectors compiles a mesh config's discoverySelectors. None means
// istiod discovers every namespace. An entry istiod cannot compile makes it
// log the error and leave its filter as it was (pkg/kube/namespace/filter.go,
// selectorsChanged): from a start, no selectors, so every namespace; the
// error is returned and the caller should read that as "no selectors".
func DiscoverySelectors(m *meshconfig.MeshConfig) ([]DiscoverySelector, error) {
	var out []DiscoverySelector
	for i, ps := range m.GetDiscoverySelectors() {
		sel, err := labelSelectorAsSelector(ps)
		if err != nil {
			return nil, fmt.Errorf("discoverySelectors[%d]: %w", i, err)
		}
		out = append(out, DiscoverySelector{Index: i, Selector: sel, Source: ps})
	}
	return out, nil
}

// SelectedBy returns the selectors that match a namespace's labels (istiod
// discovers the namespace when any does). With no selectors at all every
// namespace is discovered: ok is then true and matched empty.
func SelectedBy(sels []DiscoverySelector, nsLabels map[string]string) (matched []DiscoverySelector, ok bool) {
	if len(sels) == 0 {
		return nil, true
	}
	for _, s := range sels {
		if s.Selector.Matches(labels.Set(nsLabels)) {
			matched = append(matched, s)
		}
	}
	return matched, len(matched) > 0
}

// DescribeSelectors lists selectors for evidence.
func DescribeSelectors(sels []DiscoverySelector) string {
	parts := make([]string, len(sels))
	for i, s := range sels {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}

// labelSelectorAsSelector is labelselector.LabelSelectorAsSelector: a nil
// entry selects nothing, an empty one everything, and otherwise every
// matchLabels pair and matchExpressions entry must hold.
func labelSelectorAsSelector(ps *meshconfig.LabelSelector) (labels.Selector, error) {
	if ps == nil {
		return labels.Nothing(), nil
	}
	if len(ps.MatchLabels)+len(ps.MatchExpressions) == 0 {
		return labels.Everything(), nil
	}
	reqs := make([]labels.Requirement, 0, len(ps.MatchLabels)+len(ps.MatchExpressions))
	for k, v := range ps.MatchLabels {
		r, err := labels.NewRequirement(k, selection.Equals, []string{v})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	for _, expr := range ps.MatchExpressions {
		var op selection.Operator
		switch metav1.LabelSelectorOperator(expr.Operator) {
		case metav1.LabelSelectorOpIn:
			op = selection.In
		case metav1.LabelSelectorOpNotIn:
			op = selection.NotIn
		case metav1.LabelSelectorOpExists:
			op = selection.Exists
		case metav1.LabelSelectorOpDoesNotExist:
			op = selection.DoesNotExist
		default:
			return nil, fmt.Errorf("%q is not a valid label selector operator", expr.Operator)
		}
		r, err := labels.NewRequirement(expr.Key, op, append([]string(nil), expr.Values...))
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	return labels.NewSelector().Add(reqs...), nil
}

package fix

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// Build runs every fixer that answers at least one of in's findings and
// merges their plans into one, in a stable order: phase, context, kind,
// namespace, name. Two fixers may plan the same object only if they plan it
// identically (then it is one change answering both); otherwise Build fails
// and names both, since applying one would undo the other.
func Build(fixers []Fixer, in Input) (Plan, error) {
	found := map[checks.ID]bool{}
	for _, f := range in.Findings {
		found[f.Check] = true
	}
	var plan Plan
	owner := map[ObjectKey]int{} // index into plan.Changes
	by := map[ObjectKey]string{} // the fixer that planned it
	for _, fx := range fixers {
		if !slices.ContainsFunc(fx.Answers(), func(id checks.ID) bool { return found[id] }) {
			continue
		}
		p, err := fx.Plan(in)
		if err != nil {
			return Plan{}, fmt.Errorf("%s: %w", FixerName(fx), err)
		}
		for _, c := range p.Changes {
			c.Answers = slices.Clone(c.Answers)
			slices.Sort(c.Answers)
			if c.Object == nil {
				return Plan{}, fmt.Errorf("%s: a change in %s has no object", FixerName(fx), c.Context)
			}
			k := KeyOf(c)
			i, dup := owner[k]
			if !dup {
				owner[k], by[k] = len(plan.Changes), FixerName(fx)
				plan.Changes = append(plan.Changes, c)
				continue
			}
			merged, ok := mergeIdentical(plan.Changes[i], c)
			if !ok {
				return Plan{}, fmt.Errorf("%s and %s both change %s differently; fix cannot apply both", by[k], FixerName(fx), k)
			}
			plan.Changes[i] = merged
		}
		plan.Notes = append(plan.Notes, p.Notes...)
		plan.Refused = append(plan.Refused, p.Refused...)
	}
	plan.Sort()
	return plan, nil
}

// FixerName names a fixer in errors: its Go type.
func FixerName(f Fixer) string { return strings.TrimPrefix(fmt.Sprintf("%T", f), "*") }

// ObjectKey identifies the object a change touches in its context. The API
// version is left out: v1 and v1beta1 of one kind are one object.
type ObjectKey struct {
	Context   string
	GroupKind schema.GroupKind
	Namespace string
	Name      string
}

// KeyOf returns the key of the object c changes.
func KeyOf(c Change) ObjectKey {
	return ObjectKey{Context: c.Context, GroupKind: c.Object.GroupVersionKind().GroupKind(),
		Namespace: c.Object.GetNamespace(), Name: c.Object.GetName()}
}

func (k ObjectKey) String() string { return k.Object() + " in " + k.Context }

// Object names the object without its context: "Kind.group namespace/name".
func (k ObjectKey) Object() string {
	kind := k.GroupKind.Kind
	if k.GroupKind.Group != "" {
		kind += "." + k.GroupKind.Group
	}
	if k.Namespace != "" {
		return kind + " " + k.Namespace + "/" + k.Name
	}
	return kind + " " + k.Name
}

// mergeIdentical folds b into a when both set exactly the same object in the
// same phase. A change completed at apply time is never identical to
// another: what it will send is not known yet.
func mergeIdentical(a, b Change) (Change, bool) {
	if a.Phase != b.Phase || a.Complete != nil || b.Complete != nil ||
		!equality.Semantic.DeepEqual(a.Object.Object, b.Object.Object) {
		return a, false
	}
	for _, id := range b.Answers {
		if !slices.Contains(a.Answers, id) {
			a.Answers = append(a.Answers, id)
		}
	}
	slices.Sort(a.Answers)
	if b.Reason != "" && b.Reason != a.Reason {
		a.Reason = strings.TrimSpace(a.Reason + "\n\n" + b.Reason)
	}
	return a, true
}

// Sort puts the plan in its stable order: changes by phase, context, kind,
// namespace and name; notes and refusals by context, mesh-wide ones first,
// otherwise in the order the fixers gave them.
func (p *Plan) Sort() {
	sort.SliceStable(p.Changes, func(i, j int) bool {
		a, b := p.Changes[i], p.Changes[j]
		if a.Phase != b.Phase {
			return a.Phase < b.Phase
		}
		ka, kb := KeyOf(a), KeyOf(b)
		if ka.Context != kb.Context {
			return ka.Context < kb.Context
		}
		if ka.GroupKind.Kind != kb.GroupKind.Kind {
			return ka.GroupKind.Kind < kb.GroupKind.Kind
		}
		if ka.GroupKind.Group != kb.GroupKind.Group {
			return ka.GroupKind.Group < kb.GroupKind.Group
		}
		if ka.Namespace != kb.Namespace {
			return ka.Namespace < kb.Namespace
		}
		return ka.Name < kb.Name
	})
	sort.SliceStable(p.Notes, func(i, j int) bool { return p.Notes[i].Context < p.Notes[j].Context })
	sort.SliceStable(p.Refused, func(i, j int) bool { return p.Refused[i].Context < p.Refused[j].Context })
}

// Contexts returns the contexts the plan changes, notes or refuses
// something in, sorted; the mesh-wide "" is left out.
func (p *Plan) Contexts() []string {
	seen := map[string]bool{}
	for _, c := range p.Changes {
		seen[c.Context] = true
	}
	for _, n := range p.Notes {
		seen[n.Context] = true
	}
	for _, r := range p.Refused {
		seen[r.Context] = true
	}
	delete(seen, "")
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Answered returns the check IDs the plan's changes answer, sorted.
func (p *Plan) Answered() []checks.ID {
	var out []checks.ID
	for _, c := range p.Changes {
		for _, id := range c.Answers {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

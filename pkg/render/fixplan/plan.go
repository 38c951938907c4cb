package fixplan

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/render"
)

// planWidth is where the comments of a plan wrap.
const planWidth = 100

// NothingToDo opens the rendering of an empty plan.
const NothingToDo = "# nothing to do"

// Plan writes p as a YAML stream: each change a document preceded by
// comments saying its context, the findings it answers (ID and title) and
// why; then the notes and the refusals as comment blocks. A Secret's values
// are never written, only its keys with a fingerprint of each value.
func Plan(w io.Writer, p *fix.Plan, cat *checks.Catalog) error {
	var b bytes.Buffer
	if p.Empty() {
		b.WriteString(NothingToDo + ": no change would answer the findings fixed\n")
	} else {
		fmt.Fprintf(&b, "# kubectl meshfed fix: %s in %s\n", render.Plural(len(p.Changes), "change", "changes"),
			strings.Join(changedContexts(p.Changes), ", "))
	}
	if err := writeChanges(&b, p.Changes, cat); err != nil {
		return err
	}
	writeNotes(&b, p.Notes, p.Refused, cat)
	_, err := w.Write(b.Bytes())
	return err
}

// PlanFiles renders p as one document per context, as --output-dir writes
// them: each holds the context's changes, its notes and refusals and the
// mesh-wide ones. A context with nothing planned has no file.
func PlanFiles(p *fix.Plan, cat *checks.Catalog) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, ctx := range p.Contexts() {
		part := fix.Plan{}
		for _, c := range p.Changes {
			if c.Context == ctx {
				part.Changes = append(part.Changes, c)
			}
		}
		for _, n := range p.Notes {
			if n.Context == ctx || n.Context == "" {
				part.Notes = append(part.Notes, n)
			}
		}
		for _, r := range p.Refused {
			if r.Context == ctx || r.Context == "" {
				part.Refused = append(part.Refused, r)
			}
		}
		var b bytes.Buffer
		if err := Plan(&b, &part, cat); err != nil {
			return nil, err
		}
		out[ctx] = b.Bytes()
	}
	return out, nil
}

func changedContexts(cs []fix.Change) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cs {
		if !seen[c.Context] {
			seen[c.Context] = true
			out = append(out, c.Context)
		}
	}
	sort.Strings(out)
	return out
}

func writeChanges(b *bytes.Buffer, changes []fix.Change, cat *checks.Catalog) error {
	for _, c := range changes {
		b.WriteString("---\n")
		fmt.Fprintf(b, "# context: %s\n", c.Context)
		for _, id := range c.Answers {
			fmt.Fprintf(b, "# answers: %s\n", answerLine(id, cat))
		}
		comment(b, "why: ", c.Reason)
		if c.Pending != "" {
			comment(b, "at apply: ", c.Pending)
		}
		obj, secret := shown(c)
		if secret {
			b.WriteString("# Secret values are not printed: each key shows the sha256 of its value.\n")
		}
		doc, err := yaml.Marshal(obj.Object)
		if err != nil {
			return fmt.Errorf("rendering %s: %w", fix.KeyOf(c), err)
		}
		b.Write(doc)
	}
	return nil
}

func writeNotes(b *bytes.Buffer, notes []fix.Note, refused []fix.Refusal, cat *checks.Catalog) {
	if len(notes)+len(refused) > 0 && b.Len() > 0 {
		b.WriteString("---\n")
	}
	for _, n := range notes {
		fmt.Fprintf(b, "# NOTE %s\n", where(n.Context, n.Answers, cat))
		comment(b, "  ", n.Text)
	}
	for _, r := range refused {
		fmt.Fprintf(b, "# NOT FIXED %s\n", where(r.Context, r.Answers, cat))
		comment(b, "  ", r.Reason)
	}
}

// where says which context and findings a note or refusal is about.
func where(context string, ids []checks.ID, cat *checks.Catalog) string {
	if context == "" {
		context = "the whole mesh"
	}
	var parts []string
	for _, id := range ids {
		parts = append(parts, answerLine(id, cat))
	}
	if len(parts) == 0 {
		return "(" + context + ")"
	}
	return "(" + context + "; " + strings.Join(parts, "; ") + ")"
}

func answerLine(id checks.ID, cat *checks.Catalog) string {
	if m, ok := cat.Lookup(id); ok {
		return string(id) + " " + m.Title
	}
	return string(id)
}

// comment writes text as "# "-prefixed lines wrapped at planWidth, the first
// starting with lead and the others indented under it. Line breaks in text
// are kept.
func comment(b *bytes.Buffer, lead, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	prefix, indent := "# "+lead, "# "+strings.Repeat(" ", len(lead))
	first := true
	for _, para := range strings.Split(text, "\n") {
		// A list item's continuation lines hang under its text.
		hang := ""
		if strings.HasPrefix(para, "- ") {
			hang = "  "
		}
		lines := render.WrapWords(strings.Fields(para), planWidth-len(indent)-len(hang))
		if len(lines) == 0 {
			b.WriteString("#\n")
			continue
		}
		for i, l := range lines {
			p := indent
			if first {
				p, first = prefix, false
			}
			if i > 0 {
				p += hang
			}
			b.WriteString(p + l + "\n")
		}
	}
}

// shown returns the object as the plan prints it: a Secret's data and
// stringData values replaced by their fingerprints (or, for a value the
// change fills in at apply time, by saying so). secret reports whether
// anything was replaced.
func shown(c fix.Change) (obj *unstructured.Unstructured, secret bool) {
	obj = c.Object
	if obj.GroupVersionKind().Group != "" || obj.GetKind() != "Secret" {
		return obj, false
	}
	obj = &unstructured.Unstructured{Object: shallowCopy(obj.Object)}
	pending := c.Complete != nil
	for _, field := range []string{"data", "stringData"} {
		v, present := obj.Object[field]
		if !present {
			continue
		}
		values, ok := v.(map[string]any)
		if !ok { // not a Secret's shape: print nothing of it
			obj.Object[field], secret = "<not printed>", true
			continue
		}
		redacted := make(map[string]any, len(values))
		for k, v := range values {
			s, _ := v.(string)
			raw := []byte(s)
			if field == "data" {
				if dec, err := base64.StdEncoding.DecodeString(s); err == nil {
					raw = dec
				}
			}
			switch {
			case len(raw) == 0 && pending:
				redacted[k] = "<filled in at apply>"
			default:
				redacted[k] = model.Redacted(raw)
			}
		}
		obj.Object[field] = redacted
		secret = true
	}
	return obj, secret
}

// shallowCopy copies the top level of m, enough to replace data and
// stringData without touching the change (and without DeepCopy, which
// panics on values a fixer built with the wrong Go types).
func shallowCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

package all

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// TestFixableIsAnswered holds the catalog to the fixers: a check is marked
// fixable exactly when some fixer answers it, so `checks` and `explain` do
// not promise a fix that does not exist, nor hide one that does.
func TestFixableIsAnswered(t *testing.T) {
	cat := checks.DefaultCatalog()
	answered := map[checks.ID]bool{}
	for _, fx := range Fixers() {
		for _, id := range fx.Answers() {
			if _, ok := cat.Lookup(id); !ok {
				t.Errorf("a fixer answers %s, which is not in the catalog", id)
			}
			answered[id] = true
		}
	}
	for _, m := range cat.Entries() {
		switch {
		case m.Fixable && !answered[m.ID]:
			t.Errorf("%s is marked fixable, but no fixer answers it", m.ID)
		case !m.Fixable && answered[m.ID]:
			t.Errorf("%s is answered by a fixer, but the catalog does not mark it fixable", m.ID)
		}
	}
}

package all

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// TestEveryEntryDeclaresRoles: every check says what each context of its
// findings is to it, so no consumer has to read a subject from positions.
func TestEveryEntryDeclaresRoles(t *testing.T) {
	for _, m := range Registry().Catalog.Entries() {
		if len(m.Roles) == 0 {
			t.Errorf("%s declares no roles", m.ID)
		}
	}
}

func TestRegistry(t *testing.T) {
	// Registry panics when a check lacks a catalog entry or the reverse.
	r := Registry()
	for _, m := range r.Catalog.Entries() {
		if _, ok := r.Check(m.ID); !ok {
			t.Errorf("%s has no check", m.ID)
		}
	}
}

// expected is one finding a failing fixture must produce, compared on what
// identifies it (check, severity, contexts, object), not on message text.
type expected struct {
	Check    checks.ID         `json:"check"`
	Severity string            `json:"severity"`
	Contexts []string          `json:"contexts"`
	Object   *checks.ObjectRef `json:"object,omitempty"`
}

// TestFixtures runs each check on its fixtures, testdata/<ID>/<pass|fail>-<case>/<context>/*.yaml:
// a passing case must give no finding of that check at all, a failing case
// exactly the findings in its expect.yaml.
func TestFixtures(t *testing.T) {
	reg := Registry()
	for _, m := range reg.Catalog.Entries() {
		cases, _ := filepath.Glob(filepath.Join("testdata", string(m.ID), "*"))
		var pass, fail int
		filled := map[checks.Role]bool{}
		for _, dir := range cases {
			name := filepath.Base(dir)
			t.Run(string(m.ID)+"/"+name, func(t *testing.T) {
				f, err := fleet.LoadDir(dir, "istio-system")
				if err != nil {
					t.Fatal(err)
				}
				res := checks.Run(f, reg, checks.Selection{Only: []string{string(m.ID)}})
				var got []expected
				for _, fd := range res.Findings {
					got = append(got, expected{fd.Check, fd.Severity.String(), fd.Contexts, fd.Object})
					checkSubjects(t, m, fd)
					if strings.HasPrefix(name, "fail-") {
						for _, s := range fd.Subjects {
							filled[s.Role] = true
						}
					}
				}
				var want []expected
				if strings.HasPrefix(name, "fail-") {
					b, err := os.ReadFile(filepath.Join(dir, "expect.yaml"))
					if err != nil {
						t.Fatal(err)
					}
					if err := yaml.UnmarshalStrict(b, &want); err != nil {
						t.Fatal(err)
					}
					if len(want) == 0 {
						t.Fatal("a failing fixture must expect at least one finding")
					}
				}
				sortExpected(got)
				sortExpected(want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("findings:\n got  %+v\n want %+v\n messages: %v", got, want, messages(res.Findings))
				}
			})
			switch {
			case strings.HasPrefix(name, "pass-"):
				pass++
			case strings.HasPrefix(name, "fail-"):
				fail++
			default:
				t.Errorf("%s: fixture folders are named pass-* or fail-*", dir)
			}
		}
		for _, r := range m.Roles {
			if !filled[r.Role] {
				t.Errorf("%s declares role %q, but no finding on its failing fixtures fills it", m.ID, r)
			}
		}
		if pass == 0 || fail == 0 {
			t.Errorf("%s needs at least one passing and one failing fixture (has %d and %d)", m.ID, pass, fail)
		}
	}
}

// checkSubjects holds a finding to its catalog entry's roles: a check whose
// entry declares roles says for every finding what its contexts are, only in
// declared roles, at most one context for a single role, and each subject is
// one of the finding's contexts.
func checkSubjects(t *testing.T, m checks.Meta, fd checks.Finding) {
	t.Helper()
	if len(m.Roles) > 0 && len(fd.Subjects) == 0 && len(fd.Contexts) > 0 {
		t.Errorf("%s declares roles %v, but a finding about %v has no subjects", m.ID, m.Roles, fd.Contexts)
	}
	count := map[checks.Role]int{}
	for _, s := range fd.Subjects {
		count[s.Role]++
		if !slices.Contains(fd.Contexts, s.Context) {
			t.Errorf("%s: subject %s %q is not among the contexts %v", m.ID, s.Role, s.Context, fd.Contexts)
		}
	}
	for role, n := range count {
		i := slices.IndexFunc(m.Roles, func(r checks.RoleSpec) bool { return r.Role == role })
		switch {
		case i < 0:
			t.Errorf("%s: a finding fills role %q, which its entry does not declare (%v)", m.ID, role, m.Roles)
		case n > 1 && !m.Roles[i].Many:
			t.Errorf("%s: %d contexts fill role %q, which takes one", m.ID, n, role)
		}
	}
}

func sortExpected(es []expected) {
	sort.Slice(es, func(i, j int) bool {
		return es[i].Object.String()+strings.Join(es[i].Contexts, ",") < es[j].Object.String()+strings.Join(es[j].Contexts, ",")
	})
}

func messages(fs []checks.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Message)
	}
	return out
}

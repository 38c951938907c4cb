package trust

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	checksall "github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/fix/fixtest"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
	"github.com/meshfed/kubectl-meshfed/pkg/render/fixplan"
)

// fixtures are the trust checks' own fixtures (pkg/checks/all/testdata).
const fixtures = "../../checks/all/testdata"

// TestGoldenPlans plans every failing fixture of the checks this fixer
// answers three ways (no root given; a new root; a new root with
// --allow-root-change) and compares the plans, as fix prints them, with a
// golden file. The new root is made per run,
// so its fingerprint reads "<given root>"; the fixtures' own certificates
// are committed and keep theirs.
func TestGoldenPlans(t *testing.T) {
	scenarios := map[string]string{}
	for _, id := range New().Answers() {
		dirs, _ := filepath.Glob(filepath.Join(fixtures, string(id), "fail-*"))
		for _, d := range dirs {
			name := strings.TrimPrefix(filepath.Base(d), "fail-")
			if _, seen := scenarios[name]; !seen {
				scenarios[name] = d
			}
		}
	}
	if len(scenarios) < 10 {
		t.Fatalf("only %d fixtures found under %s", len(scenarios), fixtures)
	}
	root := newMeshRoot(t)
	for name, dir := range scenarios {
		t.Run(name, func(t *testing.T) {
			f, err := fleet.LoadDir(dir, "istio-system")
			if err != nil {
				t.Fatal(err)
			}
			opts := checksall.DefaultOptions()
			opts.Trust.Now = now
			findings := checks.Run(f, checksall.RegistryWith(opts), checks.Selection{Only: []string{"trust"}}).Findings
			var b strings.Builder
			for _, run := range []struct {
				title string
				opts  fix.Options
			}{
				{"no root given", fix.Options{Now: now}},
				{"a new root", root.options()},
				{"a new root, --allow-root-change", func() fix.Options { o := root.options(); o.AllowRootChange = true; return o }()},
			} {
				p, err := New().Plan(fix.Input{Fleet: f, Findings: findings, Options: run.opts})
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "### %s\n", run.title)
				if err := fixplan.Plan(&b, &p, checks.DefaultCatalog()); err != nil {
					t.Fatal(err)
				}
			}
			got := strings.ReplaceAll(b.String(), strings.TrimPrefix(pki.Fingerprint(root.cert.Raw), "sha256 "), "<given root>")
			if strings.Contains(got, "PRIVATE KEY") || strings.Contains(got, "BEGIN CERTIFICATE") {
				t.Fatal("key or certificate material in a plan")
			}
			fixtest.Golden(t, filepath.Join("testdata", name+".golden"), got)
		})
	}
}

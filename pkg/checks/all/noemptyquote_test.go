package all

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// emptyQuote is an empty quoted name in a message: `""`, or `”`, not as
// part of a longer token (a JSON fragment `"":` would be one too).
var emptyQuote = regexp.MustCompile(`(^|[^\w"'])(""|'')([^\w"']|$)`)

// TestNoEmptyQuotedNames runs every check on every fixture of the
// catalog and holds each finding's message and evidence to name what it
// quotes: a %q of a value that may be empty (a certificate's subject, a
// cluster ID, a network) prints "", which tells the reader nothing.
func TestNoEmptyQuotedNames(t *testing.T) {
	reg := Registry()
	dirs, _ := filepath.Glob(filepath.Join("testdata", "MF*", "*"))
	if len(dirs) == 0 {
		t.Fatal("no fixtures")
	}
	for _, dir := range dirs {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		// The trust matrix's reasons are shown in the report too.
		for _, c := range trust.BuildMatrix(f, trust.DefaultOptions()).Cells {
			if emptyQuote.MatchString(c.Reason) {
				t.Errorf("%s: trust matrix cell %s → %s quotes an empty name: %s", dir, c.From, c.To, c.Reason)
			}
		}
		for _, fd := range checks.Run(f, reg, checks.Selection{}).Findings {
			for _, s := range append([]string{fd.Message}, fd.Evidence...) {
				if emptyQuote.MatchString(s) {
					t.Errorf("%s: %s quotes an empty name: %s", dir, fd.Check, s)
				}
			}
		}
	}
}

// TestEmptyQuoteSeesEmptyNames guards the pattern itself.
func TestEmptyQuoteSeesEmptyNames(t *testing.T) {
	for s, want := range map[string]bool{
		`"": x509: a root or intermediate certificate is not authorized`: true,
		`cluster "" (context west)`:                                      true,
		`the network '' of west`:                                         true,
		`cluster "west" at "https://x"`:                                  false,
		`a kubeconfig "" without a server`:                               true,
		`data key "a""b"`:                                                false,
	} {
		if got := emptyQuote.MatchString(s); got != want {
			t.Errorf("%q: matched %v, want %v", s, got, want)
		}
	}
}

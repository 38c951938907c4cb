package all

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

func TestZZPrint(t *testing.T) {
	dirs, _ := filepath.Glob(os.Getenv("ZZ"))
	for _, dir := range dirs {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		res := checks.Run(f, Registry(), checks.Selection{Only: []string{os.Getenv("ZZC")}})
		for _, fd := range res.Findings {
			t.Logf("%s %s %s %v: %s\n   %v", dir, fd.Check, fd.Severity, fd.Contexts, fd.Message, fd.Evidence)
		}
	}
}

package trustlab

import (
	"os"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.Cleanup()
	os.Exit(code)
}

// Package istiod runs the built kubectl-meshfed against labs whose istiod
// is asked what it holds: its registry and endpoint shards, the remote
// secrets it really uses, its replicas through port-forwards, and the
// field failures seen there (discoverySelectors, podless endpoints). Its
// own package so that make test runs it beside test/e2e.
package istiod

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

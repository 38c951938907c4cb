// Package e2e runs the built kubectl-meshfed against the lab: real
// kube-apiservers, etcd and istiod, in their own network namespaces.
package e2e

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

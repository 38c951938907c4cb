// Package fix runs the built kubectl-meshfed's fix against the lab: each
// test breaks a healthy lab the way users do, applies the plan and checks
// the doctor is satisfied after. Apart from test/e2e so that the two, the
// longest lab packages, run side by side.
package fix

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

package render

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/render/rendertest"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	rendertest.Golden(t, "./pkg/render", name, got)
}

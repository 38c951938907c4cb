package fixplan

import (
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/render/rendertest"
)

func mustCatalog(t *testing.T) *checks.Catalog {
	t.Helper()
	return rendertest.MustCatalog(t)
}

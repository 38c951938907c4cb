package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

// TestGeneratedIsCurrent fails when pkg/checks/findings_gen.go no longer
// matches the catalog: run `go generate ./pkg/checks`.
func TestGeneratedIsCurrent(t *testing.T) {
	want, err := Generate(checks.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "pkg", "checks", "findings_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("pkg/checks/findings_gen.go is stale: run `go generate ./pkg/checks` (or make generate)")
	}
}

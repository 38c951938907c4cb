// Package rendertest holds what the renderers' tests share: a catalog of
// made-up checks and golden files. Only tests import it.
package rendertest

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// Catalog is a small catalog of made-up checks: renderers must work for
// any catalog, not only the one built into the binary.
const Catalog = `
checks:
- id: MF0001
  area: general
  title: Cluster unreachable
  severity: error
  explanation: A cluster that cannot be read cannot be checked. Every other check skips it.
  remediation: Check the kubeconfig context and that the API server answers.
- id: MF1001
  area: topology
  title: Cluster IDs are unique
  severity: error
  explanation: >-
    istiod keys every endpoint by cluster ID, e.g. "east". Two clusters with the same ID
    overwrite each other's endpoints.
  remediation: Give each cluster its own ID in the istiod deployment.
- id: MF2001
  area: trust
  title: Roots agree between clusters
  severity: error
  explanation: Workloads in different clusters cannot verify each other's certificates. Cross-cluster mTLS fails.
  remediation: |
    Issue every cluster's intermediate from one root:
      kubectl create secret generic cacerts -n istio-system ...
  needs: [secrets]
- id: MF3001
  area: connectivity
  title: Every network has an east-west gateway
  severity: warning
  explanation: A network without an east-west gateway cannot be reached from other networks.
  remediation: Install an east-west gateway in the network.
  fixable: true
- id: MF5001
  area: locality
  title: Nodes carry region and zone labels
  severity: info
  explanation: Locality load balancing needs region and zone labels on nodes.
  remediation: Label the nodes with topology.kubernetes.io/region and zone.
`

// MustCatalog loads Catalog.
func MustCatalog(t *testing.T) *checks.Catalog {
	t.Helper()
	cat, err := checks.LoadCatalog([]byte(Catalog))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// Golden compares got with testdata/name of the calling package's folder,
// or rewrites it with -update; pkg names that package for the hint
// (./pkg/render).
func Golden(t *testing.T, pkg, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test %s -update to create it)", err, pkg)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the output (run go test %s -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, pkg, got, want)
	}
}

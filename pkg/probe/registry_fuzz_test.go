package probe

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"
)

// FuzzReadRegistry: istiod's registryz and endpointShardz are read from a
// pod (or an address the user gave). Reading never panics; it gives either
// the registry, every cluster's ready addresses sorted and distinct, or
// why not, never both.
func FuzzReadRegistry(f *testing.F) {
	f.Add([]byte(registryzJSON), []byte(shardzJSON))
	f.Add([]byte(`[]`), []byte(`{}`))
	f.Add([]byte(`[{"Attributes":{"ServiceRegistry":"Kubernetes"},"clusterVIPs":{"Addresses":{"":null}}}]`), []byte(`{"":{"":{"Shards":{"Kubernetes/":[{"HealthStatus":1}]}}}}`))
	f.Add([]byte(`{}`), []byte(`[]`))
	f.Add([]byte("<html>502 Bad Gateway</html>"), []byte(`{"a":{"b":{"Shards":{"Kubernetes/x":[{"Addresses":[1]}]}}}}`))
	f.Fuzz(func(t *testing.T, registryz, shardz []byte) {
		get := func(_ context.Context, path string, read func(io.Reader) error) error {
			if path == registryzPath {
				return read(bytes.NewReader(registryz))
			}
			return read(bytes.NewReader(shardz))
		}
		got := readRegistry(context.Background(), get, "east")
		if got.Error != "" {
			if got.Clusters != nil {
				t.Fatalf("clusters and an error: %+v", got)
			}
			return
		}
		for _, c := range got.Clusters {
			for svc, addrs := range c.Ready {
				if !slices.IsSorted(addrs) || len(slices.Compact(slices.Clone(addrs))) != len(addrs) || len(addrs) == 0 {
					t.Fatalf("%s %s: ready addresses %v not sorted, distinct and present", c.ID, svc, addrs)
				}
			}
		}
	})
}

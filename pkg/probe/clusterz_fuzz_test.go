package probe

import (
	"sort"
	"testing"
)

// FuzzParseClusterz: istiod's /debug/clusterz answer is read from a pod
// (or an address the user gave). Parsing never panics; it returns either
// the clusters, sorted by ID, or why not.
func FuzzParseClusterz(f *testing.F) {
	f.Add([]byte(`[{"id":"west","secretName":"istio-system/istio-remote-secret-west","syncStatus":"synced"},{"id":"east","syncStatus":"synced"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"west"}`))
	f.Add([]byte(`[{"id":1}]`))
	f.Add([]byte("<html>502 Bad Gateway</html>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, why := parseClusterz(b)
		if why != "" {
			if got != nil {
				t.Fatalf("clusters and an error: %v, %q", got, why)
			}
			return
		}
		if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].ID < got[j].ID }) {
			t.Fatalf("not sorted by ID: %v", got)
		}
	})
}

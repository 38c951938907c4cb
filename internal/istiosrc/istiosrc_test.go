package istiosrc

import "testing"

// TestRemoteKinds reads the pinned source: WorkloadEntry, at a version
// its collection has, guarded by the two flags that turn cross-cluster
// WorkloadEntries on.
func TestRemoteKinds(t *testing.T) {
	dir, _, err := ModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := RemoteKinds(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 1 || kinds[0].Kind != "WorkloadEntry" || kinds[0].Group != "networking.istio.io" || kinds[0].Resource != "workloadentries" || kinds[0].Version == "" {
		t.Fatalf("remote kinds %+v, want networking.istio.io WorkloadEntry", kinds)
	}
	envs := map[string]bool{}
	for _, f := range kinds[0].Flags {
		envs[f.Env] = f.Default
	}
	if d, ok := envs["PILOT_ENABLE_CROSS_CLUSTER_WORKLOAD_ENTRY"]; !ok || !d {
		t.Errorf("flags %+v lack PILOT_ENABLE_CROSS_CLUSTER_WORKLOAD_ENTRY (default true)", kinds[0].Flags)
	}
	if d, ok := envs["PILOT_ENABLE_K8S_SELECT_WORKLOAD_ENTRIES"]; !ok || !d {
		t.Errorf("flags %+v lack PILOT_ENABLE_K8S_SELECT_WORKLOAD_ENTRIES (default true)", kinds[0].Flags)
	}
}

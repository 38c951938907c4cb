package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

func TestIstiodReadsClusterz(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/clusterz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`[{"id":"west","secretName":"istio-system/istio-remote-secret-west","syncStatus":"timeout"},{"id":"east","secretName":"","syncStatus":"synced"}]`))
	}))
	defer srv.Close()
	f := credFleet(nil)
	f.Clusters = append(f.Clusters, &fleet.Cluster{Context: "west", Reachable: true, IstioNamespace: "istio-system",
		Deployments: []fleet.Workload{{Meta: fleet.Meta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}}}})
	got := Istiod(context.Background(), f, Options{Timeout: time.Second}, map[string]string{"east": srv.URL + "/"})
	if len(got) != 2 {
		t.Fatalf("want a view per primary, got %+v", got)
	}
	east, west := got[0], got[1]
	if east.Error != "" || len(east.Clusters) != 2 || east.Clusters[0].ID != "east" || east.Clusters[1].SyncStatus != "timeout" {
		t.Errorf("east: %+v", east)
	}
	if west.NotRun != NoDebugAddress || west.Clusters != nil {
		t.Errorf("west without an address: %+v", west)
	}

	bad := Istiod(context.Background(), f, Options{Timeout: time.Second}, map[string]string{"east": srv.URL + "/nothing"})
	if bad[0].Error == "" {
		t.Errorf("a 404 is an error: %+v", bad[0])
	}
}

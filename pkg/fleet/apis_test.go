package fleet

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// TestReadIstioAPIs reads the served versions from discovery as an API
// server with an older Istio's CRDs answers it: WorkloadEntry at v1alpha3
// and v1beta1, no v1, listed oldest first whatever discovery's order;
// subresources are not resources.
func TestReadIstioAPIs(t *testing.T) {
	docs := map[string]string{
		"/api/v1/namespaces":                 `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[]}`,
		"/apis/networking.istio.io":          `{"kind":"APIGroup","apiVersion":"v1","name":"networking.istio.io","versions":[{"groupVersion":"networking.istio.io/v1beta1","version":"v1beta1"},{"groupVersion":"networking.istio.io/v1alpha3","version":"v1alpha3"}]}`,
		"/apis/networking.istio.io/v1beta1":  `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"networking.istio.io/v1beta1","resources":[{"name":"workloadentries","namespaced":true,"kind":"WorkloadEntry","verbs":["list"]},{"name":"workloadentries/status","namespaced":true,"kind":"WorkloadEntry","verbs":["get"]}]}`,
		"/apis/networking.istio.io/v1alpha3": `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"networking.istio.io/v1alpha3","resources":[{"name":"workloadentries","namespaced":true,"kind":"WorkloadEntry","verbs":["list"]},{"name":"gateways","namespaced":true,"kind":"Gateway","verbs":["list"]}]}`,
	}
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if d, ok := docs[r.URL.Path]; ok {
			_, _ = w.Write([]byte(d))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	defer server.Close()
	f := Collect(context.Background(), kubeconfig(t, map[string]string{"one": server.URL}), []string{"one"}, Options{Timeout: 5 * time.Second})
	c := f.Clusters[0]
	if r, failed := c.Failures[model.KindIstioAPIs]; failed {
		t.Fatalf("istio APIs not read: %s", r)
	}
	want := []model.ServedResource{
		{Group: "networking.istio.io", Resource: "workloadentries", Kind: "WorkloadEntry", Versions: []string{"v1alpha3", "v1beta1"}},
		{Group: "networking.istio.io", Resource: "gateways", Kind: "Gateway", Versions: []string{"v1alpha3"}},
	}
	if !reflect.DeepEqual(c.IstioAPIs, want) {
		t.Errorf("IstioAPIs %+v, want %+v", c.IstioAPIs, want)
	}
	we, ok := c.ServedResource("networking.istio.io", "workloadentries")
	if !ok || we.Serves("v1") || !we.Serves("v1beta1") {
		t.Errorf("workloadentries %+v: want served at v1beta1, not v1", we)
	}
}

func TestSortVersions(t *testing.T) {
	vs := []string{"v1", "v1beta1", "v1alpha3", "v2alpha1"}
	sortVersions(vs)
	if want := []string{"v1alpha3", "v2alpha1", "v1beta1", "v1"}; !reflect.DeepEqual(vs, want) {
		t.Errorf("sorted %v, want %v", vs, want)
	}
}

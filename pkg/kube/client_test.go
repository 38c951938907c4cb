package kube

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// TestMapping: a kind's resource and scope come from its group version's
// discovery document, asked for as JSON and read once; a kind or a group
// version the server does not serve is a NoKindMatchError.
func TestMapping(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1" {
			asked.Add(1)
			if r.Header.Get("Accept") != "application/json" {
				t.Errorf("discovery asked with Accept %q", r.Header.Get("Accept"))
			}
			_, _ = w.Write([]byte(`{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[
				{"name":"namespaces","namespaced":false,"kind":"Namespace","verbs":["get"]},
				{"name":"secrets","namespaced":true,"kind":"Secret","verbs":["get"]},
				{"name":"serviceaccounts/token","namespaced":true,"kind":"TokenRequest","verbs":["create"]}]}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	defer srv.Close()
	c, err := NewClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for kind, want := range map[string]struct {
		resource   string
		namespaced bool
	}{"Secret": {"secrets", true}, "Namespace": {"namespaces", false}} {
		res, ns, err := c.Mapping(ctx, schema.GroupVersionKind{Version: "v1", Kind: kind})
		if err != nil || res.Resource != want.resource || ns != want.namespaced {
			t.Errorf("%s: %v namespaced %v, %v; want %s namespaced %v", kind, res, ns, err, want.resource, want.namespaced)
		}
	}
	if asked.Load() != 1 {
		t.Errorf("/api/v1 asked %d times, want once", asked.Load())
	}
	var noKind *meta.NoKindMatchError
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "TokenRequest"}, // a subresource, not a kind to write
		{Version: "v1", Kind: "Widget"},
		{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"}, // the group is not served
	} {
		if _, _, err := c.Mapping(ctx, gvk); !errors.As(err, &noKind) {
			t.Errorf("%s: %v, want a NoKindMatchError", gvk, err)
		}
	}
}

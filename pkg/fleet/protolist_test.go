package fleet

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

func serviceList(n int, next string) *corev1.ServiceList {
	l := &corev1.ServiceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceList"}, ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: next}}
	for i := range n {
		l.Items = append(l.Items, corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("svc-%d", i), Labels: map[string]string{"app": fmt.Sprint(i)}},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: fmt.Sprintf("10.0.0.%d", i), Ports: []corev1.ServicePort{{Name: "http", Port: int32(8000 + i)}}},
		})
	}
	return l
}

// The item-by-item read of a protobuf list gives the cluster exactly what
// decoding the whole list and adding its items gives, and the continue token.
func TestEachItemMatchesWholeDecode(t *testing.T) {
	list := serviceList(3, "token-1")
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(clientscheme.Scheme, clientscheme.Scheme).Encode(list, &buf); err != nil {
		t.Fatal(err)
	}
	var byItem model.Cluster
	item := &corev1.Service{}
	next, err := eachItem(buf.Bytes(), func(b []byte) error {
		item.Reset()
		if err := item.Unmarshal(b); err != nil {
			return err
		}
		return addObject(&byItem, item)
	})
	if err != nil {
		t.Fatal(err)
	}
	var whole model.Cluster
	for i := range list.Items {
		if err := addObject(&whole, &list.Items[i]); err != nil {
			t.Fatal(err)
		}
	}
	if next != "token-1" || !reflect.DeepEqual(byItem.Services, whole.Services) || len(whole.Services) != 3 {
		t.Errorf("continue %q; by item %+v, whole %+v", next, byItem.Services, whole.Services)
	}
}

// A JSON body (a server or proxy that does not answer protobuf) is decoded
// whole, with the same result.
func TestJSONListFallsBack(t *testing.T) {
	list := serviceList(2, "")
	body, err := runtime.Encode(clientscheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion), list)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eachItem(body, func([]byte) error { return nil }); err != errNotProtobuf {
		t.Fatalf("eachItem on JSON: %v, want errNotProtobuf", err)
	}
	var c model.Cluster
	next, err := addDecoded[*corev1.Service](&c, body, func(s *corev1.Service) bool { return s.Name == "svc-1" })
	if err != nil || next != "" || len(c.Services) != 1 || c.Services[0].Name != "svc-0" {
		t.Errorf("next %q, err %v, services %+v", next, err, c.Services)
	}
}

func TestEachItemRejectsTruncatedBody(t *testing.T) {
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(clientscheme.Scheme, clientscheme.Scheme).Encode(serviceList(2, ""), &buf); err != nil {
		t.Fatal(err)
	}
	if _, err := eachItem(buf.Bytes()[:buf.Len()-5], func([]byte) error { return nil }); err == nil {
		t.Error("a truncated body was read without error")
	}
}

// listItems follows continue tokens: the first page as asked (the watch
// cache), the next ones with the token and no resourceVersion; every item of
// every page lands in the cluster.
func TestListItemsFollowsPages(t *testing.T) {
	pages := map[string]*corev1.ServiceList{"": serviceList(2, "c1"), "c1": serviceList(1, "")}
	pages["c1"].Items[0].Name = "svc-last"
	var mu sync.Mutex
	var asked []string
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		asked = append(asked, fmt.Sprintf("rv=%q continue=%q limit=%s", q.Get("resourceVersion"), q.Get("continue"), q.Get("limit")))
		mu.Unlock()
		var buf bytes.Buffer
		if err := protobuf.NewSerializer(clientscheme.Scheme, clientscheme.Scheme).Encode(pages[q.Get("continue")], &buf); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
		_, _ = w.Write(buf.Bytes())
	}))
	defer server.Close()
	cfg := &rest.Config{Host: server.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		ContentConfig: rest.ContentConfig{ContentType: runtime.ContentTypeProtobuf, AcceptContentTypes: runtime.ContentTypeProtobuf}}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var c model.Cluster
	if err := listItems[corev1.Service](context.Background(), &c, kube.CoreV1().RESTClient(), "services", "", metav1.ListOptions{ResourceVersion: "0"}, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{`rv="0" continue="" limit=500`, `rv="" continue="c1" limit=500`}
	if !reflect.DeepEqual(asked, want) {
		t.Errorf("requests %q, want %q", asked, want)
	}
	var names []string
	for _, s := range c.Services {
		names = append(names, s.Name)
	}
	if !reflect.DeepEqual(names, []string{"svc-0", "svc-1", "svc-last"}) {
		t.Errorf("services %v", names)
	}
}

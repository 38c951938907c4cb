package probe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	meshfed "github.com/meshfed/kubectl-meshfed/pkg/model"
)

// registryzJSON and shardzJSON are what istiod's DiscoveryServer.registryz
// and endpointShardz write (json.Marshal of pilot/pkg/model.Service and of
// map[string]map[string]*model.EndpointShards; fields without tags under
// their Go names, ShardKey as "<provider>/<cluster>"), trimmed of fields the
// projection skips only where they add nothing: east is istiod's cluster,
// west a peer, gone a cluster istiod no longer watches; a ServiceEntry
// (External) and an unready endpoint must be left out. The lab's e2e tests
// read the real istiod's.
const registryzJSON = `[
 {"Attributes":{"ServiceRegistry":"Kubernetes","Name":"httpbin","Namespace":"sample","Labels":null,"ExportTo":null,"LabelSelectors":{"app":"httpbin"},"Aliases":null,"ClusterExternalAddresses":{"Addresses":null},"ClusterExternalPorts":null,"PassthroughTargetPorts":null,"K8sAttributes":{"Type":"ClusterIP"}},
  "ports":[{"name":"http","port":8000,"protocol":"HTTP"}],"creationTime":"2026-12-03T14:00:00Z","hostname":"httpbin.sample.svc.cluster.local",
  "clusterVIPs":{"Addresses":{"east":["10.96.0.10"],"west":["10.96.1.10"],"gone":["10.96.2.10"]}},"defaultAddress":"10.96.0.10","Resolution":0,"MeshExternal":false,"ResourceVersion":"12"},
 {"Attributes":{"ServiceRegistry":"Kubernetes","Name":"helloworld","Namespace":"sample"},"hostname":"helloworld.sample.svc.cluster.local",
  "clusterVIPs":{"Addresses":{"west":["10.96.1.11"]}},"defaultAddress":"10.96.1.11"},
 {"Attributes":{"ServiceRegistry":"External","Name":"external.example.com","Namespace":"sample"},"hostname":"external.example.com",
  "clusterVIPs":{"Addresses":{"east":["240.240.0.1"]}}}
]`

const shardzJSON = `{
 "httpbin.sample.svc.cluster.local":{"sample":{"Shards":{
  "Kubernetes/east":[{"Labels":{"app":"httpbin"},"Addresses":["10.1.0.5"],"ServicePortName":"http","LegacyClusterPortKey":0,"ServiceAccount":"spiffe://cluster.local/ns/sample/sa/httpbin","Network":"network-east","Locality":{"Label":"us-east-1/us-east-1a","ClusterID":"east"},"EndpointPort":8080,"LbWeight":0,"TLSMode":"istio","Namespace":"sample","WorkloadName":"httpbin","HostName":"","SubDomain":"","HealthStatus":1,"SendUnhealthyEndpoints":false,"NodeName":"east-node-a"}],
  "Kubernetes/west":[{"Addresses":["10.2.0.5"],"ServicePortName":"http","HealthStatus":1},{"Addresses":["10.2.0.5"],"ServicePortName":"grpc","HealthStatus":1},{"Addresses":["10.2.0.6"],"ServicePortName":"http","HealthStatus":2}],
  "Kubernetes/gone":[{"Addresses":["10.3.0.5"],"ServicePortName":"http","HealthStatus":1}]},
  "ServiceAccounts":{"spiffe://cluster.local/ns/sample/sa/httpbin":{}}}},
 "helloworld.sample.svc.cluster.local":{"sample":{"Shards":{"Kubernetes/west":[{"Addresses":["10.2.0.7"],"HealthStatus":1}]},"ServiceAccounts":{}}},
 "external.example.com":{"sample":{"Shards":{"External/east":[{"Addresses":["1.2.3.4"],"HealthStatus":1}]},"ServiceAccounts":{}}}
}`

func TestReadRegistryProjectsIstiodsJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case registryzPath:
			_, _ = w.Write([]byte(registryzJSON))
		case endpointShardzPath:
			_, _ = w.Write([]byte(shardzJSON))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	got := readRegistry(context.Background(), httpGetter(srv.Client(), srv.URL), "east")
	want := &meshfed.IstiodRegistry{Clusters: []meshfed.RegistryCluster{
		{ID: "east", Services: 1, Shards: 1, Endpoints: 1, Examples: []string{"sample/httpbin"}},
		{ID: "gone", Services: 1, Shards: 1, Endpoints: 1, Examples: []string{"sample/httpbin"},
			Ready: map[string][]string{"sample/httpbin": {"10.3.0.5"}}},
		{ID: "west", Services: 2, Shards: 2, Endpoints: 2, Examples: []string{"sample/helloworld", "sample/httpbin"},
			Ready: map[string][]string{"sample/httpbin": {"10.2.0.5"}, "sample/helloworld": {"10.2.0.7"}}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("registry:\n got  %+v\n want %+v", got, want)
	}
}

func TestReadRegistrySaysWhyNot(t *testing.T) {
	for name, tc := range map[string]struct {
		shardz string
		code   int
		want   string
	}{
		"not found": {code: http.StatusNotFound, want: "/debug/endpointShardz: answered 404"},
		"not json":  {shardz: "<html>", code: http.StatusOK, want: "/debug/endpointShardz: not the endpoint shards istiod writes: invalid character"},
		"an array":  {shardz: "[]", code: http.StatusOK, want: "not the endpoint shards istiod writes"},
		"cut off":   {shardz: `{"a.b.svc.cluster.local": {"b": {"Shards": {"Kubernetes/west": [`, code: http.StatusOK, want: "unexpected EOF"},
	} {
		t.Run(name, func(t *testing.T) {
			get := func(_ context.Context, path string, read func(io.Reader) error) error {
				if path == registryzPath {
					return read(strings.NewReader(registryzJSON))
				}
				if tc.code != http.StatusOK {
					return httpStatusError(tc.code)
				}
				return read(strings.NewReader(tc.shardz))
			}
			got := readRegistry(context.Background(), get, "east")
			if got.Clusters != nil || !strings.Contains(got.Error, tc.want) {
				t.Errorf("got %+v, want an error with %q", got, tc.want)
			}
		})
	}
}

type httpStatusError int

func (e httpStatusError) Error() string { return "answered 404 " + http.StatusText(int(e)) }

func TestAddExampleKeepsTheFirstNames(t *testing.T) {
	var ex []string
	for _, k := range []string{"d/x", "a/x", "c/x", "a/x", "b/x", "e/x"} {
		ex = addExample(ex, k)
	}
	if want := []string{"a/x", "b/x", "c/x"}; !reflect.DeepEqual(ex, want) {
		t.Errorf("examples %v, want %v", ex, want)
	}
}

func TestIstiodReadsTheRegistryOnlyWhenAsked(t *testing.T) {
	var (
		mu    sync.Mutex
		asked []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/debug/clusterz":
			_, _ = w.Write([]byte(`[{"id":"east","syncStatus":"synced"}]`))
		case registryzPath:
			_, _ = w.Write([]byte(registryzJSON))
		case endpointShardzPath:
			_, _ = w.Write([]byte(shardzJSON))
		}
	}))
	defer srv.Close()
	f := credFleet(nil)
	got := Istiod(context.Background(), f, Options{Timeout: 5 * time.Second}, map[string]string{"east": srv.URL})
	if len(got) != 1 || got[0].Registry == nil || got[0].Registry.Error != "" || len(got[0].Registry.Clusters) != 3 {
		t.Fatalf("registry read at the debug address: %+v", got)
	}
	asked = nil
	got = Istiod(context.Background(), f, Options{Timeout: 5 * time.Second, NoRegistry: true, NoNetworkz: true, NoMetrics: true}, map[string]string{"east": srv.URL})
	if len(got) != 1 || got[0].Registry != nil || got[0].Networkz != nil || got[0].Metrics != nil || !reflect.DeepEqual(asked, []string{"/debug/clusterz"}) {
		t.Errorf("NoRegistry, NoNetworkz, NoMetrics: asked %v, view %+v", asked, got)
	}
	// Without a registry, networkz and metrics are still read when asked;
	// this server has neither (an empty answer and a 404 would be).
	asked = nil
	got = Istiod(context.Background(), f, Options{Timeout: 5 * time.Second, NoRegistry: true}, map[string]string{"east": srv.URL})
	slices.Sort(asked)
	if len(got) != 1 || got[0].Registry != nil || got[0].Networkz == nil || got[0].Metrics == nil || !reflect.DeepEqual(asked, []string{"/debug/clusterz", "/debug/networkz", "/metrics"}) {
		t.Errorf("NoRegistry: asked %v, view %+v", asked, got)
	}
	if e := got[0].Networkz.Error; !strings.Contains(e, "answered nothing") {
		t.Errorf("an empty networkz answer: %q", e)
	}
}

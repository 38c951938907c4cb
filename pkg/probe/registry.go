package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The registry's two debug paths, served by istiod's DiscoveryServer
// (istio.io/istio pilot/pkg/xds/debug.go): registryz writes
// s.Env.ServiceDiscovery.Services(), the aggregate registry's services;
// endpointShardz writes s.Env.EndpointIndex.Shardz().
const (
	registryzPath      = "/debug/registryz"
	endpointShardzPath = "/debug/endpointShardz"
)

// kubernetesProvider is the registry of a Kubernetes cluster
// (pilot/pkg/serviceregistry/provider.Kubernetes); ServiceEntries are
// "External" and belong to no remote cluster.
const kubernetesProvider = "Kubernetes"

// healthy is model.Healthy of istio.io/istio pilot/pkg/model/service.go:
// the HealthStatus istiod gives an endpoint whose EndpointSlice condition
// ready is true or unset (endpointHealthStatus in
// pilot/pkg/serviceregistry/kube/controller/endpointslice.go).
const healthy = 1

// getter sends a GET for path to one istiod and hands the body of a 200
// answer to read.
type getter func(ctx context.Context, path string, read func(io.Reader) error) error

// readRegistry reads one istiod's registry: registryz, then endpointShardz.
// own is the istiod's own cluster ID (clusterz's entry without a secret):
// its endpoints are counted, not kept, since nothing compares them.
func readRegistry(ctx context.Context, get getter, own string) *model.IstiodRegistry {
	acc := map[string]*model.RegistryCluster{}
	of := func(id string) *model.RegistryCluster {
		c := acc[id]
		if c == nil {
			c = &model.RegistryCluster{ID: id}
			acc[id] = c
		}
		return c
	}
	if err := get(ctx, registryzPath, func(r io.Reader) error { return decodeRegistryz(r, of) }); err != nil {
		return &model.IstiodRegistry{Error: registryError(registryzPath, err)}
	}
	if err := get(ctx, endpointShardzPath, func(r io.Reader) error { return decodeShardz(r, of, own) }); err != nil {
		return &model.IstiodRegistry{Error: registryError(endpointShardzPath, err)}
	}
	out := &model.IstiodRegistry{}
	for _, c := range acc {
		out.Clusters = append(out.Clusters, *c)
	}
	sort.Slice(out.Clusters, func(i, j int) bool { return out.Clusters[i].ID < out.Clusters[j].ID })
	return out
}

func registryError(path string, err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return path + ": no answer by the deadline"
	}
	return path + ": " + oneLine(err)
}

// registryzService is what the checks need of one entry of registryz, a
// pilot/pkg/model.Service: Attributes has no JSON tags; hostname and
// clusterVIPs (an AddressMap, whose Addresses are keyed by cluster ID) do.
type registryzService struct {
	Attributes struct {
		ServiceRegistry string
		Name            string
		Namespace       string
	}
	ClusterVIPs struct {
		Addresses map[string]json.RawMessage
	} `json:"clusterVIPs"`
}

// decodeRegistryz walks registryz's array one service at a time.
func decodeRegistryz(r io.Reader, of func(string) *model.RegistryCluster) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '['); err != nil {
		return fmt.Errorf("not the list of services istiod writes: %w", err)
	}
	for dec.More() {
		var s registryzService
		if err := dec.Decode(&s); err != nil {
			return err
		}
		if s.Attributes.ServiceRegistry != kubernetesProvider {
			continue
		}
		key := s.Attributes.Namespace + "/" + s.Attributes.Name
		for id := range s.ClusterVIPs.Addresses {
			c := of(id)
			c.Services++
			c.Examples = addExample(c.Examples, key)
		}
	}
	return expectDelim(dec, ']')
}

// shardEndpoint is what the checks need of a pilot/pkg/model.IstioEndpoint
// (no JSON tags: its field names).
type shardEndpoint struct {
	Addresses    []string
	HealthStatus int
}

// decodeShardz walks endpointShardz, an object of hostnames, each an object
// of namespaces, each an EndpointShards whose Shards are keyed by
// "<provider>/<cluster ID>" (ShardKey.MarshalText), one hostname at a time.
func decodeShardz(r io.Reader, of func(string) *model.RegistryCluster, own string) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return fmt.Errorf("not the endpoint shards istiod writes: %w", err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		hostname, _ := t.(string)
		var byNamespace map[string]struct {
			Shards map[string][]shardEndpoint
		}
		if err := dec.Decode(&byNamespace); err != nil {
			return err
		}
		for ns, shards := range byNamespace {
			key := ns + "/" + serviceName(hostname, ns)
			for shard, eps := range shards.Shards {
				provider, id, ok := strings.Cut(shard, "/")
				if !ok || provider != kubernetesProvider {
					continue
				}
				ready := readyAddresses(eps)
				if len(eps) == 0 {
					continue // an emptied shard holds nothing a proxy is sent
				}
				c := of(id)
				c.Shards++
				c.Endpoints += len(ready)
				c.Examples = addExample(c.Examples, key)
				if id == own || len(ready) == 0 {
					continue
				}
				if c.Ready == nil {
					c.Ready = map[string][]string{}
				}
				c.Ready[key] = ready
			}
		}
	}
	return expectDelim(dec, '}')
}

// readyAddresses are the distinct addresses of the healthy endpoints, sorted:
// istiod keeps one endpoint per address and port.
func readyAddresses(eps []shardEndpoint) []string {
	var out []string
	for _, e := range eps {
		if e.HealthStatus == healthy {
			out = append(out, e.Addresses...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// serviceName is the name of a Kubernetes service from its hostname,
// <name>.<namespace>.svc.<domain suffix>; the hostname itself when it is
// not of that form.
func serviceName(hostname, ns string) string {
	if name, _, ok := strings.Cut(hostname, "."+ns+".svc."); ok && name != "" {
		return name
	}
	return hostname
}

// addExample keeps the RegistryExamples first names in order, once each.
func addExample(ex []string, key string) []string {
	i, found := slices.BinarySearch(ex, key)
	if found || i >= model.RegistryExamples {
		return ex
	}
	ex = slices.Insert(ex, i, key)
	if len(ex) > model.RegistryExamples {
		ex = ex[:model.RegistryExamples]
	}
	return ex
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("found %v where %q was expected", t, string(want))
	}
	return nil
}

// httpGetter reads an istiod at a debug address.
func httpGetter(client *http.Client, base string) getter {
	return func(ctx context.Context, path string, read func(io.Reader) error) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("answered %s", resp.Status)
		}
		return read(resp.Body)
	}
}

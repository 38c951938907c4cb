package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	jsoniter "github.com/json-iterator/go"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

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

// readRegistry reads one istiod's registry: registryz and endpointShardz,
// both at once (each is one pass over istiod's state; neither needs the
// other). own is the istiod's own cluster ID (clusterz's entry without a
// secret): its endpoints are counted, not kept, since nothing compares them.
func readRegistry(ctx context.Context, get getter, own string) *model.IstiodRegistry {
	services, shards := registryAcc{}, registryAcc{}
	var servicesErr, shardsErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		servicesErr = get(ctx, registryzPath, func(r io.Reader) error { return decodeRegistryz(r, services.of) })
	})
	wg.Go(func() {
		shardsErr = get(ctx, endpointShardzPath, func(r io.Reader) error { return decodeShardz(r, shards.of, own) })
	})
	wg.Wait()
	switch {
	case servicesErr != nil:
		return &model.IstiodRegistry{Error: registryError(registryzPath, servicesErr)}
	case shardsErr != nil:
		return &model.IstiodRegistry{Error: registryError(endpointShardzPath, shardsErr)}
	}
	for id, c := range shards {
		s := services.of(id)
		s.Shards, s.Endpoints, s.Ready = c.Shards, c.Endpoints, c.Ready
		for _, ex := range c.Examples {
			s.Examples = addExample(s.Examples, ex)
		}
	}
	out := &model.IstiodRegistry{}
	for _, c := range services {
		out.Clusters = append(out.Clusters, *c)
	}
	sort.Slice(out.Clusters, func(i, j int) bool { return out.Clusters[i].ID < out.Clusters[j].ID })
	return out
}

// registryAcc accumulates one document's counts per cluster ID.
type registryAcc map[string]*model.RegistryCluster

func (a registryAcc) of(id string) *model.RegistryCluster {
	c := a[id]
	if c == nil {
		c = &model.RegistryCluster{ID: id}
		a[id] = c
	}
	return c
}

func registryError(path string, err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return path + ": no answer by the deadline"
	}
	return path + ": " + oneLine(err)
}

// The two documents are large (on a mesh of 5,000 Services in 3 clusters,
// about 4 MB of registryz and 14 MB of endpointShardz from every istiod
// replica) and the checks need a few fields of each entry: they are walked
// with json-iterator's streaming Iterator, which skips what is not needed
// without decoding it (encoding/json's Decoder scans every value twice: a
// third of the probe phase's CPU on that mesh). json-iterator is already
// linked through client-go.
const iteratorBuffer = 64 << 10

// decodeRegistryz walks registryz's array one service at a time: of each
// pilot/pkg/model.Service it reads Attributes.ServiceRegistry, Name and
// Namespace (Attributes has no JSON tags) and the cluster IDs that key
// clusterVIPs.Addresses (an AddressMap).
func decodeRegistryz(r io.Reader, of func(string) *model.RegistryCluster) error {
	it, er := newIterator(r)
	if it.WhatIsNext() != jsoniter.ArrayValue {
		return notJSON("list of services", it)
	}
	var clusters []string
	it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
		var registry, name, ns string
		clusters = clusters[:0]
		it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
			switch field {
			case "Attributes":
				it.ReadObjectCB(func(it *jsoniter.Iterator, attr string) bool {
					switch attr {
					case "ServiceRegistry":
						registry = it.ReadString()
					case "Name":
						name = it.ReadString()
					case "Namespace":
						ns = it.ReadString()
					default:
						it.Skip()
					}
					return true
				})
			case "clusterVIPs":
				it.ReadObjectCB(func(it *jsoniter.Iterator, f string) bool {
					if f != "Addresses" {
						it.Skip()
						return true
					}
					return it.ReadObjectCB(func(it *jsoniter.Iterator, id string) bool {
						clusters = append(clusters, id)
						it.Skip()
						return true
					})
				})
			default:
				it.Skip()
			}
			return it.Error == nil
		})
		if it.Error != nil || registry != kubernetesProvider {
			return it.Error == nil
		}
		key := ns + "/" + name
		for _, id := range clusters {
			c := of(id)
			c.Services++
			c.Examples = addExample(c.Examples, key)
		}
		return true
	})
	return iteratorErr(it, er)
}

// decodeShardz walks endpointShardz, an object of hostnames, each an object
// of namespaces, each an EndpointShards whose Shards are keyed by
// "<provider>/<cluster ID>" (ShardKey.MarshalText), each a list of
// pilot/pkg/model.IstioEndpoint (no JSON tags: Addresses, HealthStatus).
func decodeShardz(r io.Reader, of func(string) *model.RegistryCluster, own string) error {
	it, er := newIterator(r)
	if it.WhatIsNext() != jsoniter.ObjectValue {
		return notJSON("endpoint shards", it)
	}
	var eps []shardEndpoint
	shard := func(key string) func(*jsoniter.Iterator, string) bool {
		return func(it *jsoniter.Iterator, shard string) bool {
			provider, id, ok := strings.Cut(shard, "/")
			if !ok || provider != kubernetesProvider {
				it.Skip()
				return it.Error == nil
			}
			eps = readShardEndpoints(it, eps[:0])
			if it.Error != nil || len(eps) == 0 {
				return it.Error == nil // an emptied shard holds nothing a proxy is sent
			}
			ready := readyAddresses(eps)
			c := of(id)
			c.Shards++
			c.Endpoints += len(ready)
			c.Examples = addExample(c.Examples, key)
			if id == own || len(ready) == 0 {
				return true
			}
			if c.Ready == nil {
				c.Ready = map[string][]string{}
			}
			c.Ready[key] = ready
			return true
		}
	}
	it.ReadObjectCB(func(it *jsoniter.Iterator, hostname string) bool {
		return it.ReadObjectCB(func(it *jsoniter.Iterator, ns string) bool {
			key := ns + "/" + serviceName(hostname, ns)
			return it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
				if field != "Shards" {
					it.Skip()
					return it.Error == nil
				}
				return it.ReadObjectCB(shard(key))
			})
		})
	})
	return iteratorErr(it, er)
}

// shardEndpoint is what the checks need of a pilot/pkg/model.IstioEndpoint.
type shardEndpoint struct {
	Addresses    []string
	HealthStatus int
}

// readShardEndpoints appends the endpoints of one shard's list to eps.
func readShardEndpoints(it *jsoniter.Iterator, eps []shardEndpoint) []shardEndpoint {
	it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
		var e shardEndpoint
		it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
			switch field {
			case "Addresses":
				it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
					e.Addresses = append(e.Addresses, it.ReadString())
					return it.Error == nil
				})
			case "HealthStatus":
				e.HealthStatus = it.ReadInt()
			default:
				it.Skip()
			}
			return it.Error == nil
		})
		eps = append(eps, e)
		return it.Error == nil
	})
	return eps
}

// newIterator walks r; json-iterator reports a document cut off as a
// syntax error at its end, so the reader notes when it reached EOF.
func newIterator(r io.Reader) (*jsoniter.Iterator, *eofReader) {
	er := &eofReader{r: r}
	return jsoniter.Parse(jsoniter.ConfigDefault, er, iteratorBuffer), er
}

type eofReader struct {
	r   io.Reader
	eof bool
}

func (e *eofReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err == io.EOF {
		e.eof = true
	}
	return n, err
}

// iteratorErr is the walk's error, unexpected EOF when the document ended
// before it was whole.
func iteratorErr(it *jsoniter.Iterator, r *eofReader) error {
	switch {
	case it.Error == nil || it.Error == io.EOF && !r.eof:
		return nil
	case r.eof:
		return fmt.Errorf("the document ended before it was whole: %w", io.ErrUnexpectedEOF)
	}
	return it.Error
}

// notJSON says what a document starts with instead of the JSON value
// istiod writes.
func notJSON(what string, it *jsoniter.Iterator) error {
	if it.WhatIsNext() == jsoniter.InvalidValue {
		return fmt.Errorf("not the %s istiod writes: invalid character, not JSON", what)
	}
	return fmt.Errorf("not the %s istiod writes: another kind of JSON value", what)
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

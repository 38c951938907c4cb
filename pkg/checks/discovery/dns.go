package discovery

import (
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// dnsSetting is whether the sidecars of a cluster capture DNS by default,
// and from which mesh config that is read; unknown says why it cannot be told.
type dnsSetting struct {
	on      bool
	source  string
	unknown string
}

// proxyDNS reads the DNS capture default of c's sidecars. Sidecars are
// injected with the injecting istiod's mesh config (pkg/kube/inject: the
// webhook's meshConfig is istiod's): a primary's own; for a remote, that of
// the primaries whose istiod injects it, unless it is the config cluster of
// an external istiod, which reads the remote's.
func proxyDNS(f *model.Fleet, c *model.Cluster, id mesh.Identity) dnsSetting {
	if id.Role == mesh.RolePrimary || id.ConfigCluster {
		return ownDNS(c, id)
	}
	var on, off []string
	for _, p := range f.Clusters {
		pid := mesh.Identify(p)
		if pid.Role != mesh.RolePrimary {
			continue
		}
		s := ownDNS(p, pid)
		switch {
		case s.unknown != "":
			return dnsSetting{unknown: fmt.Sprintf("%s is a remote cluster whose pods primary %s may inject, and %s", c.Context, p.Context, s.unknown)}
		case s.on:
			on = append(on, p.Context)
		default:
			off = append(off, p.Context)
		}
	}
	switch {
	case len(on) == 0 && len(off) == 0:
		return dnsSetting{unknown: fmt.Sprintf("%s is a remote cluster and no primary of the fleet was read, whose istiod injects its pods with its mesh config", c.Context)}
	case len(on) > 0 && len(off) > 0:
		return dnsSetting{unknown: fmt.Sprintf("%s is a remote cluster, and the primaries that may inject its pods disagree: %s capture DNS, %s do not", c.Context, strings.Join(on, ", "), strings.Join(off, ", "))}
	}
	injectors := append(on, off...)
	return dnsSetting{on: len(on) > 0, source: fmt.Sprintf("the mesh config of primary %s, whose istiod injects the remote's pods", strings.Join(injectors, ", "))}
}

func ownDNS(c *model.Cluster, id mesh.Identity) dnsSetting {
	cm := c.IstioNamespace + "/" + mesh.MeshConfigMap
	if id.Revision != "" && id.Revision != "default" {
		cm += "-" + id.Revision
	}
	switch {
	case id.MeshConfigError != "":
		return dnsSetting{unknown: fmt.Sprintf("the mesh config of %s (ConfigMap %s) does not parse: %s", c.Context, cm, id.MeshConfigError)}
	case id.Mesh == nil:
		return dnsSetting{unknown: fmt.Sprintf("%s has no mesh config (ConfigMap %s) to read defaultConfig.proxyMetadata from", c.Context, cm)}
	}
	v, set := id.Mesh.GetDefaultConfig().GetProxyMetadata()[mesh.DNSCaptureMetadata]
	src := fmt.Sprintf("ConfigMap %s of %s sets defaultConfig.proxyMetadata.%s=%q", cm, c.Context, mesh.DNSCaptureMetadata, v)
	if !set {
		src = fmt.Sprintf("ConfigMap %s of %s does not set defaultConfig.proxyMetadata.%s (default false)", cm, c.Context, mesh.DNSCaptureMetadata)
	}
	return dnsSetting{on: mesh.DNSCaptureByDefault(id.Mesh), source: src}
}

// holder is a cluster where a service has a Service object and ready endpoints.
type holder struct {
	context string
	ready   int
}

// serviceWithoutDNS (MF4014): a service with ready endpoints in some clusters
// of the mesh and no Service object in another cluster that has its
// namespace. A client there resolves <name>.<namespace>.svc.cluster.local
// through the cluster's DNS, which has no record: the lookup fails
// (NXDOMAIN) before the sidecar sees the call, unless the sidecar's DNS proxy
// answers it from istiod's registry.
func serviceWithoutDNS(f *model.Fleet) []checks.Finding {
	holders := map[svcKey][]holder{}
	var keys []svcKey
	inMesh := map[*model.Cluster]mesh.Identity{}
	for _, c := range f.Clusters {
		id := mesh.Identify(c)
		if id.Role != mesh.RolePrimary && id.Role != mesh.RoleRemote {
			continue
		}
		inMesh[c] = id
		ix := indexOf(c)
		for _, s := range c.Services {
			if systemNamespaces[s.Namespace] || s.Namespace == c.IstioNamespace {
				continue // the clusters' own and Istio's role-dependent services
			}
			ready := ix.ready[svcKey{s.Namespace, s.Name}]
			if ready == 0 {
				continue
			}
			k := svcKey{s.Namespace, s.Name}
			if _, ok := holders[k]; !ok {
				keys = append(keys, k)
			}
			holders[k] = append(holders[k], holder{c.Context, ready})
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].ns != keys[j].ns {
			return keys[i].ns < keys[j].ns
		}
		return keys[i].name < keys[j].name
	})
	var out []checks.Finding
	for _, c := range f.Clusters {
		id, ok := inMesh[c]
		if !ok {
			continue
		}
		var dns *dnsSetting
		ix := indexOf(c)
		for _, k := range keys {
			if ix.services[k] || !ix.namespaces[k.ns] {
				continue
			}
			if dns == nil {
				s := proxyDNS(f, c, id)
				dns = &s
			}
			if dns.on {
				continue
			}
			out = append(out, dnsFinding(c, k.ns, k.name, holders[k], *dns))
		}
	}
	return out
}

func dnsFinding(c *model.Cluster, ns, name string, hs []holder, dns dnsSetting) checks.Finding {
	var where []string
	for _, h := range hs {
		where = append(where, fmt.Sprintf("%s (%d ready)", h.context, h.ready))
	}
	host := fmt.Sprintf("%s.%s.svc.cluster.local", name, ns)
	fd := checks.NewMF4014(checks.MF4014Subjects{Cluster: c.Context}, checks.Details{
		Object: &checks.ObjectRef{Kind: "Service", Namespace: ns, Name: name},
		Evidence: []string{
			fmt.Sprintf("Service %s/%s with ready endpoints in: %s", ns, name, strings.Join(where, ", ")),
			fmt.Sprintf("namespace %s exists in %s, Service %s/%s does not", ns, c.Context, ns, name),
		},
	})
	if dns.unknown != "" {
		fd.Severity = checks.SeverityUnknown
		fd.Message = fmt.Sprintf("%s has no Service %s/%s (endpoints only in %s); whether its sidecars' DNS proxy answers %s is unknown: %s", c.Context, ns, name, contextsOf(hs), host, dns.unknown)
		return fd
	}
	fd.Message = fmt.Sprintf("%s has no Service %s/%s, which has endpoints only in %s, and its sidecars do not proxy DNS: a call to %s from %s fails to resolve (NXDOMAIN from the cluster's DNS) before the sidecar sees it", c.Context, ns, name, contextsOf(hs), host, c.Context)
	fd.Evidence = append(fd.Evidence, "DNS capture off: "+dns.source)
	return fd
}

func contextsOf(hs []holder) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.context
	}
	return strings.Join(names, ", ")
}

// serviceIndex is what MF4014 looks up of one cluster, indexed once: a
// lookup per Service per cluster over the whole lists made the check
// quadratic (seconds at 10,000 Services).
type serviceIndex struct {
	ready      map[svcKey]int // ready endpoints of each Service's EndpointSlices
	services   map[svcKey]bool
	namespaces map[string]bool
}

type svcKey struct{ ns, name string }

func indexOf(c *model.Cluster) *serviceIndex {
	return c.Memo("discovery.serviceIndex", func() any {
		ix := &serviceIndex{
			ready:      make(map[svcKey]int, len(c.EndpointSlices)),
			services:   make(map[svcKey]bool, len(c.Services)),
			namespaces: make(map[string]bool, len(c.Namespaces)),
		}
		for _, es := range c.EndpointSlices {
			if es.Service != "" {
				ix.ready[svcKey{es.Namespace, es.Service}] += es.Ready
			}
		}
		for _, s := range c.Services {
			ix.services[svcKey{s.Namespace, s.Name}] = true
		}
		for _, n := range c.Namespaces {
			ix.namespaces[n.Name] = true
		}
		return ix
	}).(*serviceIndex)
}

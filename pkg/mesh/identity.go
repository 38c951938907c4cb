// Package mesh reads a cluster's place in an Istio mesh out of its snapshot,
// the way istiod itself derives it: cluster ID, network, role, mesh ID and
// trust domain. Checks, the report header and fixers all share this reading.
package mesh

import (
	"encoding/json"
	"net/url"
	"strings"

	"istio.io/api/label"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pkg/config/constants"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Role is a cluster's part in the control plane.
type Role string

const (
	// RolePrimary runs its own istiod.
	RolePrimary Role = "primary"
	// RoleRemote has no istiod; its proxies and webhook use another cluster's.
	RoleRemote Role = "remote"
	// RoleNone has no trace of Istio.
	RoleNone Role = "none"
	// RoleUnknown could not be read.
	RoleUnknown Role = "unknown"
)

// Identity is what a cluster is in the mesh.
type Identity struct {
	ClusterID string
	// ClusterIDSource says where ClusterID came from, for evidence.
	ClusterIDSource    string
	Network            string
	Role               Role
	MeshID             string
	TrustDomain        string
	TrustDomainAliases []string
	Revision           string
	// Version is istiod's image tag, when there is an istiod.
	Version string
	// Mesh is the parsed mesh config with istiod's defaults applied (nil when
	// there is none); MeshConfigError says why it could not be parsed.
	Mesh            *meshconfig.MeshConfig
	MeshConfigError string
	// ConfigCluster is true for a remote cluster that also holds the mesh's
	// configuration for an external istiod (values.global.configCluster).
	ConfigCluster bool
}

// Well-known names of an Istio install.
const (
	IstiodApp          = "istiod"
	MeshConfigMap      = "istio"
	InjectorConfigMap  = "istio-sidecar-injector"
	DefaultClusterName = constants.DefaultClusterName
	NetworkLabel       = "topology.istio.io/network"
)

func init() {
	// Keep our names honest against istio.io/api's.
	if label.TopologyNetwork.Name != NetworkLabel {
		panic("topology network label moved: " + label.TopologyNetwork.Name)
	}
}

// IdentityKinds are the kinds Identify reads: a check that relies on a
// cluster's identity needs all of them.
var IdentityKinds = []model.Kind{
	model.KindNamespaces, model.KindDeployments, model.KindPods,
	model.KindConfigMaps, model.KindServices, model.KindWebhooks,
}

// IdentityMemo is the key Identify keeps a cluster's identity under
// (model.Cluster.Memo).
const IdentityMemo = "mesh.Identity"

// Identify reads a cluster's identity from its snapshot (once per cluster).
func Identify(c *model.Cluster) Identity {
	return c.Memo(IdentityMemo, func() any { return identify(c) }).(Identity)
}

func identify(c *model.Cluster) Identity {
	id := Identity{Role: RoleUnknown}
	if !c.Reachable {
		return id
	}
	ns := c.IstioNamespace
	values := injectorValues(c)

	istiod, hasIstiod := findIstiod(c)
	switch {
	case hasIstiod:
		id.Role = RolePrimary
		id.Revision = istiod.Labels["istio.io/rev"]
		id.Version = imageTag(istiod)
		if v, ok := istiod.Env("CLUSTER_ID"); ok && v != "" {
			id.ClusterID, id.ClusterIDSource = v, "CLUSTER_ID of istiod "+ns+"/"+istiod.Name
		} else {
			id.ClusterID, id.ClusterIDSource = DefaultClusterName, "istiod "+ns+"/"+istiod.Name+" sets no CLUSTER_ID, so istiod uses its default"
		}
	case hasRemoteTraces(c, values):
		id.Role = RoleRemote
		id.ConfigCluster = values.Global.ConfigCluster
	case len(c.Namespaces) > 0 && !hasNamespace(c, ns):
		id.Role = RoleNone
	}
	if id.ClusterID == "" && values.Global.MultiCluster.ClusterName != "" {
		id.ClusterID, id.ClusterIDSource = values.Global.MultiCluster.ClusterName, "values.global.multiCluster.clusterName in ConfigMap "+ns+"/"+InjectorConfigMap
	}
	if id.ClusterID == "" && id.Role == RoleRemote {
		// Istio's remote profile writes no injector ConfigMap; the
		// cluster ID is in the injection webhook's path, which istiod's
		// injector reads it from (/inject/cluster/<id>/net/<network>).
		if cid, hook, ok := injectionClusterID(c); ok {
			id.ClusterID, id.ClusterIDSource = cid, "the path of injection webhook "+hook
		}
	}

	if n, ok := namespaceLabel(c, ns, NetworkLabel); ok {
		id.Network = n
	}

	if cm, ok := findConfigMap(c, ns, meshConfigName(id.Revision)); ok {
		m, err := ParseMeshConfig(cm.Data["mesh"])
		if err != nil {
			id.MeshConfigError = err.Error()
		} else {
			id.Mesh = m
			id.TrustDomain = m.GetTrustDomain()
			id.TrustDomainAliases = m.GetTrustDomainAliases()
			id.MeshID = m.GetDefaultConfig().GetMeshId()
		}
	}
	if id.MeshID == "" {
		id.MeshID = values.Global.MeshID
	}
	return id
}

func meshConfigName(revision string) string {
	if revision == "" || revision == "default" {
		return MeshConfigMap
	}
	return MeshConfigMap + "-" + revision
}

// findIstiod returns the istiod Deployment (or, lacking one, Pod) in Istio's namespace.
func findIstiod(c *model.Cluster) (model.Workload, bool) {
	for _, list := range [][]model.Workload{c.Deployments, c.Pods} {
		for _, w := range list {
			if w.Namespace == c.IstioNamespace && (w.Labels["app"] == IstiodApp || w.PodLabels["app"] == IstiodApp) {
				return w, true
			}
		}
	}
	return model.Workload{}, false
}

// hasRemoteTraces tells a remote cluster: an istiod Service without a local
// istiod, an injector configured for it, or a webhook calling out by URL.
func hasRemoteTraces(c *model.Cluster, v injectorValuesDoc) bool {
	for _, s := range c.Services {
		if s.Namespace == c.IstioNamespace && s.Name == IstiodApp {
			return true
		}
	}
	if v.Global.MultiCluster.ClusterName != "" {
		return true
	}
	for _, w := range c.Webhooks {
		if strings.Contains(w.Name, "istio-sidecar-injector") {
			return true
		}
	}
	return false
}

// injectionClusterID reads the cluster ID from a sidecar-injector webhook's
// path (its URL's, or its Service's with istiodRemote.injectionPath), /inject/cluster/<id>/net/<network>: after /inject, key and value
// segments, as istiod's injector parses them.
func injectionClusterID(c *model.Cluster) (id, hook string, ok bool) {
	for _, w := range c.Webhooks {
		if !strings.Contains(w.Name, "sidecar-injector") {
			continue
		}
		for _, h := range w.Hooks {
			path := h.Path // the URL's path, or the Service's (injectionPath)
			if path == "" && h.URL != "" {
				if u, err := url.Parse(h.URL); err == nil {
					path = u.Path
				}
			}
			rest, found := strings.CutPrefix(path, "/inject/")
			if !found {
				continue
			}
			segs := strings.Split(rest, "/")
			for i := 0; i+1 < len(segs); i += 2 {
				if segs[i] == "cluster" && segs[i+1] != "" {
					return segs[i+1], h.Name + " of " + w.Name, true
				}
			}
		}
	}
	return "", "", false
}

func imageTag(w model.Workload) string {
	for _, c := range w.Containers {
		if i := strings.LastIndex(c.Image, ":"); i > 0 && !strings.Contains(c.Image[i:], "/") {
			return c.Image[i+1:]
		}
	}
	return ""
}

type injectorValuesDoc struct {
	Global struct {
		MeshID        string `json:"meshID"`
		Network       string `json:"network"`
		ConfigCluster bool   `json:"configCluster"`
		MultiCluster  struct {
			ClusterName string `json:"clusterName"`
		} `json:"multiCluster"`
	} `json:"global"`
}

func injectorValues(c *model.Cluster) injectorValuesDoc {
	var v injectorValuesDoc
	if cm, ok := findConfigMap(c, c.IstioNamespace, InjectorConfigMap); ok {
		_ = json.Unmarshal([]byte(cm.Data["values"]), &v) // absent or malformed values tell nothing
	}
	return v
}

func findConfigMap(c *model.Cluster, ns, name string) (model.ConfigMap, bool) {
	for _, cm := range c.ConfigMaps {
		if cm.Namespace == ns && cm.Name == name {
			return cm, true
		}
	}
	return model.ConfigMap{}, false
}

func hasNamespace(c *model.Cluster, name string) bool {
	_, ok := namespaceLabel(c, name, "")
	return ok
}

func namespaceLabel(c *model.Cluster, ns, key string) (string, bool) {
	for _, n := range c.Namespaces {
		if n.Name == ns {
			if key == "" {
				return "", true
			}
			v, ok := n.Labels[key]
			return v, ok
		}
	}
	return "", false
}

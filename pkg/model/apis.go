package model

import "slices"

// ServedResource is a custom resource of an Istio API group and the
// versions the API server serves it at (its CRD's spec.versions with
// served: true, as discovery lists them). A resource of no served version
// has no CRD: it is not listed at all.
type ServedResource struct {
	Group    string   `json:"group"`
	Resource string   `json:"resource"`
	Kind     string   `json:"kind"`
	Versions []string `json:"versions"`
}

// CRD is the name of the resource's CustomResourceDefinition.
func (r ServedResource) CRD() string { return r.Resource + "." + r.Group }

// Serves reports whether version is among the served ones.
func (r ServedResource) Serves(version string) bool { return slices.Contains(r.Versions, version) }

// ServedResource returns what the cluster serves of group/resource, and
// false when it serves no version of it (no such CRD).
func (c *Cluster) ServedResource(group, resource string) (ServedResource, bool) {
	for _, r := range c.IstioAPIs {
		if r.Group == group && r.Resource == resource {
			return r, true
		}
	}
	return ServedResource{}, false
}

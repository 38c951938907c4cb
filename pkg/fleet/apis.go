package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/version"

	"github.com/meshfed/kubectl-meshfed/pkg/istioapi"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// readIstioAPIs reads which versions of the custom resources of the Istio
// API groups istiod lists from its remotes (istioapi.Groups) the API
// server serves, from discovery: the group's document names its served
// versions, each version's document its resources. A few small requests
// that any user may make (discovery needs no RBAC), where reading the CRDs
// would bring their whole OpenAPI schemas. A group that is not served has
// no resources, which is not a failure to read.
func (r *reader) readIstioAPIs(ctx context.Context, c *model.Cluster) error {
	for _, group := range istioapi.Groups() {
		body, err := r.client.Raw(ctx, "/apis", group)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("discovery of %s: %w", group, err)
		}
		var g metav1.APIGroup
		if err := json.Unmarshal(body, &g); err != nil {
			return fmt.Errorf("discovery of %s: %w", group, err)
		}
		var served []model.ServedResource
		for _, v := range g.Versions {
			body, err := r.client.Raw(ctx, "/apis", group, v.Version)
			if apierrors.IsNotFound(err) {
				continue // withdrawn between the two reads
			}
			if err != nil {
				return fmt.Errorf("discovery of %s: %w", v.GroupVersion, err)
			}
			var list metav1.APIResourceList
			if err := json.Unmarshal(body, &list); err != nil {
				return fmt.Errorf("discovery of %s: %w", v.GroupVersion, err)
			}
			for _, res := range list.APIResources {
				if strings.Contains(res.Name, "/") {
					continue // a subresource (status)
				}
				served = addServed(served, model.ServedResource{Group: group, Resource: res.Name, Kind: res.Kind}, v.Version)
			}
		}
		for i := range served {
			sortVersions(served[i].Versions)
		}
		c.IstioAPIs = append(c.IstioAPIs, served...)
	}
	return nil
}

// sortVersions orders versions oldest first (v1alpha3, v1beta1, v1), as
// Kubernetes ranks them, whatever order discovery or a CRD lists them in.
func sortVersions(vs []string) {
	slices.SortFunc(vs, func(a, b string) int { return version.CompareKubeAwareVersionStrings(a, b) })
}

// addServed records that r is served at version.
func addServed(served []model.ServedResource, r model.ServedResource, version string) []model.ServedResource {
	for i := range served {
		if served[i].Group == r.Group && served[i].Resource == r.Resource {
			served[i].Versions = append(served[i].Versions, version)
			return served
		}
	}
	r.Versions = []string{version}
	return append(served, r)
}

// fromCRD is what discovery would list of a CustomResourceDefinition of
// an Istio API group (fixtures and bundles hold CRDs): its served versions.
func fromCRD(c *model.Cluster, o *unstructured.Unstructured) error {
	group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
	kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
	known := false
	for _, g := range istioapi.Groups() {
		known = known || g == group
	}
	if !known {
		return fmt.Errorf("the doctor does not read the CRD %s (group %s)", o.GetName(), group)
	}
	versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
	served := model.ServedResource{Group: group, Resource: plural, Kind: kind}
	for _, v := range versions {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		if on, _ := m["served"].(bool); on && name != "" {
			served.Versions = append(served.Versions, name)
		}
	}
	sortVersions(served.Versions)
	if len(served.Versions) > 0 {
		c.IstioAPIs = append(c.IstioAPIs, served)
	}
	return nil
}

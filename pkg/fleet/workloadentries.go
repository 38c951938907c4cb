package fleet

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	istionet "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// olderWorkloadEntryVersions are the versions a WorkloadEntry CRD served
// before v1 (Istio 1.22 added v1): the object is the same at each (one
// proto, istio.networking.v1alpha3.WorkloadEntry), so an older cluster's
// entries are read at the newest of them it serves.
var olderWorkloadEntryVersions = []string{"v1beta1", "v1alpha3"}

// readWorkloadEntries LISTs the WorkloadEntries of every namespace at v1,
// the version istiod of this module lists (createWleConfigStore). A CRD that
// does not serve v1 is read at an older version it serves; a cluster that
// serves none has no WorkloadEntries (no CRD), which is not a failure to
// read: istiod has none of it either.
func (r *reader) readWorkloadEntries(ctx context.Context, c *model.Cluster) error {
	all := r.listing(metav1.ListOptions{})
	err := eachPage(ctx, all, lister[istionet.WorkloadEntryList](r.client.IstioNetworking(), "workloadentries", ""),
		func(l *istionet.WorkloadEntryList) error { return addAll(c, l.Items, nil) })
	if !apierrors.IsNotFound(err) {
		return err
	}
	for _, v := range olderWorkloadEntryVersions {
		gvr := istionet.SchemeGroupVersion.WithResource("workloadentries")
		gvr.Version = v
		err := eachPage(ctx, all, r.dyn.Resource(gvr).List, func(l *unstructured.UnstructuredList) error {
			for i := range l.Items {
				we, err := workloadEntryFrom(&l.Items[i])
				if err != nil {
					return err
				}
				c.WorkloadEntries = append(c.WorkloadEntries, fromWorkloadEntry(we))
			}
			return nil
		})
		if !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// workloadEntryFrom decodes a WorkloadEntry of an older version into v1's
// type through its JSON (the spec's own protojson decoding).
func workloadEntryFrom(u *unstructured.Unstructured) (*istionet.WorkloadEntry, error) {
	b, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var we istionet.WorkloadEntry
	if err := json.Unmarshal(b, &we); err != nil {
		return nil, fmt.Errorf("WorkloadEntry %s/%s (%s): %w", u.GetNamespace(), u.GetName(), u.GetAPIVersion(), err)
	}
	return &we, nil
}

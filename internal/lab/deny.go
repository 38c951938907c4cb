package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// DenyUpdates makes cluster's API server reject every update of one
// existing object, as a cluster's admission policy would: a
// ValidatingAdmissionPolicy and its binding, with message as the reason.
// It returns once the API server enforces it (a dry-run update is denied),
// and undo, which removes the policy and returns once updates pass again.
func (l *Lab) DenyUpdates(ctx context.Context, cluster string, gvr schema.GroupVersionResource, namespace, name, message string) (undo func(context.Context) error, err error) {
	c := l.clusters[cluster]
	if c == nil {
		return nil, fmt.Errorf("no cluster %q", cluster)
	}
	dyn, err := dynamic.NewForConfig(c.rest)
	if err != nil {
		return nil, err
	}
	policyName := "lab-deny-" + strings.ToLower(gvr.Resource) + "-" + name
	fail := admissionv1.Fail
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				ResourceNames: []string{name},
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{gvr.Group}, APIVersions: []string{"*"}, Resources: []string{gvr.Resource}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: fmt.Sprintf("object.metadata.namespace != %q", namespace), Message: message}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policyName,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny}},
	}
	admission := c.client.AdmissionregistrationV1()
	if _, err := admission.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if _, err := admission.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	// A dry-run update of a label tells whether the API server has loaded
	// the policy yet: it loads policies asynchronously.
	denied := func(ctx context.Context) (bool, error) {
		patch := []byte(`{"metadata":{"labels":{"lab.meshfed.dev/probe":"deny"}}}`)
		_, err := dyn.Resource(gvr).Namespace(namespace).Patch(ctx, name, types.MergePatchType, patch,
			metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), message) {
			return true, nil
		}
		return false, err
	}
	if err := poll(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
		d, _ := denied(ctx) // not yet: the API server may still be loading it
		return d, nil
	}); err != nil {
		return nil, fmt.Errorf("the policy denying updates of %s %s/%s was not enforced: %w", gvr.Resource, namespace, name, err)
	}
	undo = func(ctx context.Context) error {
		if err := admission.ValidatingAdmissionPolicyBindings().Delete(ctx, policyName, metav1.DeleteOptions{}); err != nil {
			return err
		}
		if err := admission.ValidatingAdmissionPolicies().Delete(ctx, policyName, metav1.DeleteOptions{}); err != nil {
			return err
		}
		return poll(ctx, 30*time.Second, 200*time.Millisecond, func() (bool, error) {
			d, err := denied(ctx)
			return !d && err == nil, nil // an error other than the denial: try again
		})
	}
	return undo, nil
}

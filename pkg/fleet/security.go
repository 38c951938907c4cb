package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// securityAPI is where Istio serves its security kinds (v1 since Istio 1.22).
const securityAPI = "/apis/security.istio.io/v1"

// ReadSecurityPolicies reads the AuthorizationPolicies and
// PeerAuthentications of a few namespaces of one cluster: one LIST per kind
// and namespace, as JSON (custom resources are served as JSON only), reduced
// to model.SecurityPolicies. It is trace's read, not the doctor's: a call
// is judged against the destination's namespace and the root namespace
// only, so nothing else is read. A cluster that does not serve the kinds
// holds none of them (recorded as such, not as an error).
func ReadSecurityPolicies(ctx context.Context, c *kube.Client, context string, namespaces []string) model.SecurityPolicies {
	out := model.SecurityPolicies{Context: context, Namespaces: namespaces}
	for _, ns := range namespaces {
		var authz authzList
		if err := listJSON(ctx, c, ns, "authorizationpolicies", &authz); err != nil {
			if apierrors.IsNotFound(err) {
				continue // security.istio.io not served: no policy binds
			}
			out.Error = fmt.Sprintf("listing AuthorizationPolicies in %s: %v", nsName(ns), err)
			return out
		}
		for i := range authz.Items {
			out.AuthorizationPolicies = append(out.AuthorizationPolicies, authz.modelOf(i))
		}
		var peers peerList
		if err := listJSON(ctx, c, ns, "peerauthentications", &peers); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			out.Error = fmt.Sprintf("listing PeerAuthentications in %s: %v", nsName(ns), err)
			return out
		}
		for i := range peers.Items {
			out.PeerAuthentications = append(out.PeerAuthentications, peers.modelOf(i))
		}
	}
	return out
}

// ReadAllSecurityPolicies reads the AuthorizationPolicies and
// PeerAuthentications of every namespace of one cluster (one LIST per
// kind): what dump records, so that trace --bundle can narrow them to the
// namespaces a live trace reads (model.SecurityPolicies.In).
func ReadAllSecurityPolicies(ctx context.Context, c *kube.Client, context string) model.SecurityPolicies {
	out := ReadSecurityPolicies(ctx, c, context, []string{allNamespaces})
	out.Namespaces = nil
	return out
}

// allNamespaces, as a namespace of listJSON, lists across namespaces.
const allNamespaces = ""

func listJSON(ctx context.Context, c *kube.Client, ns, resource string, into any) error {
	path := []string{securityAPI, "namespaces", ns, resource}
	if ns == allNamespaces {
		path = []string{securityAPI, resource}
	}
	b, err := c.Raw(ctx, path...)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// The JSON shapes of security.istio.io/v1 (istio.io/api security/v1beta1
// protos, which v1 serves unchanged), only the fields trace judges.
type objectMeta struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	UID       string            `json:"uid"`
	Labels    map[string]string `json:"labels"`
}

type workloadSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type targetRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

type authzList struct {
	Items []struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			Selector   *workloadSelector `json:"selector"`
			TargetRef  *targetRef        `json:"targetRef"`
			TargetRefs []targetRef       `json:"targetRefs"`
			Action     string            `json:"action"`
			Rules      []struct {
				From []struct {
					Source map[string][]string `json:"source"`
				} `json:"from"`
				To []struct {
					Operation map[string][]string `json:"operation"`
				} `json:"to"`
				When []struct {
					Key string `json:"key"`
				} `json:"when"`
			} `json:"rules"`
		} `json:"spec"`
	} `json:"items"`
}

func policyMeta(m objectMeta) model.Meta {
	return model.Meta{Namespace: m.Namespace, Name: m.Name, UID: m.UID, Labels: m.Labels}
}

func selectorLabels(s *workloadSelector) map[string]string {
	if s == nil {
		return nil
	}
	return s.MatchLabels
}

func (l authzList) modelOf(i int) model.AuthorizationPolicy {
	p := l.Items[i]
	out := model.AuthorizationPolicy{Meta: policyMeta(p.Metadata), Selector: selectorLabels(p.Spec.Selector), Action: p.Spec.Action}
	if out.Action == "" {
		out.Action = "ALLOW"
	}
	refs := p.Spec.TargetRefs
	if p.Spec.TargetRef != nil {
		refs = append(refs, *p.Spec.TargetRef)
	}
	for _, r := range refs {
		out.TargetRefs = append(out.TargetRefs, r.Kind+"/"+r.Name)
	}
	if p.Spec.Rules != nil {
		out.Rules = []model.AuthzRule{}
	}
	for _, r := range p.Spec.Rules {
		var rule model.AuthzRule
		for _, f := range r.From {
			src := model.AuthzSource{
				Principals: f.Source["principals"], NotPrincipals: f.Source["notPrincipals"],
				Namespaces: f.Source["namespaces"], NotNamespaces: f.Source["notNamespaces"],
			}
			for k, v := range f.Source {
				switch k {
				case "principals", "notPrincipals", "namespaces", "notNamespaces":
				default:
					src.Other = append(src.Other, k+"="+strings.Join(v, ","))
				}
			}
			sort.Strings(src.Other)
			rule.From = append(rule.From, src)
		}
		for _, t := range r.To {
			keys := make([]string, 0, len(t.Operation))
			for k, v := range t.Operation {
				keys = append(keys, k+"="+strings.Join(v, ","))
			}
			sort.Strings(keys)
			rule.To = append(rule.To, strings.Join(keys, " "))
		}
		for _, w := range r.When {
			rule.When = append(rule.When, w.Key)
		}
		out.Rules = append(out.Rules, rule)
	}
	return out
}

type peerList struct {
	Items []struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			Selector *workloadSelector `json:"selector"`
			MTLS     *struct {
				Mode string `json:"mode"`
			} `json:"mtls"`
			PortLevelMtls map[string]struct {
				Mode string `json:"mode"`
			} `json:"portLevelMtls"`
		} `json:"spec"`
	} `json:"items"`
}

func (l peerList) modelOf(i int) model.PeerAuthentication {
	p := l.Items[i]
	out := model.PeerAuthentication{Meta: policyMeta(p.Metadata), Selector: selectorLabels(p.Spec.Selector)}
	if p.Spec.MTLS != nil {
		out.Mode = p.Spec.MTLS.Mode
	}
	for port, m := range p.Spec.PortLevelMtls {
		n, err := strconv.ParseUint(port, 10, 32)
		if err != nil {
			continue // the API validates ports; nothing to judge otherwise
		}
		if out.PortModes == nil {
			out.PortModes = map[uint32]string{}
		}
		out.PortModes[uint32(n)] = m.Mode
	}
	return out
}

func nsName(ns string) string {
	if ns == allNamespaces {
		return "every namespace"
	}
	return ns
}

package discovery

import (
	"fmt"
	"strconv"
	"strings"

	"istio.io/api/annotation"
	"istio.io/istio/pkg/config/constants"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// controls says whether primary p's istiod takes charge of remote cluster r
// (pilot/pkg/serviceregistry/kube/controller/multicluster.go
// checkShouldLead): istiod runs with EXTERNAL_ISTIOD=true and r's Istio
// namespace names p's cluster ID (or "*") in
// topology.istio.io/controlPlaneClusters. istiod then writes
// istio-ca-root-cert into r's namespaces (with leader election in r's Istio
// namespace) and patches r's injection webhook's caBundle.
func controls(p primary, r *model.Cluster) (bool, string) {
	ext, _ := mesh.IstiodEnv(p.c, "EXTERNAL_ISTIOD")
	if on, _ := strconv.ParseBool(ext); !on {
		return false, ""
	}
	for _, n := range r.Namespaces {
		if n.Name != r.IstioNamespace {
			continue
		}
		v := n.Annotations[annotation.TopologyControlPlaneClusters.Name]
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id == "*" || id == p.id.ClusterID {
				return true, fmt.Sprintf("istiod of %s runs with EXTERNAL_ISTIOD=true and namespace %s of %s is annotated %s=%s", p.c.Context, r.IstioNamespace, r.Context, annotation.TopologyControlPlaneClusters.Name, v)
			}
		}
	}
	return false, ""
}

// secretKind names the service account a token belongs to the way istioctl
// create-remote-secret's --type does.
func secretKind(subject string) string {
	sa := subject[strings.LastIndex(subject, ":")+1:]
	switch {
	case !strings.HasPrefix(subject, "system:serviceaccount:"):
		return ""
	case sa == constants.DefaultServiceAccountName:
		return "istioctl create-remote-secret --type remote"
	case sa == constants.DefaultConfigServiceAccountName:
		return "istioctl create-remote-secret --type config"
	}
	return ""
}

// secretRole (MF4015): the identity of a remote secret must fit the role of
// the cluster it reads. A primary that controls a remote cluster writes
// there, so the secret's identity needs what the remote's install adds to
// the reader role; a peer primary only needs to be read, and a secret of
// istiod's own service account (--type config, meant for an external
// istiod's config cluster) gives more than that.
func secretRole(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for r := range readEntries(f) {
		p, s, e := r.p, r.s, r.e
		peer := clusterWithID(f, e.Key)
		cp := credentialProbe(f, p.c.Context, s.Ref(), e.Key)
		if peer == nil || peer == p.c || cp == nil {
			continue
		}
		subject := subject(*cp)
		if kind := secretKind(cp.TokenSubject); kind != "" {
			subject += " (" + kind + ")"
		}
		switch mesh.Identify(peer).Role {
		case mesh.RoleRemote:
			ok, why := controls(p, peer)
			if !ok {
				continue // istiod only reads this remote: MF4010 judges that
			}
			switch {
			case len(cp.ControlDenied) > 0:
				out = append(out, checks.NewMF4015(checks.MF4015Subjects{Primary: p.c.Context, Peer: peer.Context}, checks.Details{
					Object: secretRef(s),
					Message: fmt.Sprintf("istiod of %s controls remote cluster %s, but the identity of remote secret %s may not %s there: istiod cannot keep istio-ca-root-cert in %s's namespaces nor the injection webhook's caBundle current, so %s's pods cannot verify istiod",
						p.c.Context, peer.Context, s.Ref(), strings.Join(cp.ControlDenied, ", "), peer.Context, peer.Context),
					Evidence: []string{why, fmt.Sprintf("%d of %d SelfSubjectAccessReviews refused, asked from %s as %s", len(cp.ControlDenied), cp.ControlChecked, f.Probes.From, subject)},
				}))
			case cp.ControlError != "":
				out = append(out, checks.NewMF4015(checks.MF4015Subjects{Primary: p.c.Context, Peer: peer.Context}, checks.Details{
					Severity: checks.SeverityUnknown,
					Object:   secretRef(s),
					Message:  fmt.Sprintf("istiod of %s controls remote cluster %s; whether remote secret %s lets it write there could not be reviewed: %s", p.c.Context, peer.Context, s.Ref(), cp.ControlError),
					Evidence: []string{why},
				}))
			}
		case mesh.RolePrimary:
			if !strings.HasSuffix(cp.TokenSubject, ":"+constants.DefaultConfigServiceAccountName) || !strings.HasPrefix(cp.TokenSubject, "system:serviceaccount:") {
				continue
			}
			out = append(out, checks.NewMF4015(checks.MF4015Subjects{Primary: p.c.Context, Peer: peer.Context}, checks.Details{
				Severity: checks.SeverityInfo,
				Object:   secretRef(s),
				Message:  fmt.Sprintf("remote secret %s in %s reads primary %s as its istiod service account (%s), which may write there; a peer primary only needs to be read, with %s", s.Ref(), p.c.Context, peer.Context, cp.TokenSubject, constants.DefaultServiceAccountName),
				Evidence: []string{"token subject from its claims (unverified)"},
			}))
		}
	}
	return out
}

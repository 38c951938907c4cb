// Package discovery holds the checks of cross-cluster discovery: the remote
// secrets through which each primary's istiod reads its peers.
package discovery

import (
	"fmt"
	"sort"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Checks returns the discovery checks.
func Checks() []checks.Check {
	return []checks.Check{
		checks.Func{CheckID: checks.MF4001, Fn: missingRemoteSecret},
		checks.Func{CheckID: checks.MF4002, Fn: ignoredSecret},
		checks.Func{CheckID: checks.MF4003, Fn: ownKey},
		checks.Func{CheckID: checks.MF4004, Fn: annotationMismatch},
		checks.Func{CheckID: checks.MF4005, Fn: badKubeconfig},
		checks.Func{CheckID: checks.MF4006, Fn: loopbackServer},
		checks.Func{CheckID: checks.MF4007, Fn: wrongTarget},
		checks.Func{CheckID: checks.MF4008, Fn: credentialsFail},
		checks.Func{CheckID: checks.MF4009, Fn: tokenExpiry},
		checks.Func{CheckID: checks.MF4010, Fn: readerRBAC},
		checks.Func{CheckID: checks.MF4011, Fn: istiodView},
		checks.Func{CheckID: checks.MF4012, Fn: serviceSameness},
		checks.Func{CheckID: checks.MF4013, Fn: duplicateKey},
		checks.Func{CheckID: checks.MF4014, Fn: serviceWithoutDNS},
		checks.Func{CheckID: checks.MF4015, Fn: secretRole},
		checks.Func{CheckID: checks.MF4016, Fn: podlessAcrossNetworks},
		checks.Func{CheckID: checks.MF4020, Fn: staleRegistry},
		checks.Func{CheckID: checks.MF4021, Fn: missingEndpoints},
		checks.Func{CheckID: checks.MF4025, Fn: missingCluster},
		checks.Func{CheckID: checks.MF5007, Fn: failoverPriorities},
		checks.Func{CheckID: checks.MF4026, Fn: otherNetworkPods},
		checks.Func{CheckID: checks.MF4032, Fn: droppedNamespaces},
		checks.Func{CheckID: checks.MF4035, Fn: crdVersionSkew},
		checks.Func{CheckID: checks.MF4040, Fn: webhookServiceMissing},
		checks.Func{CheckID: checks.MF4041, Fn: webhookServiceExternalName},
		checks.Func{CheckID: checks.MF4050, Fn: entryWithoutMTLS},
		checks.Func{CheckID: checks.MF4051, Fn: entryWithoutNetwork},
		checks.Func{CheckID: checks.MF4045, Fn: pastSyncTimeouts},
		checks.Func{CheckID: checks.MF4046, Fn: rejectedXDS},
	}
}

// missingRemoteSecret (MF4001): every primary needs, for every other cluster
// of the mesh, a remote secret that istiod reads (Istio's namespace, the
// label) with a data key equal to the peer's cluster ID. A peer that some
// secret is meant for (its key, or a kubeconfig pointing at it) is left to
// the check that says what is wrong with that secret (MF4002, MF4003, MF4007).
func missingRemoteSecret(f *model.Fleet) []checks.Finding {
	var out []checks.Finding
	for _, pr := range primaries(f) {
		p, pid := pr.c, pr.id
		keys := mesh.RemoteSecretKeys(p)
		for _, r := range f.Clusters {
			rid := mesh.Identify(r)
			if r == p || rid.ClusterID == "" || rid.ClusterID == pid.ClusterID || rid.Role == mesh.RoleNone {
				continue // itself, an ID unknown, a duplicate ID (MF1001) or not in the mesh
			}
			if _, ok := keys[rid.ClusterID]; ok || covers(f, pr, r, rid.ClusterID) {
				continue
			}
			ev := []string{fmt.Sprintf("%s's cluster ID is %q (%s)", r.Context, rid.ClusterID, rid.ClusterIDSource)}
			if len(keys) == 0 {
				ev = append(ev, fmt.Sprintf("%s has no secret labelled %s=true in %s", p.Context, model.MultiClusterSecretLabel, p.IstioNamespace))
			} else {
				ev = append(ev, fmt.Sprintf("remote secrets in %s cover: %s", p.Context, describeKeys(keys)))
			}
			out = append(out, checks.NewMF4001(checks.MF4001Subjects{Primary: p.Context, Peer: r.Context}, checks.Details{
				Object:   &checks.ObjectRef{Kind: "Secret", Namespace: p.IstioNamespace, Name: "istio-remote-secret-" + rid.ClusterID},
				Message:  fmt.Sprintf("primary %s has no remote secret for cluster %q (context %s): its istiod cannot see that cluster's services", p.Context, rid.ClusterID, r.Context),
				Evidence: ev,
			}))
		}
	}
	return out
}

func describeKeys(keys map[string]string) string {
	var parts []string
	for k, secret := range keys {
		parts = append(parts, fmt.Sprintf("%q (%s)", k, secret))
	}
	sort.Strings(parts)
	return fmt.Sprint(parts)
}

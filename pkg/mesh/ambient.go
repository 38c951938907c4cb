package mesh

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// DataPlaneMode is how a cluster's workloads join the mesh.
type DataPlaneMode string

const (
	// DataPlaneSidecar: injected sidecars only, no trace of ambient.
	DataPlaneSidecar DataPlaneMode = "sidecar"
	// DataPlaneAmbient: ambient (istiod with PILOT_ENABLE_AMBIENT, a
	// ztunnel DaemonSet, or namespaces labelled for ambient), no namespace
	// labelled for sidecar injection.
	DataPlaneAmbient DataPlaneMode = "ambient"
	// DataPlaneMixed: ambient, and namespaces labelled for sidecars too.
	DataPlaneMixed DataPlaneMode = "mixed"
	// DataPlaneNone: no Istio in the cluster.
	DataPlaneNone DataPlaneMode = "none"
	// DataPlaneUnknown: what it would be decided from could not be read.
	DataPlaneUnknown DataPlaneMode = "unknown"
)

// Labels and settings that say ambient. The label and its values are
// istio.io/api's (label.IoIstioDataplaneMode); the env names istiod's
// (pilot/pkg/features/ambient.go).
const (
	DataPlaneModeLabel     = "istio.io/dataplane-mode"
	EnvEnableAmbient       = "PILOT_ENABLE_AMBIENT"
	EnvAmbientMultiNetwork = "AMBIENT_ENABLE_MULTI_NETWORK"
)

// DataPlaneKinds are the kinds DataPlane reads.
var DataPlaneKinds = []model.Kind{model.KindNamespaces, model.KindDeployments, model.KindPods, model.KindDaemonSets}

// Ambient is what a cluster's data plane is, with the evidence read.
type Ambient struct {
	Mode DataPlaneMode
	// IstiodAmbient: istiod sets PILOT_ENABLE_AMBIENT=true, without which
	// istiod ignores every other ambient setting (registerAmbient).
	IstiodAmbient bool
	// MultiNetwork is AMBIENT_ENABLE_MULTI_NETWORK as istiod takes it:
	// true only when ambient is enabled too. MultiNetworkSet says the
	// variable is set to true on istiod at all (even where ignored).
	MultiNetwork, MultiNetworkSet bool
	// Istiod names istiod's Deployment (or Pod) when there is one.
	Istiod string
	// Ztunnel names ztunnel's DaemonSets (namespace/name).
	Ztunnel []string
	// AmbientNamespaces and SidecarNamespaces are the namespaces labelled
	// for each mode.
	AmbientNamespaces, SidecarNamespaces []string
}

// Evidence says in a line or two what the mode was decided from.
func (a Ambient) Evidence() []string {
	var out []string
	if a.Istiod != "" {
		out = append(out, fmt.Sprintf("istiod %s: %s=%t, %s=%t", a.Istiod, EnvEnableAmbient, a.IstiodAmbient, EnvAmbientMultiNetwork, a.MultiNetworkSet))
	}
	if len(a.Ztunnel) > 0 {
		out = append(out, "ztunnel DaemonSet "+strings.Join(a.Ztunnel, ", "))
	}
	if len(a.AmbientNamespaces) > 0 {
		out = append(out, fmt.Sprintf("namespaces labelled %s=ambient: %s", DataPlaneModeLabel, strings.Join(a.AmbientNamespaces, ", ")))
	}
	if len(a.SidecarNamespaces) > 0 {
		out = append(out, "namespaces labelled for sidecar injection: "+strings.Join(a.SidecarNamespaces, ", "))
	}
	return out
}

// AmbientMemo is the key DataPlane keeps its reading under.
const AmbientMemo = "mesh.Ambient"

// DataPlane reads a cluster's data-plane mode (once per cluster).
func DataPlane(c *model.Cluster) Ambient {
	return c.Memo(AmbientMemo, func() any { return dataPlane(c) }).(Ambient)
}

func dataPlane(c *model.Cluster) Ambient {
	a := Ambient{Mode: DataPlaneUnknown}
	if ok, _ := c.Readable(DataPlaneKinds...); !ok {
		return a
	}
	if istiod, ok := findIstiod(c); ok {
		a.Istiod = c.IstioNamespace + "/" + istiod.Name
		a.IstiodAmbient = envTrue(istiod, EnvEnableAmbient)
		a.MultiNetworkSet = envTrue(istiod, EnvAmbientMultiNetwork)
		a.MultiNetwork = a.IstiodAmbient && a.MultiNetworkSet
	}
	for _, d := range c.DaemonSets {
		a.Ztunnel = append(a.Ztunnel, d.Namespace+"/"+d.Name)
	}
	for _, n := range c.Namespaces {
		switch {
		case n.Labels[DataPlaneModeLabel] == "ambient":
			a.AmbientNamespaces = append(a.AmbientNamespaces, n.Name)
		case n.Labels["istio-injection"] == "enabled" || (n.Labels["istio.io/rev"] != "" && n.Labels["istio-injection"] != "disabled"):
			// The labels the injection webhook's namespaceSelectors match
			// (manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml).
			a.SidecarNamespaces = append(a.SidecarNamespaces, n.Name)
		}
	}
	sort.Strings(a.AmbientNamespaces)
	sort.Strings(a.SidecarNamespaces)
	ambient := a.IstiodAmbient || len(a.Ztunnel) > 0 || len(a.AmbientNamespaces) > 0
	switch {
	case ambient && len(a.SidecarNamespaces) > 0:
		a.Mode = DataPlaneMixed
	case ambient:
		a.Mode = DataPlaneAmbient
	case a.Istiod != "" || len(a.SidecarNamespaces) > 0 || Identify(c).Role == RoleRemote:
		a.Mode = DataPlaneSidecar
	default:
		a.Mode = DataPlaneNone
	}
	return a
}

// IsAmbient reports whether the cluster runs ambient at all (ambient or mixed).
func (a Ambient) IsAmbient() bool { return a.Mode == DataPlaneAmbient || a.Mode == DataPlaneMixed }

// envTrue reads a boolean istiod setting as istiod's env package does
// (strconv.ParseBool; pkg/env).
func envTrue(w model.Workload, name string) bool {
	v, ok := w.Env(name)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

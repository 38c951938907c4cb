package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// SidecarViews is the document `kubectl meshfed endpoints` writes: what
// istiod sends a sidecar of each cluster for one service, endpoint by
// endpoint with where it came from.
type SidecarViews struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Service is namespace/name.
	Service string        `json:"service"`
	Views   []SidecarView `json:"views"`
}

// SidecarView is one view with its endpoints' origins.
type SidecarView struct {
	model.SidecarView
	Endpoints []OriginEndpoint `json:"endpoints"`
}

// OriginEndpoint is an endpoint and where it came from.
type OriginEndpoint struct {
	model.XDSEndpoint
	From mesh.Origin `json:"from"`
}

// SidecarViewsText draws the views: one block per cluster and port, one
// line per endpoint.
func SidecarViewsText(w io.Writer, doc SidecarViews) error {
	b := &strings.Builder{}
	for i, v := range doc.Views {
		if i > 0 {
			b.WriteString("\n")
		}
		who := "a sidecar with no pod behind it (istiod knows no labels or locality for it)"
		if v.Proxy != "" {
			who = "pod " + v.Proxy
			if v.ProxyLocality != "" {
				who += " (locality " + v.ProxyLocality + ")"
			}
		}
		fmt.Fprintf(b, "Sidecar of %s (cluster %s, network %s) in namespace %s, as %s\n",
			v.Context, orNone(v.ClusterID), orNone(v.Network), v.Namespace, who)
		fmt.Fprintf(b, "  %s:%d  %s\n", v.Service, v.Port, v.Cluster)
		if v.Istiod != "" {
			fmt.Fprintf(b, "  asked: %s\n", v.Istiod)
		}
		if !v.Read() {
			fmt.Fprintf(b, "  ? unknown: %s\n", v.Why())
			continue
		}
		if len(v.Endpoints) == 0 {
			b.WriteString("  no endpoints: istiod sends this sidecar nothing to call\n")
			continue
		}
		tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ADDRESS\tLOCALITY\tPRIORITY\tWEIGHT\tHEALTH\tFROM")
		for _, e := range v.Endpoints {
			fmt.Fprintf(tw, "  %s:%d\t%s\t%d\t%d\t%s\t%s\n", e.Address, e.Port, orNone(e.Locality), e.Priority, e.Weight, e.Health, e.From)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" || s == "//" {
		return "<none>"
	}
	return s
}

// Package locality fixes locality load balancing: failover that cannot act
// because its destination has no outlier detection (MF5002).
package locality

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fix"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// OutlierDetection gives each DestinationRule whose locality failover cannot
// act (MF5002) a top-level spec.trafficPolicy.outlierDetection, and owns
// nothing else of it.
type OutlierDetection struct{}

// Answers is MF5002.
func (OutlierDetection) Answers() []checks.ID { return []checks.ID{checks.MF5002} }

// The values, and why each; Reason spells them out.
const (
	consecutive5xxErrors = 5
	interval             = "10s"
	baseEjectionTime     = "30s"
	maxEjectionPercent   = 100
)

// reason explains the values in plain words.
const reason = `istiod programs locality failover only for a destination with outlierDetection ` +
	`(pilot/pkg/networking/core/loadbalancer: enableFailover := … OutlierDetection != nil): Envoy sends ` +
	`traffic to the next locality only when outlier detection has ejected the local endpoints. This adds ` +
	`one at the top of the traffic policy, which subsets inherit unless they set their own:
- consecutive5xxErrors: 5 — an endpoint is ejected after 5 errors in a row (5xx, or connection failures for TCP): quick to react, while one failed request ejects nothing (Envoy's own default).
- interval: 10s — how often Envoy sweeps for endpoints to eject (Envoy's default).
- baseEjectionTime: 30s — an ejected endpoint stays out 30s, longer each time it is ejected again (Envoy's default).
- maxEjectionPercent: 100 — every endpoint of a failing locality may be ejected; with Envoy's default of 10% most of a failing locality would stay in rotation and traffic would not fail over.
Tune them to the service: lower consecutive5xxErrors for faster failover, higher for a service that returns 5xx on purpose.`

// Plan adds outlier detection to each DestinationRule with the finding.
func (OutlierDetection) Plan(in fix.Input) (fix.Plan, error) {
	var p fix.Plan
	done := map[string]bool{}
	for _, f := range in.FindingsOf(checks.MF5002) {
		ctx := f.Subject(checks.RoleCluster)
		if f.Object == nil || f.Object.Kind != "DestinationRule" || ctx == "" {
			continue // the check names one DestinationRule in one cluster
		}
		ns, name := f.Object.Namespace, f.Object.Name
		key := ctx + "/" + ns + "/" + name
		if done[key] {
			continue // the top-level policy and a subset: one change for both
		}
		done[key] = true
		dr := findDR(in.Fleet.Cluster(ctx), ns, name)
		if dr == nil {
			continue
		}
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1",
			"kind":       "DestinationRule",
			"metadata":   map[string]any{"name": name, "namespace": ns},
			"spec": map[string]any{"trafficPolicy": map[string]any{"outlierDetection": map[string]any{
				"consecutive5xxErrors": int64(consecutive5xxErrors),
				"interval":             interval,
				"baseEjectionTime":     baseEjectionTime,
				"maxEjectionPercent":   int64(maxEjectionPercent),
			}}},
		}}
		p.Changes = append(p.Changes, fix.Change{Context: ctx, Object: obj, Answers: []checks.ID{checks.MF5002},
			Phase: fix.PhaseConfigure, Reason: fmt.Sprintf("DestinationRule %s/%s (host %s) fails over without outlier detection. %s", ns, name, dr.Host, reason)})
		if len(dr.PortLevelPorts) > 0 {
			p.Notes = append(p.Notes, fix.Note{Context: ctx, Answers: []checks.ID{checks.MF5002}, Text: fmt.Sprintf(
				"DestinationRule %s/%s has portLevelSettings for port %s: a port-level policy replaces the top-level one instead of inheriting it (pilot/pkg/networking/util GetPortLevelTrafficPolicy), so traffic to those ports gets neither the top-level outlierDetection nor its locality settings. fix leaves portLevelSettings to you (applying one entry would take over the whole list): add the same outlierDetection to each entry whose loadBalancer sets failover.",
				ns, name, ports(dr.PortLevelPorts))})
		}
	}
	return p, nil
}

func findDR(c *model.Cluster, ns, name string) *model.DestinationRule {
	if c == nil {
		return nil
	}
	for i := range c.DestinationRules {
		if dr := &c.DestinationRules[i]; dr.Namespace == ns && dr.Name == name {
			return dr
		}
	}
	return nil
}

func ports(ps []uint32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

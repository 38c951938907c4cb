package all

import (
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// kindFields names the model.Cluster field that holds each kind's objects.
var kindFields = map[model.Kind]string{
	model.KindNamespaces:         "Namespaces",
	model.KindNodes:              "Nodes",
	model.KindServices:           "Services",
	model.KindEndpointSlices:     "EndpointSlices",
	model.KindDeployments:        "Deployments",
	model.KindPods:               "Pods",
	model.KindConfigMaps:         "ConfigMaps",
	model.KindSecrets:            "Secrets",
	model.KindWebhooks:           "Webhooks",
	model.KindGateways:           "Gateways",
	model.KindDestinationRules:   "DestinationRules",
	model.KindWorkloadEntries:    "WorkloadEntries",
	model.KindIstioCSR:           "IstioCSR",
	model.KindAWSPCAIssuers:      "AWSPCAIssuers",
	model.KindIstioAPIs:          "IstioAPIs",
	model.KindGatewayAPIGateways: "GatewayAPIGateways",
	model.KindGatewayClasses:     "GatewayClasses",
	model.KindDaemonSets:         "DaemonSets",
}

// without returns a copy of f whose clusters hold nothing of kind k (all
// kinds when k is empty), and nothing derived: a copy starts with no memo.
func without(f *model.Fleet, k model.Kind) *model.Fleet {
	out := *f
	out.Clusters = make([]*model.Cluster, len(f.Clusters))
	for i, c := range f.Clusters {
		src, dst := reflect.ValueOf(c).Elem(), reflect.New(reflect.TypeFor[model.Cluster]())
		for j := range src.NumField() {
			if src.Type().Field(j).IsExported() {
				dst.Elem().Field(j).Set(src.Field(j))
			}
		}
		if k != "" {
			dst.Elem().FieldByName(kindFields[k]).SetZero()
		}
		out.Clusters[i] = dst.Interface().(*model.Cluster)
	}
	return &out
}

// digits are blanked in compared messages: a certificate's "expires in 23h59m"
// may tick between two runs, and a count that matters changes the words too.
var digits = regexp.MustCompile(`[0-9]+`)

// outcome is what a check's result on a fleet is compared on.
func outcome(res checks.Result) string {
	var b strings.Builder
	for _, c := range res.Checks {
		fmt.Fprintf(&b, "%s %s %v|", c.ID, c.Status, c.Unknown)
	}
	for _, f := range res.Findings {
		fmt.Fprintf(&b, "%s %s %v %s %v %s %s|", f.Check, f.Severity, f.Contexts, f.Object, f.Subjects, f.ReportedUnder, digits.ReplaceAllString(f.Message, "#"))
	}
	return b.String()
}

// TestNeedsHoldTheKindsChecksRead holds every catalog entry's needs to the
// kinds its check reads: on every fixture fleet of every check, each check
// is run again with one kind it does not declare emptied in every cluster,
// and must give the same result. A check whose result changes reads that
// kind, and so must declare it: otherwise a cluster where it could not be
// read would be judged as if it had none. (A read that no fixture makes
// matter goes unseen; the fixtures are what hold it. A check that reads a
// cluster's identity is held to mesh.IdentityKinds whatever the fixtures.)
// With -short, each check runs on its own fixtures only.
func TestNeedsHoldTheKindsChecksRead(t *testing.T) {
	for _, k := range model.AllKinds {
		if f, ok := reflect.TypeFor[model.Cluster]().FieldByName(kindFields[k]); !ok || f.Type.Kind() != reflect.Slice {
			t.Fatalf("kind %s has no slice field in model.Cluster (kindFields)", k)
		}
	}
	reg := Registry()
	dirs, _ := filepath.Glob(filepath.Join("testdata", "MF*", "*"))
	if len(dirs) < 100 {
		t.Fatalf("%d fixture fleets: the fixtures were not found", len(dirs))
	}
	entries := reg.Catalog.Entries()
	reads := map[checks.ID]map[model.Kind]string{} // check → undeclared kind → a fixture where it matters
	for _, dir := range dirs {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		owner := filepath.Base(filepath.Dir(dir))
		for _, m := range entries {
			if testing.Short() && string(m.ID) != owner {
				continue
			}
			only := checks.Selection{Only: []string{string(m.ID)}}
			fresh := without(f, "")
			full := outcome(checks.Run(fresh, reg, only))
			// A check that reads a cluster's identity reads every kind
			// mesh.Identify does, whether or not a fixture makes each matter.
			if slices.ContainsFunc(fresh.Clusters, func(c *model.Cluster) bool { return c.Memoized(mesh.IdentityMemo) }) {
				for _, k := range mesh.IdentityKinds {
					if !slices.Contains(m.Needs, k) && reads[m.ID][k] == "" {
						if reads[m.ID] == nil {
							reads[m.ID] = map[model.Kind]string{}
						}
						reads[m.ID][k] = dir + " (through mesh.Identify)"
					}
				}
			}
			for _, k := range model.AllKinds {
				if slices.Contains(m.Needs, k) || reads[m.ID][k] != "" {
					continue
				}
				if outcome(checks.Run(without(f, k), reg, only)) != full {
					if reads[m.ID] == nil {
						reads[m.ID] = map[model.Kind]string{}
					}
					reads[m.ID][k] = dir
				}
			}
		}
	}
	ids := make([]checks.ID, 0, len(reads))
	for id := range reads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m, _ := reg.Catalog.Lookup(id)
		var ks []string
		for k, dir := range reads[id] {
			ks = append(ks, fmt.Sprintf("%s, seen on %s", k, dir))
		}
		sort.Strings(ks)
		t.Errorf("%s reads kinds its needs %v do not declare: %s", id, m.Needs, strings.Join(ks, "; "))
	}
}

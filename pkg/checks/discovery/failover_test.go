package discovery

import (
	"slices"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// TestExpectedPriorities holds the priorities to istiod's
// applyLocalityFailover: subzone, zone, region, the failover region, the
// rest, renumbered without gaps.
func TestExpectedPriorities(t *testing.T) {
	eps := func(ls ...string) []model.XDSEndpoint {
		var out []model.XDSEndpoint
		for _, l := range ls {
			out = append(out, model.XDSEndpoint{Locality: l})
		}
		return out
	}
	proxy := splitLocality("us-east-1/us-east-1a/rack1")
	for _, tc := range []struct {
		eps      []model.XDSEndpoint
		failover []model.LocalityFailover
		want     []uint32
	}{
		{eps("us-east-1/us-east-1a/rack1", "us-east-1/us-east-1a/rack2", "us-east-1/us-east-1b/", "eu-west-1/eu-west-1a/"), nil, []uint32{0, 1, 2, 3}},
		{eps("us-east-1/us-east-1b/", "eu-west-1/eu-west-1a/"), nil, []uint32{0, 1}}, // no gaps
		{eps("us-east-1/us-east-1a/rack1", "eu-west-1/a/", "ap-south-1/a/"), []model.LocalityFailover{{From: "us-east-1", To: "ap-south-1"}}, []uint32{0, 2, 1}},
		{eps("eu-west-1/a/", "ap-south-1/a/"), []model.LocalityFailover{{From: "eu-west-1", To: "ap-south-1"}}, []uint32{0, 0}}, // another region's entry
		{eps("", "us-east-1/us-east-1a/rack1"), nil, []uint32{1, 0}},
	} {
		if got := expectedPriorities(proxy, tc.eps, tc.failover); !slices.Equal(got, tc.want) {
			t.Errorf("%v with failover %v: priorities %v, want %v", tc.eps, tc.failover, got, tc.want)
		}
	}
}

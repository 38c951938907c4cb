package network

import (
	"strings"
	"testing"
)

// FuzzDetect: context names, cluster entries, server URLs (kubeconfig) and
// load balancer host names (a Service's status) decide whether AWS is asked
// and in which region. None of it panics, and a region found is a DNS
// label of the input, never invented.
func FuzzDetect(f *testing.F) {
	f.Add("arn:aws:eks:eu-west-1:111122223333:cluster/east", "east", "https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
		"a1b2-0123456789abcdef.elb.eu-west-1.amazonaws.com")
	f.Add("kind-east", "arn:aws-cn:eks:cn-north-1:1:cluster/x", "https://x.y.cn-north-1.eks.amazonaws.com.cn", "n-1.eu-central-1.elb.amazonaws.com.")
	f.Add("", "", "::not a url", "")
	f.Fuzz(func(t *testing.T, context, entry, server, lbHost string) {
		if c, ok := Identify(context, entry, server); ok && c.Region == "" {
			t.Fatalf("an EKS cluster without a region from %q %q %q", context, entry, server)
		}
		if c, ok := ParseARN(context); ok && (c.Name == "" || !strings.Contains(context, c.Region)) {
			t.Fatalf("ParseARN(%q) = %+v", context, c)
		}
		if r, ok := EndpointRegion(server); ok && (r == "" || !strings.Contains(strings.ToLower(server), r)) {
			t.Fatalf("EndpointRegion(%q) = %q", server, r)
		}
		if r, ok := LoadBalancerRegion(lbHost); ok && (r == "" || !strings.Contains(strings.ToLower(lbHost), r)) {
			t.Fatalf("LoadBalancerRegion(%q) = %q", lbHost, r)
		}
	})
}

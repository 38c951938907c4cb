package network

import "testing"

func TestIdentify(t *testing.T) {
	for _, tc := range []struct {
		context, entry, server string
		want                   EKSCluster
		eks                    bool
	}{
		{"arn:aws:eks:eu-west-1:111122223333:cluster/prod", "", "https://10.0.0.1", EKSCluster{Region: "eu-west-1", Name: "prod", ARN: "arn:aws:eks:eu-west-1:111122223333:cluster/prod"}, true},
		{"prod", "arn:aws-cn:eks:cn-north-1:111122223333:cluster/p", "", EKSCluster{Region: "cn-north-1", Name: "p", ARN: "arn:aws-cn:eks:cn-north-1:111122223333:cluster/p"}, true},
		{"prod", "prod", "https://ABCDEF0123.gr7.us-east-2.eks.amazonaws.com", EKSCluster{Region: "us-east-2"}, true},
		{"prod", "prod", "https://abcdef.yl4.cn-north-1.eks.amazonaws.com.cn:443", EKSCluster{Region: "cn-north-1"}, true},
		{"arn:aws:iam::111122223333:role/x", "", "https://10.0.0.1:6443", EKSCluster{}, false},
		{"arn:aws:eks:us-east-1:111122223333:nodegroup/a/b", "kind-kind", "https://127.0.0.1:6443", EKSCluster{}, false},
		{"east", "east", "https://eks.amazonaws.com.example.org", EKSCluster{}, false},
	} {
		got, ok := Identify(tc.context, tc.entry, tc.server)
		if ok != tc.eks || got != tc.want {
			t.Errorf("Identify(%q, %q, %q) = %+v, %t; want %+v, %t", tc.context, tc.entry, tc.server, got, ok, tc.want, tc.eks)
		}
	}
}

func TestLoadBalancerRegion(t *testing.T) {
	for host, want := range map[string]string{
		"k8s-istiosys-istioeas-0123456789-0123456789abcdef.elb.us-east-1.amazonaws.com": "us-east-1",
		"internal-my-alb-1234567890.eu-central-1.elb.amazonaws.com":                     "eu-central-1",
		"a1b2c3.elb.cn-north-1.amazonaws.com.cn.":                                       "cn-north-1",
		"gateway.example.com": "",
		"10.0.0.1":            "",
	} {
		if got, _ := LoadBalancerRegion(host); got != want {
			t.Errorf("LoadBalancerRegion(%q) = %q, want %q", host, got, want)
		}
	}
}

package e2e

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/kubectl-meshfed/internal/awstest"
	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// awsWorld is a healthy AWS network under a two-cluster lab: each lab
// cluster an EKS cluster whose endpoint is its API server, in its own VPC,
// the VPCs peered, each east-west gateway behind an internal NLB with a
// healthy target on 15443 and a security group admitting the peer's VPC.
func awsWorld(t *testing.T, l *lab.Lab) awstest.NetworkState {
	t.Helper()
	kc, err := clientcmd.LoadFromFile(l.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cidr := map[string]string{"east": "10.101.0.0/16", "west": "10.102.0.0/16"}
	peer := map[string]string{"east": "west", "west": "east"}
	s := awstest.NetworkState{Peerings: []awstest.Peering{{ID: "pcx-east-west", Requester: "vpc-east", Accepter: "vpc-west", Status: "active"}}}
	for _, c := range []string{"east", "west"} {
		p := peer[c]
		s.Clusters = append(s.Clusters, awstest.EKSCluster{
			Region: "us-east-1", Name: c, Endpoint: kc.Clusters[kc.Contexts[c].Cluster].Server, VPC: "vpc-" + c,
			Subnets: []string{"subnet-" + c}, ClusterSecurityGroup: "sg-" + c + "-cluster",
			PublicAccess: true, PrivateAccess: true, PublicAccessCIDRs: []string{"0.0.0.0/0"},
		})
		s.VPCs = append(s.VPCs, awstest.VPC{Region: "us-east-1", ID: "vpc-" + c, CIDRs: []string{cidr[c]},
			RouteTables: []awstest.RouteTable{{ID: "rtb-" + c, Main: true, Routes: []awstest.VPCRoute{
				{Destination: cidr[c], Target: "local"}, {Destination: cidr[p], Target: "pcx-east-west"}, {Destination: "0.0.0.0/0", Target: "nat-" + c},
			}}},
			NATs: []awstest.NAT{{ID: "nat-" + c, PublicIP: map[string]string{"east": "198.51.100.7", "west": "198.51.100.9"}[c]}}})
		s.SecurityGroups = append(s.SecurityGroups,
			awstest.SecurityGroup{Region: "us-east-1", ID: "sg-" + c + "-cluster", VPC: "vpc-" + c, Ingress: []awstest.Rule{{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: []string{cidr[p]}}}},
			awstest.SecurityGroup{Region: "us-east-1", ID: "sg-" + c + "-nlb", VPC: "vpc-" + c, Ingress: []awstest.Rule{{Protocol: "tcp", FromPort: 15443, ToPort: 15443, CIDRs: []string{cidr[p]}}}})
		s.LoadBalancers = append(s.LoadBalancers, awstest.LoadBalancer{
			Region: "us-east-1", Name: c + "-gw", DNSName: nlbName(c), Scheme: "internal", VPC: "vpc-" + c, SecurityGroups: []string{"sg-" + c + "-nlb"},
			Listeners: []awstest.Listener{{Port: 15443, Protocol: "TCP", TargetGroup: c + "-15443"}},
			TargetGroups: []awstest.TargetGroup{{Name: c + "-15443", Port: 15443, Protocol: "TCP", TargetType: "ip", PreserveClientIP: true,
				Targets: []awstest.Target{{ID: strings.Replace(cidr[c], "0.0/16", "1.10", 1), Port: 15443, State: "healthy"}}}},
		})
	}
	return s
}

func nlbName(context string) string {
	return context + "-gw-0123456789abcdef.elb.us-east-1.amazonaws.com"
}

// onlyAWS keeps the findings of the AWS network checks (MF6010–MF6019).
func onlyAWS(fs []finding) []finding {
	var out []finding
	for _, f := range fs {
		if strings.HasPrefix(f.Check, "MF601") {
			out = append(out, f)
		}
	}
	return out
}

// TestAWSNetworkUnderALab: the lab's clusters as EKS clusters of a local
// AWS endpoint (the real SDK clients, SigV4 checked), their gateways'
// hostnames the NLBs' DNS names. doctor --aws finds nothing on the healthy
// network, the faults made in AWS one finding each, an action denied an
// unknown naming it, and --aws without credentials every AWS check unknown.
func TestAWSNetworkUnderALab(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	ctx := context.Background()
	for _, c := range l.Contexts() {
		// What the AWS Load Balancer Controller writes for an NLB.
		svcs := l.Client(c).CoreV1().Services("istio-system")
		svc, err := svcs.Get(ctx, "istio-eastwestgateway", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: nlbName(c)}}
		if _, err := svcs.UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	srv := awstest.New()
	world := awstest.NewNetwork(awsWorld(t, l))
	world.Register(srv)
	srv.Start()
	defer srv.Close()

	doctor := func(env []string) report {
		t.Helper()
		out, stderr, _ := labtest.RunEnv(t, l, env, "doctor", "-o", "json", "--contexts", "east,west", "--aws", "--no-probes", "--checks", "aws")
		if strings.Contains(out+stderr, awstest.TestSecretAccessKey) {
			t.Error("the AWS secret key appears in doctor's output")
		}
		r := parseReport(t, out)
		if r.Summary.Checks == 0 {
			t.Errorf("no AWS check ran\nstderr: %s", stderr)
		}
		return r
	}
	expect := func(name string, env []string, want []string) report {
		t.Helper()
		r := doctor(env)
		if got := keys(onlyAWS(r.Findings)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: findings %v, want %v", name, got, want)
			for _, f := range onlyAWS(r.Findings) {
				t.Logf("  %s %s %v: %s", f.Check, f.Severity, f.Contexts, f.Message)
			}
		}
		return r
	}

	expect("healthy", srv.Env(), nil)
	for _, action := range []string{"eks:DescribeCluster", "elasticloadbalancing:DescribeTargetHealth", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups"} {
		svc, op, _ := strings.Cut(action, ":")
		if srv.Calls(svc, op) == 0 {
			t.Errorf("doctor never called %s: the AWS network was not read", action)
		}
	}

	world.Update(func(s *awstest.NetworkState) {
		// West's API endpoint private only, and the peering's routes gone:
		// neither istiod reaches across, nor either network the other's
		// internal NLB; and east's gateway target fails its health check.
		for i := range s.Clusters {
			if s.Clusters[i].Name == "west" {
				s.Clusters[i].PublicAccess = false
			}
		}
		for i := range s.VPCs {
			rt := &s.VPCs[i].RouteTables[0]
			rt.Routes = []awstest.VPCRoute{rt.Routes[0], rt.Routes[2]}
		}
		s.LoadBalancers[0].TargetGroups[0].Targets[0].State, s.LoadBalancers[0].TargetGroups[0].Targets[0].Reason = "unhealthy", "Target.FailedHealthChecks"
	})
	expect("broken", srv.Env(), []string{"MF6010@east,west", "MF6011@east,west", "MF6011@east,west", "MF6012@east"})

	world.Update(func(s *awstest.NetworkState) { *s = awsWorld(t, l) })
	srv.Deny(awstest.ServiceEC2, "DescribeSecurityGroups")
	r := expect("denied", srv.Env(), []string{"MF6013@east,west", "MF6013@east,west"})
	for _, f := range onlyAWS(r.Findings) {
		if f.Severity != "unknown" || !strings.Contains(f.Message, "ec2:DescribeSecurityGroups") {
			t.Errorf("denied: %s %s: %s, want unknown naming ec2:DescribeSecurityGroups", f.Check, f.Severity, f.Message)
		}
	}
	srv.Allow(awstest.ServiceEC2, "DescribeSecurityGroups")

	noCredentials := append(srv.Env(), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_PROFILE=", "AWS_WEB_IDENTITY_TOKEN_FILE=",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=")
	r = doctor(noCredentials)
	if aws := onlyAWS(r.Findings); len(aws) != 6 {
		t.Errorf("without credentials: %d AWS findings, want one unknown per network check (6)", len(aws))
	} else {
		for _, f := range aws {
			if f.Severity != "unknown" || !strings.Contains(f.Message, "credentials") {
				t.Errorf("without credentials: %s %s: %s", f.Check, f.Severity, f.Message)
			}
		}
	}
}

func init() {
	// The user's own AWS setup must not reach the plugin these tests run,
	// and no run of it may ask instance metadata (an address off this
	// machine), whatever environment a test gives it.
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE"} {
		os.Unsetenv(k)
	}
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

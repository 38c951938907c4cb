package network_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"sigs.k8s.io/yaml"

	"github.com/meshfed/kubectl-meshfed/internal/awstest"
	"github.com/meshfed/kubectl-meshfed/pkg/aws/network"
	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/checks/all"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// fixtures are the AWS checks' own fixtures: each holds clusters and what
// AWS said of them (_awsnetwork.yaml).
const fixtures = "../../checks/all/testdata"

// worldOf turns what a fixture says AWS said into the fake AWS's state,
// so that the real SDK clients read it back through the wire protocols.
func worldOf(n *model.AWSNetwork) awstest.NetworkState {
	var s awstest.NetworkState
	vpcRegion := map[string]string{}
	for _, v := range n.VPCs {
		vpcRegion[v.ID] = v.Region
		fv := awstest.VPC{Region: v.Region, ID: v.ID, CIDRs: v.CIDRs}
		for _, t := range v.RouteTables {
			ft := awstest.RouteTable{ID: t.ID, Main: t.Main, Subnets: t.Subnets}
			for _, r := range t.Routes {
				ft.Routes = append(ft.Routes, awstest.VPCRoute{Destination: r.Destination, Target: r.Target, Blackhole: r.State == "blackhole"})
			}
			fv.RouteTables = append(fv.RouteTables, ft)
		}
		for i, ip := range v.NATPublicIPs {
			fv.NATs = append(fv.NATs, awstest.NAT{ID: "nat-" + v.ID + "-" + string(rune('a'+i)), PublicIP: ip})
		}
		s.VPCs = append(s.VPCs, fv)
	}
	for _, g := range n.SecurityGroups {
		fg := awstest.SecurityGroup{Region: g.Region, ID: g.ID, Name: g.Name, VPC: g.VPC}
		for _, r := range g.Ingress {
			fg.Ingress = append(fg.Ingress, awstest.Rule{Protocol: r.Protocol, FromPort: r.FromPort, ToPort: r.ToPort, CIDRs: r.CIDRs, Groups: r.Groups, PrefixLists: r.PrefixLists})
		}
		s.SecurityGroups = append(s.SecurityGroups, fg)
	}
	for _, p := range n.Peerings {
		s.Peerings = append(s.Peerings, awstest.Peering{ID: p.ID, Requester: p.Requester, Accepter: p.Accepter, Status: p.Status})
	}
	for _, a := range n.TransitGatewayAttachments {
		s.Attachments = append(s.Attachments, awstest.TGWAttachment{Region: vpcRegion[a.VPC], ID: a.ID, TransitGateway: a.TransitGateway, VPC: a.VPC, State: a.State})
	}
	for _, c := range n.Clusters {
		fc := awstest.EKSCluster{Region: c.Region, Name: c.Name, Endpoint: c.Endpoint, VPC: c.VPC, Subnets: c.Subnets,
			PublicAccess: c.PublicAccess, PrivateAccess: c.PrivateAccess, PublicAccessCIDRs: c.PublicAccessCIDRs}
		if len(c.SecurityGroups) > 0 {
			fc.ClusterSecurityGroup, fc.SecurityGroups = c.SecurityGroups[0], c.SecurityGroups[1:]
		}
		s.Clusters = append(s.Clusters, fc)
		for _, g := range c.Gateways {
			lb := awstest.LoadBalancer{Region: c.Region, Name: g.Name, DNSName: g.Hostname, Type: g.Type, Scheme: g.Scheme, VPC: g.VPC, SecurityGroups: g.SecurityGroups}
			tgName := map[string]string{}
			for _, tg := range g.TargetGroups {
				tgName[tg.ARN] = tg.Name
				ft := awstest.TargetGroup{Name: tg.Name, Port: tg.Port, Protocol: tg.Protocol, TargetType: tg.TargetType, PreserveClientIP: tg.PreserveClientIP != nil && *tg.PreserveClientIP}
				for _, t := range tg.Targets {
					ft.Targets = append(ft.Targets, awstest.Target{ID: t.ID, Port: t.Port, State: t.State, Reason: t.Reason})
				}
				lb.TargetGroups = append(lb.TargetGroups, ft)
			}
			for _, l := range g.Listeners {
				lb.Listeners = append(lb.Listeners, awstest.Listener{Port: l.Port, Protocol: l.Protocol, TargetGroup: tgName[l.TargetGroups[0]]})
			}
			s.LoadBalancers = append(s.LoadBalancers, lb)
		}
	}
	return s
}

// recorded reports whether a fixture's AWS data holds only what a fake
// world can serve: no part recorded as failed (those are the denied cases,
// made with Deny below), and AWS asked at all (a skipped read has nothing
// to serve).
func recorded(n *model.AWSNetwork) bool {
	b, _ := yaml.Marshal(n)
	return !strings.Contains(string(b), "rror:") && len(n.Errors) == 0 && n.Skipped == ""
}

func startAWS(t *testing.T, state awstest.NetworkState) (*awstest.Server, *awstest.Network) {
	t.Helper()
	srv := awstest.New()
	world := awstest.NewNetwork(state)
	world.Register(srv)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, world
}

func gather(t *testing.T, cfg aws.Config, f *model.Fleet) *model.AWSNetwork {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return network.Gather(ctx, network.SDKClients(cfg), network.Targets(f, nil), network.Options{DefaultRegion: "us-east-1"})
}

type finding struct {
	Check    checks.ID
	Severity string
	Contexts []string
	Object   string
}

func run(f *model.Fleet, ids ...string) []finding {
	res := checks.Run(f, all.Registry(), checks.Selection{Only: ids})
	var out []finding
	for _, fd := range res.Findings {
		out = append(out, finding{fd.Check, fd.Severity.String(), fd.Contexts, fd.Object.String()})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Check+checks.ID(out[i].Object) < out[j].Check+checks.ID(out[j].Object)
	})
	return out
}

// TestEveryRuleThroughTheSDK serves each AWS check's fixture from the fake
// AWS, reads it back with the real SDK clients (EKS REST JSON, ELBv2 and
// EC2 query, SigV4 checked by the server), and expects the checks to find
// on what was read exactly what they find on the fixture: every rule,
// passing and failing, holds over the wire.
func TestEveryRuleThroughTheSDK(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(fixtures, "MF601*", "*"))
	if len(dirs) == 0 {
		t.Fatal("no AWS network fixtures")
	}
	var served, failing int
	for _, dir := range dirs {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		if f.AWSNetwork == nil || !recorded(f.AWSNetwork) {
			continue
		}
		id := filepath.Base(filepath.Dir(dir))
		served++
		t.Run(id+"/"+filepath.Base(dir), func(t *testing.T) {
			want := run(f, id)
			srv, _ := startAWS(t, worldOf(f.AWSNetwork))
			f.AWSNetwork = gather(t, srv.Config(), f)
			if got := run(f, id); !reflect.DeepEqual(got, want) {
				b, _ := yaml.Marshal(f.AWSNetwork)
				t.Errorf("over the wire:\n got  %+v\n want %+v\nread:\n%s", got, want, b)
			}
			if strings.HasPrefix(filepath.Base(dir), "fail-") && len(want) == 0 {
				t.Error("a failing fixture found nothing")
			}
		})
		if strings.HasPrefix(filepath.Base(dir), "fail-") {
			failing++
		}
	}
	if failing == 0 || served == failing {
		t.Errorf("served %d fixtures, %d failing: want both passing and failing ones", served, failing)
	}
}

// base is the two-network fixture every AWS check passes on.
func base(t *testing.T) *model.Fleet {
	t.Helper()
	f, err := fleet.LoadDir(filepath.Join(fixtures, "MF6013", "pass-nlb-groups"), "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReadsWhatAWSSays(t *testing.T) {
	f := base(t)
	want := f.AWSNetwork
	srv, _ := startAWS(t, worldOf(want))
	got := gather(t, srv.Config(), f)

	if len(got.Clusters) != 2 {
		t.Fatalf("clusters: %+v", got.Clusters)
	}
	for _, c := range got.Clusters {
		w := want.Cluster(c.Context)
		if c.Error != "" || c.VPC != w.VPC || c.Endpoint != w.Endpoint || !slices.Equal(c.SecurityGroups, w.SecurityGroups) ||
			c.PublicAccess != w.PublicAccess || c.PrivateAccess != w.PrivateAccess || !slices.Equal(c.PublicAccessCIDRs, w.PublicAccessCIDRs) {
			t.Errorf("cluster %s read as %+v, want %+v", c.Context, c, *w)
		}
		if len(c.Gateways) != 1 {
			t.Fatalf("%s gateways: %+v", c.Context, c.Gateways)
		}
		g, wg := c.Gateways[0], w.Gateways[0]
		if g.Error != "" || g.Scheme != wg.Scheme || g.VPC != wg.VPC || g.Type != "network" || !slices.Equal(g.SecurityGroups, wg.SecurityGroups) {
			t.Errorf("%s gateway read as %+v", c.Context, g)
		}
		if len(g.Listeners) != 1 || g.Listeners[0].Port != 15443 || len(g.TargetGroups) != 1 ||
			g.Listeners[0].TargetGroups[0] != g.TargetGroups[0].ARN || len(g.TargetGroups[0].Targets) != 1 ||
			g.TargetGroups[0].Targets[0].State != "healthy" || g.TargetGroups[0].PreserveClientIP == nil || !*g.TargetGroups[0].PreserveClientIP {
			t.Errorf("%s listeners %+v, target groups %+v", c.Context, g.Listeners, g.TargetGroups)
		}
	}
	for _, w := range want.VPCs {
		v := got.VPC(w.ID)
		if v == nil || v.Error != "" || v.RoutesError != "" || v.NATError != "" || !slices.Equal(v.CIDRs, w.CIDRs) || !slices.Equal(v.NATPublicIPs, w.NATPublicIPs) ||
			len(v.RouteTables) != 1 || !reflect.DeepEqual(v.RouteTables[0].Routes, w.RouteTables[0].Routes) || !v.RouteTables[0].Main {
			t.Errorf("VPC %s read as %+v, want %+v", w.ID, v, w)
		}
	}
	for _, w := range want.SecurityGroups {
		g := got.SecurityGroup(w.ID)
		if g == nil || g.Error != "" || !reflect.DeepEqual(g.Ingress, w.Ingress) {
			t.Errorf("security group %s read as %+v, want %+v", w.ID, g, w)
		}
	}
	if !reflect.DeepEqual(got.Peerings, want.Peerings) {
		t.Errorf("peerings %+v, want %+v", got.Peerings, want.Peerings)
	}
	if len(got.Errors) > 0 {
		t.Errorf("errors: %v", got.Errors)
	}
}

// TestCallsOnlyThePolicysActions: every call made is one docs/aws-iam-policy.json
// grants, and the policy grants nothing the plugin's network read never calls.
func TestCallsOnlyTheListedActions(t *testing.T) {
	f := base(t)
	n := f.AWSNetwork
	// A transit gateway route makes the attachments and peerings both read.
	n.TransitGatewayAttachments = []model.AWSTransitGatewayAttach{{ID: "tgw-attach-1", TransitGateway: "tgw-1", VPC: "vpc-east", State: "available"}}
	srv, _ := startAWS(t, worldOf(n))
	gather(t, srv.Config(), f)
	var called []string
	for _, c := range srv.Called() {
		svc, action, _ := strings.Cut(c, ":")
		called = append(called, svc+":"+action)
	}
	sort.Strings(called)
	want := slices.Clone(network.Actions)
	sort.Strings(want)
	if !slices.Equal(called, want) {
		t.Errorf("called %v\nwant exactly the listed actions %v", called, want)
	}
}

func TestThrottledThenAnswers(t *testing.T) {
	f := base(t)
	srv, _ := startAWS(t, worldOf(f.AWSNetwork))
	srv.Throttle(awstest.ServiceEC2, "DescribeVpcs", 2)
	srv.Throttle(awstest.ServiceELBv2, "DescribeLoadBalancers", 2)
	srv.Throttle(awstest.ServiceEKS, "ListClusters", 2)
	got := gather(t, srv.Config(), f)
	for _, c := range got.Clusters {
		if c.Error != "" || c.Gateways[0].Error != "" {
			t.Errorf("%s: %q / %q", c.Context, c.Error, c.Gateways[0].Error)
		}
	}
	for _, v := range got.VPCs {
		if v.Error != "" || len(v.CIDRs) == 0 {
			t.Errorf("VPC %s: %q %v", v.ID, v.Error, v.CIDRs)
		}
	}
	// Two regions, each throttled twice then answered: three calls each
	// (DescribeVpcs is one call per region here).
	if n := srv.Calls(awstest.ServiceEC2, "DescribeVpcs"); n != 2+2 {
		// The throttle counts across regions: 2 refusals in all, then one answer per region.
		t.Errorf("DescribeVpcs called %d times, want 4 (2 throttled, 1 per region answered)", n)
	}
	if res := run(f, "aws"); len(res) != 0 {
		t.Errorf("findings after retries: %+v", res)
	}
}

func TestDeniedIsUnknownNamingTheAction(t *testing.T) {
	for _, tc := range []struct {
		service, action, iam, check string
	}{
		{awstest.ServiceEC2, "DescribeSecurityGroups", "ec2:DescribeSecurityGroups", "MF6013"},
		{awstest.ServiceEC2, "DescribeRouteTables", "ec2:DescribeRouteTables", "MF6011"},
		{awstest.ServiceELBv2, "DescribeTargetHealth", "elasticloadbalancing:DescribeTargetHealth", "MF6012"},
		{awstest.ServiceELBv2, "DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancers", "MF6012"},
		{awstest.ServiceEKS, "DescribeCluster", "eks:DescribeCluster", "MF6011"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			f := base(t)
			srv, _ := startAWS(t, worldOf(f.AWSNetwork))
			srv.Deny(tc.service, tc.action)
			f.AWSNetwork = gather(t, srv.Config(), f)
			res := checks.Run(f, all.Registry(), checks.Selection{Only: []string{tc.check}})
			var unknown int
			for _, fd := range res.Findings {
				if fd.Severity != checks.SeverityUnknown {
					t.Errorf("%s: %s finding with %s denied: %s", tc.check, fd.Severity, tc.iam, fd.Message)
					continue
				}
				unknown++
				if !strings.Contains(fd.Message, tc.iam) {
					t.Errorf("the unknown finding does not name %s: %s", tc.iam, fd.Message)
				}
			}
			if unknown == 0 {
				t.Errorf("no unknown finding of %s with %s denied", tc.check, tc.iam)
			}
		})
	}
}

func TestWrongSecretKeyIsRefused(t *testing.T) {
	f := base(t)
	srv, _ := startAWS(t, worldOf(f.AWSNetwork))
	cfg := srv.Config()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(awstest.TestAccessKeyID, "not-the-secret-key", "")
	got := gather(t, cfg, f)
	for _, c := range got.Clusters {
		if !strings.Contains(c.Error, "eks:ListClusters") || !strings.Contains(c.Error, "InvalidSignatureException") {
			t.Errorf("%s: %q, want the signature refused", c.Context, c.Error)
		}
	}
	if strings.Contains(yamlOf(got), "not-the-secret-key") {
		t.Error("the secret key appears in what was recorded")
	}
}

func yamlOf(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}

// TestHungEndpointEndsAtTheDeadline: an endpoint that accepts and never
// answers makes every part unknown "before the run's deadline"; Gather
// returns instead of hanging.
func TestHungEndpointEndsAtTheDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	f := base(t)
	cfg := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://" + l.Addr().String()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	got := network.Gather(ctx, network.SDKClients(cfg), network.Targets(f, nil), network.Options{})
	if len(got.Clusters) != 2 {
		t.Fatalf("clusters: %+v", got.Clusters)
	}
	for _, c := range got.Clusters {
		if !strings.Contains(c.Error, "did not answer before the run's deadline") {
			t.Errorf("%s: %q", c.Context, c.Error)
		}
	}
}

func TestMain(m *testing.M) {
	// Nothing of the user's own AWS setup may leak into these tests.
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}

// TestContextNamedByARN: a context named by its cluster's ARN (as `aws eks
// update-kubeconfig` names it) is described directly in the ARN's region,
// without listing the region's clusters; one whose endpoint no cluster has
// is an error naming the endpoint when it is an EKS endpoint, and left out
// when only --aws made it a candidate.
func TestContextNamedByARN(t *testing.T) {
	f := base(t)
	srv, _ := startAWS(t, worldOf(f.AWSNetwork))
	targets := network.Targets(f, map[string]string{"west": "arn:aws:eks:us-west-2:111122223333:cluster/west"})
	targets[0].Context = "arn:aws:eks:us-east-1:111122223333:cluster/east"
	targets = append(targets,
		network.Target{Context: "gone", Server: "https://GONE0123.gr7.us-east-1.eks.amazonaws.com"},
		network.Target{Context: "kind-kind", Server: "https://127.0.0.1:6443"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := network.Gather(ctx, network.SDKClients(srv.Config()), targets, network.Options{DefaultRegion: "us-east-1"})
	var contexts []string
	for _, c := range got.Clusters {
		contexts = append(contexts, c.Context)
	}
	if want := []string{targets[0].Context, "west", "gone"}; !slices.Equal(contexts, want) {
		t.Fatalf("clusters %v, want %v", contexts, want)
	}
	for _, c := range got.Clusters[:2] {
		if c.Error != "" || c.VPC == "" || len(c.Gateways) != 1 || c.Gateways[0].Error != "" {
			t.Errorf("%s: %+v", c.Context, c)
		}
	}
	if e := got.Clusters[2].Error; !strings.Contains(e, "no EKS cluster in us-east-1 has the endpoint https://GONE0123") {
		t.Errorf("gone: %q", e)
	}
	// Only "gone" and "kind-kind" needed the listing, in us-east-1.
	if n := srv.Calls(awstest.ServiceEKS, "ListClusters"); n != 1 {
		t.Errorf("ListClusters called %d times, want once (for us-east-1)", n)
	}
}

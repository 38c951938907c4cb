package network

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Gateway is an east-west gateway Service whose load balancer has a host name.
type Gateway struct {
	Service  string // namespace/name
	Network  string
	Hostname string
}

// Target is one context to look up in AWS.
type Target struct {
	Context string
	// ClusterEntry is the name of the context's cluster in the kubeconfig
	// (an EKS ARN when `aws eks update-kubeconfig` wrote it).
	ClusterEntry string
	// Server is the API server URL the context uses.
	Server   string
	Gateways []Gateway
}

// Options tune Gather.
type Options struct {
	// DefaultRegion is where a context that does not say its region (not an
	// EKS endpoint nor an ARN, looked up because of --aws) is looked for.
	DefaultRegion string
}

// Gather reads, for every target that is an EKS cluster, the cluster, its
// gateways' load balancers and the VPCs and security groups they use. All
// clusters are read at once; ctx's deadline bounds everything, and what did
// not answer by then is recorded as such. Targets that are not EKS clusters
// (a context looked up because of --aws whose endpoint no cluster of the
// region has) are left out.
func Gather(ctx context.Context, clients ClientsFor, targets []Target, opts Options) *model.AWSNetwork {
	g := &gatherer{clients: clients, opts: opts, regions: map[string]*region{}}
	found := make([]*model.AWSCluster, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { found[i] = g.cluster(ctx, t) })
	}
	wg.Wait()
	n := &model.AWSNetwork{}
	for _, c := range found {
		if c != nil {
			n.Clusters = append(n.Clusters, *c)
		}
	}
	g.readEC2(ctx, n)
	return n
}

type gatherer struct {
	clients ClientsFor
	opts    Options
	mu      sync.Mutex
	regions map[string]*region
}

// region holds one region's clients and the listings several clusters
// share, each read once.
type region struct {
	name    string
	clients Clients

	eksOnce sync.Once
	eks     []*eks.DescribeClusterOutput // every cluster of the region, for matching endpoints
	eksErr  string

	lbOnce sync.Once
	lbs    []elbtypes.LoadBalancer
	lbErr  string
}

func (g *gatherer) region(name string) *region {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.regions[name]
	if !ok {
		r = &region{name: name, clients: g.clients(name)}
		g.regions[name] = r
	}
	return r
}

// cluster finds and describes the target's EKS cluster and its gateways'
// load balancers; nil when the target is not an EKS cluster.
func (g *gatherer) cluster(ctx context.Context, t Target) *model.AWSCluster {
	id, isEKS := Identify(t.Context, t.ClusterEntry, t.Server)
	if id.Region == "" {
		id.Region = g.opts.DefaultRegion
	}
	out := &model.AWSCluster{Context: t.Context, Region: id.Region, Name: id.Name, ARN: id.ARN}
	if id.Region == "" {
		out.Error = "no region: the context is neither named by an EKS ARN nor uses an EKS endpoint, and no default region is configured (AWS_REGION, the profile's region)"
		return out
	}
	r := g.region(id.Region)
	var desc *eks.DescribeClusterOutput
	if id.Name != "" {
		d, err := r.clients.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(id.Name)})
		if err != nil {
			out.Error = Describe(ActDescribeCluster, err)
		}
		desc = d
	} else {
		all, errText := r.allClusters(ctx)
		for _, d := range all {
			if d.Cluster != nil && mesh.SameServer(aws.ToString(d.Cluster.Endpoint), t.Server) {
				desc = d
				break
			}
		}
		switch {
		case desc != nil:
		case !isEKS && errText == "":
			return nil // --aws, but this context is no EKS cluster of the region
		case errText != "":
			out.Error = errText
		default:
			out.Error = fmt.Sprintf("no EKS cluster in %s has the endpoint %s", id.Region, t.Server)
		}
	}
	if out.Error == "" {
		fillCluster(out, desc)
	}
	// The gateways' load balancers are found by their DNS names, whether or
	// not the cluster itself could be described.
	var wg sync.WaitGroup
	out.Gateways = make([]model.AWSGateway, len(t.Gateways))
	for i, gw := range t.Gateways {
		wg.Go(func() { out.Gateways[i] = g.gateway(ctx, gw, id.Region) })
	}
	wg.Wait()
	return out
}

func fillCluster(out *model.AWSCluster, d *eks.DescribeClusterOutput) {
	c := d.Cluster
	if c == nil {
		out.Error = ActDescribeCluster + " returned no cluster"
		return
	}
	out.Name, out.ARN, out.Endpoint = aws.ToString(c.Name), aws.ToString(c.Arn), aws.ToString(c.Endpoint)
	if v := c.ResourcesVpcConfig; v != nil {
		out.PublicAccess, out.PrivateAccess = v.EndpointPublicAccess, v.EndpointPrivateAccess
		out.PublicAccessCIDRs = v.PublicAccessCidrs
		out.VPC, out.Subnets = aws.ToString(v.VpcId), v.SubnetIds
		if sg := aws.ToString(v.ClusterSecurityGroupId); sg != "" {
			out.SecurityGroups = append(out.SecurityGroups, sg)
		}
		out.SecurityGroups = append(out.SecurityGroups, v.SecurityGroupIds...)
	}
}

// allClusters describes every EKS cluster of the region, once: how a
// context known only by its endpoint (or not at all, with --aws) is matched.
func (r *region) allClusters(ctx context.Context) ([]*eks.DescribeClusterOutput, string) {
	r.eksOnce.Do(func() {
		var names []string
		p := eks.NewListClustersPaginator(r.clients.EKS, &eks.ListClustersInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				r.eksErr = Describe(ActListClusters, err)
				return
			}
			names = append(names, page.Clusters...)
		}
		descs := make([]*eks.DescribeClusterOutput, len(names))
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() {
				descs[i], errs[i] = r.clients.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
			})
		}
		wg.Wait()
		for i, d := range descs {
			if errs[i] != nil {
				// One cluster that cannot be described may be the one sought.
				r.eksErr = Describe(ActDescribeCluster, errs[i])
				continue
			}
			r.eks = append(r.eks, d)
		}
	})
	return r.eks, r.eksErr
}

// loadBalancers lists the region's load balancers, once. ELBv2 cannot look
// one up by DNS name, and the name inside the DNS name is not reliably
// separable from its suffix, so the list is matched instead.
func (r *region) loadBalancers(ctx context.Context) ([]elbtypes.LoadBalancer, string) {
	r.lbOnce.Do(func() {
		p := elb.NewDescribeLoadBalancersPaginator(r.clients.ELB, &elb.DescribeLoadBalancersInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				r.lbErr = Describe(ActDescribeLoadBalancers, err)
				return
			}
			r.lbs = append(r.lbs, page.LoadBalancers...)
		}
	})
	return r.lbs, r.lbErr
}

// gateway finds the load balancer of a gateway's host name and reads its
// listeners and target groups with their health.
func (g *gatherer) gateway(ctx context.Context, gw Gateway, clusterRegion string) model.AWSGateway {
	out := model.AWSGateway{Service: gw.Service, Network: gw.Network, Hostname: gw.Hostname}
	regionName := clusterRegion
	if rn, ok := LoadBalancerRegion(gw.Hostname); ok {
		regionName = rn
	}
	r := g.region(regionName)
	lbs, errText := r.loadBalancers(ctx)
	if errText != "" {
		out.Error = errText
		return out
	}
	var lb *elbtypes.LoadBalancer
	for i := range lbs {
		if strings.EqualFold(strings.TrimSuffix(aws.ToString(lbs[i].DNSName), "."), strings.TrimSuffix(gw.Hostname, ".")) {
			lb = &lbs[i]
			break
		}
	}
	if lb == nil {
		out.Error = fmt.Sprintf("no load balancer in %s has the DNS name %s (another account or region, or a classic ELB)", regionName, gw.Hostname)
		return out
	}
	out.ARN, out.Name, out.Type = aws.ToString(lb.LoadBalancerArn), aws.ToString(lb.LoadBalancerName), string(lb.Type)
	out.Scheme, out.VPC, out.SecurityGroups = string(lb.Scheme), aws.ToString(lb.VpcId), lb.SecurityGroups

	var wg sync.WaitGroup
	wg.Go(func() { out.Listeners, out.ListenersError = listeners(ctx, r.clients.ELB, out.ARN) })
	wg.Go(func() { out.TargetGroups, out.TargetGroupsError = targetGroups(ctx, r.clients.ELB, out.ARN) })
	wg.Wait()
	return out
}

func listeners(ctx context.Context, api ELBAPI, lbARN string) ([]model.AWSListener, string) {
	var out []model.AWSListener
	p := elb.NewDescribeListenersPaginator(api, &elb.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Describe(ActDescribeListeners, err)
		}
		for _, l := range page.Listeners {
			fl := model.AWSListener{Port: aws.ToInt32(l.Port), Protocol: string(l.Protocol)}
			for _, a := range l.DefaultActions {
				if a.Type != elbtypes.ActionTypeEnumForward {
					continue
				}
				if arn := aws.ToString(a.TargetGroupArn); arn != "" {
					fl.TargetGroups = append(fl.TargetGroups, arn)
				}
				if a.ForwardConfig != nil {
					for _, tg := range a.ForwardConfig.TargetGroups {
						if arn := aws.ToString(tg.TargetGroupArn); arn != "" && !slices.Contains(fl.TargetGroups, arn) {
							fl.TargetGroups = append(fl.TargetGroups, arn)
						}
					}
				}
			}
			out = append(out, fl)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out, ""
}

func targetGroups(ctx context.Context, api ELBAPI, lbARN string) ([]model.AWSTargetGroup, string) {
	var out []model.AWSTargetGroup
	p := elb.NewDescribeTargetGroupsPaginator(api, &elb.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(lbARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Describe(ActDescribeTargetGroups, err)
		}
		for _, tg := range page.TargetGroups {
			out = append(out, model.AWSTargetGroup{
				ARN: aws.ToString(tg.TargetGroupArn), Name: aws.ToString(tg.TargetGroupName),
				Port: aws.ToInt32(tg.Port), Protocol: string(tg.Protocol), TargetType: string(tg.TargetType),
			})
		}
	}
	var wg sync.WaitGroup
	for i := range out {
		tg := &out[i]
		wg.Go(func() { tg.Targets, tg.HealthError = targetHealth(ctx, api, tg.ARN) })
		wg.Go(func() { tg.PreserveClientIP, tg.AttributesError = preserveClientIP(ctx, api, tg.ARN) })
	}
	wg.Wait()
	return out, ""
}

func targetHealth(ctx context.Context, api ELBAPI, tgARN string) ([]model.AWSTarget, string) {
	h, err := api.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
	if err != nil {
		return nil, Describe(ActDescribeTargetHealth, err)
	}
	var out []model.AWSTarget
	for _, d := range h.TargetHealthDescriptions {
		t := model.AWSTarget{}
		if d.Target != nil {
			t.ID, t.Port = aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port)
		}
		if d.TargetHealth != nil {
			t.State, t.Reason = string(d.TargetHealth.State), string(d.TargetHealth.Reason)
		}
		out = append(out, t)
	}
	return out, ""
}

// preserveClientIP reads the target group's preserve_client_ip.enabled: it
// decides whose address the targets' security groups see, the peer's or
// the load balancer's.
func preserveClientIP(ctx context.Context, api ELBAPI, tgARN string) (*bool, string) {
	a, err := api.DescribeTargetGroupAttributes(ctx, &elb.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tgARN)})
	if err != nil {
		return nil, Describe(ActDescribeTargetGroupAttrs, err)
	}
	for _, kv := range a.Attributes {
		if aws.ToString(kv.Key) == "preserve_client_ip.enabled" {
			v := strings.EqualFold(aws.ToString(kv.Value), "true")
			return &v, ""
		}
	}
	return nil, "the target group has no preserve_client_ip.enabled attribute"
}

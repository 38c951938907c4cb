package network

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// regionIDs are the VPCs and security groups met in one region.
type regionIDs struct {
	vpcs, groups []string
}

func (r *regionIDs) addVPC(id string) {
	// (An empty ID is a cluster or load balancer that could not be read.)
	if id != "" && !slices.Contains(r.vpcs, id) {
		r.vpcs = append(r.vpcs, id)
	}
}

func (r *regionIDs) addGroups(ids ...string) {
	for _, id := range ids {
		if id != "" && !slices.Contains(r.groups, id) {
			r.groups = append(r.groups, id)
		}
	}
}

// readEC2 reads, per region, the VPCs and security groups the clusters and
// their load balancers use: address ranges, route tables, NAT gateways,
// inbound rules, transit gateway attachments, and the peerings the routes
// name. Every region at once; each call's failure stays with its part.
func (g *gatherer) readEC2(ctx context.Context, n *model.AWSNetwork) {
	byRegion := map[string]*regionIDs{}
	ids := func(region string) *regionIDs {
		if byRegion[region] == nil {
			byRegion[region] = &regionIDs{}
		}
		return byRegion[region]
	}
	for _, c := range n.Clusters {
		ids(c.Region).addVPC(c.VPC)
		ids(c.Region).addGroups(c.SecurityGroups...)
		for _, gw := range c.Gateways {
			region := c.Region
			if r, ok := LoadBalancerRegion(gw.Hostname); ok {
				region = r
			}
			ids(region).addVPC(gw.VPC)
			ids(region).addGroups(gw.SecurityGroups...)
		}
	}
	regions := make([]string, 0, len(byRegion))
	for r := range byRegion {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	parts := make([]*model.AWSNetwork, len(regions))
	var wg sync.WaitGroup
	for i, name := range regions {
		wg.Go(func() { parts[i] = readRegion(ctx, g.region(name), byRegion[name]) })
	}
	wg.Wait()
	for _, p := range parts {
		n.VPCs = append(n.VPCs, p.VPCs...)
		n.SecurityGroups = append(n.SecurityGroups, p.SecurityGroups...)
		for _, pc := range p.Peerings {
			// A peering between regions is seen from both.
			if !slices.ContainsFunc(n.Peerings, func(o model.AWSPeering) bool { return o.ID == pc.ID }) {
				n.Peerings = append(n.Peerings, pc)
			}
		}
		n.TransitGatewayAttachments = append(n.TransitGatewayAttachments, p.TransitGatewayAttachments...)
		n.Errors = append(n.Errors, p.Errors...)
	}
}

func filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: values}
}

func readRegion(ctx context.Context, r *region, want *regionIDs) *model.AWSNetwork {
	out := &model.AWSNetwork{}
	api := r.clients.EC2
	vpcs := make([]model.AWSVPC, len(want.vpcs))
	for i, id := range want.vpcs {
		vpcs[i] = model.AWSVPC{ID: id, Region: r.name}
	}
	var (
		wg                               sync.WaitGroup
		cidrs, nats                      map[string][]string
		routeTables                      map[string][]model.AWSRouteTable
		vpcErr, routeErr, natErr, tgwErr string
		groups                           []model.AWSSecurityGroup
		groupErr                         string
		attachments                      []model.AWSTransitGatewayAttach
	)
	if len(want.vpcs) > 0 {
		wg.Go(func() { cidrs, vpcErr = describeVPCs(ctx, api, want.vpcs) })
		wg.Go(func() { routeTables, routeErr = describeRouteTables(ctx, api, want.vpcs) })
		wg.Go(func() { nats, natErr = describeNATs(ctx, api, want.vpcs) })
		wg.Go(func() { attachments, tgwErr = describeAttachments(ctx, api, want.vpcs) })
	}
	if len(want.groups) > 0 {
		wg.Go(func() { groups, groupErr = describeGroups(ctx, api, r.name, want.groups) })
	}
	wg.Wait()

	for i := range vpcs {
		v := &vpcs[i]
		switch c, ok := cidrs[v.ID]; {
		case vpcErr != "":
			v.Error = vpcErr
		case !ok:
			v.Error = "no such VPC in " + r.name
		default:
			v.CIDRs = c
		}
		v.RouteTables, v.RoutesError = routeTables[v.ID], routeErr
		v.NATPublicIPs, v.NATError = nats[v.ID], natErr
	}
	out.VPCs = vpcs

	for _, id := range want.groups {
		i := slices.IndexFunc(groups, func(g model.AWSSecurityGroup) bool { return g.ID == id })
		switch {
		case groupErr != "":
			out.SecurityGroups = append(out.SecurityGroups, model.AWSSecurityGroup{ID: id, Region: r.name, Error: groupErr})
		case i < 0:
			out.SecurityGroups = append(out.SecurityGroups, model.AWSSecurityGroup{ID: id, Region: r.name, Error: "no such security group in " + r.name})
		default:
			out.SecurityGroups = append(out.SecurityGroups, groups[i])
		}
	}

	out.TransitGatewayAttachments = attachments
	if tgwErr != "" {
		out.Errors = append(out.Errors, tgwErr)
	}
	// The peerings the routes use: whether each is active, and between which VPCs.
	var pcx []string
	for _, v := range vpcs {
		for _, t := range v.RouteTables {
			for _, rt := range t.Routes {
				if strings.HasPrefix(rt.Target, "pcx-") && !slices.Contains(pcx, rt.Target) {
					pcx = append(pcx, rt.Target)
				}
			}
		}
	}
	if len(pcx) > 0 {
		peerings, err := describePeerings(ctx, api, pcx)
		out.Peerings = peerings
		if err != "" {
			out.Errors = append(out.Errors, err)
		}
	}
	return out
}

func describeVPCs(ctx context.Context, api EC2API, ids []string) (map[string][]string, string) {
	out := map[string][]string{}
	p := ec2.NewDescribeVpcsPaginator(api, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{filter("vpc-id", ids...)}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Describe(ActDescribeVpcs, err)
		}
		for _, v := range page.Vpcs {
			var cidrs []string
			for _, a := range v.CidrBlockAssociationSet {
				if a.CidrBlockState != nil && a.CidrBlockState.State != ec2types.VpcCidrBlockStateCodeAssociated {
					continue
				}
				cidrs = append(cidrs, aws.ToString(a.CidrBlock))
			}
			if len(cidrs) == 0 && v.CidrBlock != nil {
				cidrs = []string{aws.ToString(v.CidrBlock)}
			}
			out[aws.ToString(v.VpcId)] = cidrs
		}
	}
	return out, ""
}

func describeRouteTables(ctx context.Context, api EC2API, vpcs []string) (map[string][]model.AWSRouteTable, string) {
	out := map[string][]model.AWSRouteTable{}
	p := ec2.NewDescribeRouteTablesPaginator(api, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("vpc-id", vpcs...)}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Describe(ActDescribeRouteTables, err)
		}
		for _, t := range page.RouteTables {
			ft := model.AWSRouteTable{ID: aws.ToString(t.RouteTableId)}
			for _, a := range t.Associations {
				if aws.ToBool(a.Main) {
					ft.Main = true
				}
				if s := aws.ToString(a.SubnetId); s != "" {
					ft.Subnets = append(ft.Subnets, s)
				}
			}
			for _, r := range t.Routes {
				if r.DestinationCidrBlock == nil {
					continue // IPv6 and prefix-list destinations are not judged
				}
				ft.Routes = append(ft.Routes, model.AWSRoute{
					Destination: aws.ToString(r.DestinationCidrBlock), Target: routeTarget(r), State: string(r.State),
				})
			}
			out[aws.ToString(t.VpcId)] = append(out[aws.ToString(t.VpcId)], ft)
		}
	}
	return out, ""
}

// routeTarget names where a route sends its traffic, by the target's ID.
func routeTarget(r ec2types.Route) string {
	for _, id := range []*string{r.VpcPeeringConnectionId, r.TransitGatewayId, r.NatGatewayId, r.GatewayId,
		r.NetworkInterfaceId, r.InstanceId, r.LocalGatewayId, r.CarrierGatewayId, r.EgressOnlyInternetGatewayId} {
		if v := aws.ToString(id); v != "" {
			return v
		}
	}
	if v := aws.ToString(r.CoreNetworkArn); v != "" {
		return v
	}
	return "unknown"
}

func describeNATs(ctx context.Context, api EC2API, vpcs []string) (map[string][]string, string) {
	out := map[string][]string{}
	p := ec2.NewDescribeNatGatewaysPaginator(api, &ec2.DescribeNatGatewaysInput{Filter: []ec2types.Filter{
		filter("vpc-id", vpcs...), filter("state", "available"),
	}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Describe(ActDescribeNatGateways, err)
		}
		for _, g := range page.NatGateways {
			if g.ConnectivityType == ec2types.ConnectivityTypePrivate {
				continue // a private NAT gateway has no public address
			}
			for _, a := range g.NatGatewayAddresses {
				if ip := aws.ToString(a.PublicIp); ip != "" {
					out[aws.ToString(g.VpcId)] = append(out[aws.ToString(g.VpcId)], ip)
				}
			}
		}
	}
	return out, ""
}

func describeGroups(ctx context.Context, api EC2API, region string, ids []string) ([]model.AWSSecurityGroup, string) {
	var out []model.AWSSecurityGroup
	p := ec2.NewDescribeSecurityGroupsPaginator(api, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{filter("group-id", ids...)}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Describe(ActDescribeSecurityGroups, err)
		}
		for _, g := range page.SecurityGroups {
			fg := model.AWSSecurityGroup{ID: aws.ToString(g.GroupId), Region: region, Name: aws.ToString(g.GroupName), VPC: aws.ToString(g.VpcId)}
			for _, perm := range g.IpPermissions {
				rule := model.AWSIngressRule{Protocol: aws.ToString(perm.IpProtocol), FromPort: aws.ToInt32(perm.FromPort), ToPort: aws.ToInt32(perm.ToPort)}
				for _, r := range perm.IpRanges {
					rule.CIDRs = append(rule.CIDRs, aws.ToString(r.CidrIp))
				}
				for _, p := range perm.UserIdGroupPairs {
					rule.Groups = append(rule.Groups, aws.ToString(p.GroupId))
				}
				for _, p := range perm.PrefixListIds {
					rule.PrefixLists = append(rule.PrefixLists, aws.ToString(p.PrefixListId))
				}
				fg.Ingress = append(fg.Ingress, rule)
			}
			out = append(out, fg)
		}
	}
	return out, ""
}

func describeAttachments(ctx context.Context, api EC2API, vpcs []string) ([]model.AWSTransitGatewayAttach, string) {
	var out []model.AWSTransitGatewayAttach
	p := ec2.NewDescribeTransitGatewayAttachmentsPaginator(api, &ec2.DescribeTransitGatewayAttachmentsInput{Filters: []ec2types.Filter{
		filter("resource-type", "vpc"), filter("resource-id", vpcs...),
	}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Describe(ActDescribeTGWAttachments, err)
		}
		for _, a := range page.TransitGatewayAttachments {
			out = append(out, model.AWSTransitGatewayAttach{
				ID: aws.ToString(a.TransitGatewayAttachmentId), TransitGateway: aws.ToString(a.TransitGatewayId),
				VPC: aws.ToString(a.ResourceId), State: string(a.State),
			})
		}
	}
	return out, ""
}

func describePeerings(ctx context.Context, api EC2API, ids []string) ([]model.AWSPeering, string) {
	var out []model.AWSPeering
	p := ec2.NewDescribeVpcPeeringConnectionsPaginator(api, &ec2.DescribeVpcPeeringConnectionsInput{Filters: []ec2types.Filter{
		filter("vpc-peering-connection-id", ids...),
	}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Describe(ActDescribePeerings, err)
		}
		for _, c := range page.VpcPeeringConnections {
			fp := model.AWSPeering{ID: aws.ToString(c.VpcPeeringConnectionId)}
			if c.RequesterVpcInfo != nil {
				fp.Requester = aws.ToString(c.RequesterVpcInfo.VpcId)
			}
			if c.AccepterVpcInfo != nil {
				fp.Accepter = aws.ToString(c.AccepterVpcInfo.VpcId)
			}
			if c.Status != nil {
				fp.Status = string(c.Status.Code)
			}
			out = append(out, fp)
		}
	}
	return out, ""
}

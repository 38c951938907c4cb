// Package network reads what AWS knows about the network under the mesh's
// clusters: each EKS cluster's API endpoint access and VPC, the load
// balancers behind the east-west gateways' host names (scheme, listeners,
// target health, security groups), and the VPCs' address ranges, routes,
// NAT gateways, peerings and transit gateway attachments. The result is
// recorded on the fleet (model.AWSNetwork) for the pure checks of
// pkg/checks/aws.
//
// Every read is bounded by the run's deadline, and one refused or failed
// call makes only its own part unknown, naming the IAM action it needed.
package network

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// The IAM actions Gather may call, as docs/aws-iam-policy.json lists them.
const (
	ActDescribeCluster          = "eks:DescribeCluster"
	ActListClusters             = "eks:ListClusters"
	ActDescribeLoadBalancers    = "elasticloadbalancing:DescribeLoadBalancers"
	ActDescribeListeners        = "elasticloadbalancing:DescribeListeners"
	ActDescribeTargetGroups     = "elasticloadbalancing:DescribeTargetGroups"
	ActDescribeTargetGroupAttrs = "elasticloadbalancing:DescribeTargetGroupAttributes"
	ActDescribeTargetHealth     = "elasticloadbalancing:DescribeTargetHealth"
	ActDescribeVpcs             = "ec2:DescribeVpcs"
	ActDescribeSecurityGroups   = "ec2:DescribeSecurityGroups"
	ActDescribeRouteTables      = "ec2:DescribeRouteTables"
	ActDescribeNatGateways      = "ec2:DescribeNatGateways"
	ActDescribePeerings         = "ec2:DescribeVpcPeeringConnections"
	ActDescribeTGWAttachments   = "ec2:DescribeTransitGatewayAttachments"
)

// Actions lists every IAM action Gather may call.
var Actions = []string{
	ActDescribeCluster, ActListClusters,
	ActDescribeLoadBalancers, ActDescribeListeners, ActDescribeTargetGroups, ActDescribeTargetGroupAttrs, ActDescribeTargetHealth,
	ActDescribeVpcs, ActDescribeSecurityGroups, ActDescribeRouteTables, ActDescribeNatGateways, ActDescribePeerings, ActDescribeTGWAttachments,
}

// EKSAPI is the part of the EKS client Gather uses.
type EKSAPI interface {
	DescribeCluster(context.Context, *eks.DescribeClusterInput, ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
	ListClusters(context.Context, *eks.ListClustersInput, ...func(*eks.Options)) (*eks.ListClustersOutput, error)
}

// ELBAPI is the part of the ELBv2 client Gather uses.
type ELBAPI interface {
	DescribeLoadBalancers(context.Context, *elb.DescribeLoadBalancersInput, ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error)
	DescribeListeners(context.Context, *elb.DescribeListenersInput, ...func(*elb.Options)) (*elb.DescribeListenersOutput, error)
	DescribeTargetGroups(context.Context, *elb.DescribeTargetGroupsInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(context.Context, *elb.DescribeTargetGroupAttributesInput, ...func(*elb.Options)) (*elb.DescribeTargetGroupAttributesOutput, error)
	DescribeTargetHealth(context.Context, *elb.DescribeTargetHealthInput, ...func(*elb.Options)) (*elb.DescribeTargetHealthOutput, error)
}

// EC2API is the part of the EC2 client Gather uses.
type EC2API interface {
	DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeRouteTables(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	DescribeNatGateways(context.Context, *ec2.DescribeNatGatewaysInput, ...func(*ec2.Options)) (*ec2.DescribeNatGatewaysOutput, error)
	DescribeVpcPeeringConnections(context.Context, *ec2.DescribeVpcPeeringConnectionsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcPeeringConnectionsOutput, error)
	DescribeTransitGatewayAttachments(context.Context, *ec2.DescribeTransitGatewayAttachmentsInput, ...func(*ec2.Options)) (*ec2.DescribeTransitGatewayAttachmentsOutput, error)
}

// Clients are one region's clients.
type Clients struct {
	EKS EKSAPI
	ELB ELBAPI
	EC2 EC2API
}

// ClientsFor returns a region's clients.
type ClientsFor func(region string) Clients

// Retries: a throttled or failed call is tried up to maxAttempts times in
// all, with jittered exponential backoff of at most maxBackoff between
// attempts (the SDK's standard retryer, which knows each service's
// throttling codes). The run's deadline cuts any wait short.
const (
	maxAttempts = 5
	maxBackoff  = 2 * time.Second
)

// SDKClients makes the real SDK clients from cfg, one set per region asked,
// with the retryer above. cfg carries the credentials and any endpoint
// override (AWS_ENDPOINT_URL, or BaseEndpoint in tests).
func SDKClients(cfg aws.Config) ClientsFor {
	return func(region string) Clients {
		c := cfg.Copy()
		c.Region = region
		c.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts, o.MaxBackoff = maxAttempts, maxBackoff })
		}
		return Clients{EKS: eks.NewFromConfig(c), ELB: elb.NewFromConfig(c), EC2: ec2.NewFromConfig(c)}
	}
}

package awstest

import (
	"fmt"
	"strconv"
	"sync"
)

// Network is the fake AWS network the EKS, ELBv2 and EC2 services share:
// clusters, load balancers, VPCs, security groups, peerings and transit
// gateway attachments, each in a region (a call sees its signed region's
// objects only, as AWS answers). Tests describe the world in a
// NetworkState and change it with Update.
type Network struct {
	mu    sync.Mutex
	state NetworkState
}

// NetworkState is everything the network services answer from.
type NetworkState struct {
	Clusters       []EKSCluster
	LoadBalancers  []LoadBalancer
	VPCs           []VPC
	SecurityGroups []SecurityGroup
	Peerings       []Peering
	Attachments    []TGWAttachment
	// PageSize bounds every paginated answer (0: 2), so that clients must
	// follow the pages as they do against AWS's larger pages.
	PageSize int
}

// EKSCluster is an EKS cluster.
type EKSCluster struct {
	Region, Name, Endpoint      string
	VPC                         string
	Subnets, SecurityGroups     []string
	ClusterSecurityGroup        string
	PublicAccess, PrivateAccess bool
	PublicAccessCIDRs           []string
}

// ARN is the cluster's ARN.
func (c EKSCluster) ARN() string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", c.Region, TestAccountID, c.Name)
}

// LoadBalancer is an ELBv2 load balancer with its listeners and target groups.
type LoadBalancer struct {
	Region, Name, DNSName string
	Type                  string // network (default), application
	Scheme                string // internal, internet-facing
	VPC                   string
	SecurityGroups        []string
	Listeners             []Listener
	TargetGroups          []TargetGroup
}

// ARN is the load balancer's ARN.
func (lb LoadBalancer) ARN() string {
	return fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/net/%s/0123456789abcdef", lb.Region, TestAccountID, lb.Name)
}

// Listener forwards a port to a target group (by name).
type Listener struct {
	Port        int32
	Protocol    string
	TargetGroup string
}

// TargetGroup is a target group and its targets' health.
type TargetGroup struct {
	Name             string
	Port             int32
	Protocol         string
	TargetType       string
	PreserveClientIP bool
	Targets          []Target
}

// Target is a registered target and its health.
type Target struct {
	ID     string
	Port   int32
	State  string
	Reason string
}

// VPC is a VPC with its route tables and NAT gateways.
type VPC struct {
	Region, ID  string
	CIDRs       []string
	RouteTables []RouteTable
	NATs        []NAT
}

// RouteTable is a route table; Main serves every subnet not associated.
type RouteTable struct {
	ID      string
	Main    bool
	Subnets []string
	Routes  []VPCRoute
}

// VPCRoute sends a destination to a target (pcx-…, tgw-…, nat-…, igw-…, local).
type VPCRoute struct {
	Destination, Target string
	Blackhole           bool
}

// NAT is a public NAT gateway.
type NAT struct {
	ID, PublicIP string
}

// SecurityGroup is a security group's inbound rules.
type SecurityGroup struct {
	Region, ID, Name, VPC string
	Ingress               []Rule
}

// Rule is one inbound permission; Protocol "-1" is every protocol.
type Rule struct {
	Protocol         string
	FromPort, ToPort int32
	CIDRs            []string
	Groups           []string
	PrefixLists      []string
}

// Peering is a VPC peering connection (seen from every region).
type Peering struct {
	ID, Requester, Accepter, Status string
}

// TGWAttachment attaches a VPC to a transit gateway.
type TGWAttachment struct {
	Region, ID, TransitGateway, VPC, State string
}

// NewNetwork is a network holding state; Register its services on a Server.
func NewNetwork(state NetworkState) *Network { return &Network{state: state} }

// Register adds EKS, ELBv2 and EC2 to the server.
func (n *Network) Register(s *Server) {
	s.Register(n.EKS())
	s.Register(n.ELBv2())
	s.Register(n.EC2())
}

// Update changes the state under the services' lock.
func (n *Network) Update(fn func(*NetworkState)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fn(&n.state)
}

// read runs fn on the state under the lock.
func (n *Network) read(fn func(*NetworkState) (any, error)) (any, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fn(&n.state)
}

// page cuts one page of items from the token (an index) on, and returns
// the next token ("" on the last page).
func page[T any](items []T, token string, size int) ([]T, string, error) {
	if size <= 0 {
		size = 2
	}
	start := 0
	if token != "" {
		i, err := strconv.Atoi(token)
		if err != nil || i < 0 || i > len(items) {
			return nil, "", NewError(400, "InvalidParameterValue", fmt.Sprintf("invalid pagination token %q", token))
		}
		start = i
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

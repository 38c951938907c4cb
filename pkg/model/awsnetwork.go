package model

// AWSNetwork is what the AWS APIs (EKS, ELBv2, EC2) said about the network
// under the clusters, read by pkg/aws/network and recorded next to the
// snapshot like the probes, so that the AWS checks stay pure. A nil
// Fleet.AWSNetwork means AWS was not asked (no --aws and no EKS context).
//
// Every part that could not be read carries the reason in its Error field
// (the IAM action refused, a timeout, not found): the checks then say
// "unknown" for what depends on it, never pass.
type AWSNetwork struct {
	// Skipped says why nothing was asked although AWS was wanted (no
	// credentials, no region); every AWS check is then unknown.
	Skipped string `json:"skipped,omitempty"`
	// Clusters holds one entry per context that is (or was matched to) an
	// EKS cluster.
	Clusters []AWSCluster `json:"clusters,omitempty"`
	// VPCs, SecurityGroups, Peerings and TransitGatewayAttachments are every
	// one met while reading the clusters and their gateways, by ID.
	VPCs                      []AWSVPC                  `json:"vpcs,omitempty"`
	SecurityGroups            []AWSSecurityGroup        `json:"securityGroups,omitempty"`
	Peerings                  []AWSPeering              `json:"peerings,omitempty"`
	TransitGatewayAttachments []AWSTransitGatewayAttach `json:"transitGatewayAttachments,omitempty"`
	// Errors are reads that failed for more than one part (a VPC's peerings,
	// a region's transit gateway attachments), each naming the action.
	Errors []string `json:"errors,omitempty"`
}

// AWSCluster is one context's EKS cluster and the load balancers of its
// east-west gateways.
type AWSCluster struct {
	Context string `json:"context"`
	Region  string `json:"region,omitempty"`
	Name    string `json:"name,omitempty"`
	ARN     string `json:"arn,omitempty"`
	// Error says why the cluster could not be described (its fields are then
	// empty, and what depends on them is unknown).
	Error string `json:"error,omitempty"`
	// Endpoint is the API server URL EKS reports.
	Endpoint          string   `json:"endpoint,omitempty"`
	PublicAccess      bool     `json:"publicAccess,omitempty"`
	PrivateAccess     bool     `json:"privateAccess,omitempty"`
	PublicAccessCIDRs []string `json:"publicAccessCidrs,omitempty"`
	VPC               string   `json:"vpc,omitempty"`
	Subnets           []string `json:"subnets,omitempty"`
	// SecurityGroups are the cluster security group EKS made (on the
	// control plane's interfaces and on managed nodes) and the additional
	// groups of the cluster's VPC configuration.
	SecurityGroups []string     `json:"securityGroups,omitempty"`
	Gateways       []AWSGateway `json:"gateways,omitempty"`
}

// AWSGateway is the load balancer behind one east-west gateway Service's
// host name, found by its DNS name.
type AWSGateway struct {
	// Service is namespace/name of the gateway Service, Network its network.
	Service  string `json:"service"`
	Network  string `json:"network,omitempty"`
	Hostname string `json:"hostname"`
	// Error says why the load balancer is not known (not found, denied).
	Error          string   `json:"error,omitempty"`
	ARN            string   `json:"arn,omitempty"`
	Name           string   `json:"name,omitempty"`
	Type           string   `json:"type,omitempty"`   // network, application, gateway
	Scheme         string   `json:"scheme,omitempty"` // internal, internet-facing
	VPC            string   `json:"vpc,omitempty"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	// Listeners are the load balancer's listeners; ListenersError why they
	// could not be read.
	Listeners      []AWSListener `json:"listeners,omitempty"`
	ListenersError string        `json:"listenersError,omitempty"`
	// TargetGroups are the groups the listeners forward to.
	TargetGroups      []AWSTargetGroup `json:"targetGroups,omitempty"`
	TargetGroupsError string           `json:"targetGroupsError,omitempty"`
}

// AWSListener is one listener of a load balancer.
type AWSListener struct {
	Port         int32    `json:"port"`
	Protocol     string   `json:"protocol"`
	TargetGroups []string `json:"targetGroups,omitempty"` // ARNs it forwards to
}

// AWSTargetGroup is one target group with its targets' health.
type AWSTargetGroup struct {
	ARN        string `json:"arn"`
	Name       string `json:"name,omitempty"`
	Port       int32  `json:"port,omitempty"`
	Protocol   string `json:"protocol,omitempty"`
	TargetType string `json:"targetType,omitempty"` // instance, ip
	// PreserveClientIP is the preserve_client_ip.enabled attribute (nil when
	// it could not be read: AttributesError says why).
	PreserveClientIP *bool       `json:"preserveClientIP,omitempty"`
	AttributesError  string      `json:"attributesError,omitempty"`
	Targets          []AWSTarget `json:"targets,omitempty"`
	HealthError      string      `json:"healthError,omitempty"`
}

// AWSTarget is one registered target and its health.
type AWSTarget struct {
	ID     string `json:"id"`
	Port   int32  `json:"port,omitempty"`
	State  string `json:"state"` // healthy, unhealthy, initial, draining, unused, unavailable
	Reason string `json:"reason,omitempty"`
}

// AWSVPC is one VPC: its address ranges, route tables and NAT gateways.
type AWSVPC struct {
	ID     string   `json:"id"`
	Region string   `json:"region,omitempty"`
	CIDRs  []string `json:"cidrs,omitempty"`
	Error  string   `json:"error,omitempty"`
	// RouteTables and RoutesError: the VPC's route tables.
	RouteTables []AWSRouteTable `json:"routeTables,omitempty"`
	RoutesError string          `json:"routesError,omitempty"`
	// NATPublicIPs are the public addresses of the VPC's NAT gateways: where
	// its private subnets' traffic to the internet comes from.
	NATPublicIPs []string `json:"natPublicIPs,omitempty"`
	NATError     string   `json:"natError,omitempty"`
}

// AWSRouteTable is one route table of a VPC and the subnets it serves.
type AWSRouteTable struct {
	ID      string     `json:"id"`
	Main    bool       `json:"main,omitempty"`
	Subnets []string   `json:"subnets,omitempty"`
	Routes  []AWSRoute `json:"routes,omitempty"`
}

// AWSRoute is one route: a destination range and its target, e.g.
// pcx-…, tgw-…, igw-…, nat-…, local.
type AWSRoute struct {
	Destination string `json:"destination"`
	Target      string `json:"target"`
	State       string `json:"state,omitempty"` // active, blackhole
}

// AWSSecurityGroup is one security group's inbound rules.
type AWSSecurityGroup struct {
	ID      string           `json:"id"`
	Region  string           `json:"region,omitempty"`
	Name    string           `json:"name,omitempty"`
	VPC     string           `json:"vpc,omitempty"`
	Error   string           `json:"error,omitempty"`
	Ingress []AWSIngressRule `json:"ingress,omitempty"`
}

// AWSIngressRule is one inbound permission. Protocol "-1" is every
// protocol; FromPort/ToPort are then meaningless.
type AWSIngressRule struct {
	Protocol string   `json:"protocol"`
	FromPort int32    `json:"fromPort,omitempty"`
	ToPort   int32    `json:"toPort,omitempty"`
	CIDRs    []string `json:"cidrs,omitempty"`
	// Groups are the security groups whose members the rule admits;
	// PrefixLists the managed prefix lists it admits (not expanded).
	Groups      []string `json:"groups,omitempty"`
	PrefixLists []string `json:"prefixLists,omitempty"`
}

// AWSPeering is a VPC peering connection.
type AWSPeering struct {
	ID        string `json:"id"`
	Requester string `json:"requester"` // VPC IDs
	Accepter  string `json:"accepter"`
	Status    string `json:"status"` // active, pending-acceptance, …
}

// AWSTransitGatewayAttach is one VPC's attachment to a transit gateway.
type AWSTransitGatewayAttach struct {
	ID             string `json:"id"`
	TransitGateway string `json:"transitGateway"`
	VPC            string `json:"vpc"`
	State          string `json:"state"` // available, pending, …
}

// VPC returns the VPC with that ID, or nil.
func (n *AWSNetwork) VPC(id string) *AWSVPC {
	for i := range n.VPCs {
		if n.VPCs[i].ID == id {
			return &n.VPCs[i]
		}
	}
	return nil
}

// SecurityGroup returns the group with that ID, or nil.
func (n *AWSNetwork) SecurityGroup(id string) *AWSSecurityGroup {
	for i := range n.SecurityGroups {
		if n.SecurityGroups[i].ID == id {
			return &n.SecurityGroups[i]
		}
	}
	return nil
}

// Cluster returns the EKS cluster of a context, or nil.
func (n *AWSNetwork) Cluster(context string) *AWSCluster {
	for i := range n.Clusters {
		if n.Clusters[i].Context == context {
			return &n.Clusters[i]
		}
	}
	return nil
}

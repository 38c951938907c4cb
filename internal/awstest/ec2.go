package awstest

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
)

// EC2 is the ec2Query EC2 service over the network's VPCs and security
// groups: DescribeVpcs, DescribeSecurityGroups, DescribeRouteTables,
// DescribeNatGateways, DescribeVpcPeeringConnections and
// DescribeTransitGatewayAttachments, with the filters the plugin uses (any
// other filter is refused, as AWS refuses an unknown one).
func (n *Network) EC2() *Service {
	return &Service{
		SigningName:    ServiceEC2,
		Protocol:       EC2Query,
		XMLNamespace:   "http://ec2.amazonaws.com/doc/2016-11-15/",
		ThrottleCode:   "RequestLimitExceeded",
		ThrottleStatus: 503,
		DenyCode:       "UnauthorizedOperation",
		DenyStatus:     403,
		Actions: map[string]Handler{
			"DescribeVpcs":                      n.describeVpcs,
			"DescribeSecurityGroups":            n.describeSecurityGroups,
			"DescribeRouteTables":               n.describeRouteTables,
			"DescribeNatGateways":               n.describeNatGateways,
			"DescribeVpcPeeringConnections":     n.describePeerings,
			"DescribeTransitGatewayAttachments": n.describeAttachments,
		},
	}
}

// items is EC2's list shape.
type items[T any] struct {
	Items []T `xml:"item"`
}

// ec2Filters reads Filter.N.Name / Filter.N.Value.M, refusing names the
// action does not know.
func ec2Filters(form url.Values, known ...string) (map[string][]string, error) {
	out := map[string][]string{}
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i)
		name := form.Get(p + ".Name")
		if name == "" {
			return out, nil
		}
		if !slices.Contains(known, name) {
			return nil, NewError(400, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name))
		}
		out[name] = formList(form, p+".Value")
	}
}

// match reports whether value passes the filter of that name (absent: yes).
func match(filters map[string][]string, name, value string) bool {
	vs, ok := filters[name]
	return !ok || slices.Contains(vs, value)
}

// ec2Page pages a list by NextToken/MaxResults.
func ec2Page[T any](c *Call, s *NetworkState, all []T) ([]T, string, error) {
	size := s.PageSize
	if v := c.Form.Get("MaxResults"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	return page(all, c.Form.Get("NextToken"), size)
}

type ec2CIDRAssociation struct {
	CIDRBlock string `xml:"cidrBlock"`
	State     string `xml:"cidrBlockState>state"`
}

type ec2VPC struct {
	VpcID        string                    `xml:"vpcId"`
	CIDRBlock    string                    `xml:"cidrBlock"`
	State        string                    `xml:"state"`
	Associations items[ec2CIDRAssociation] `xml:"cidrBlockAssociationSet"`
}

func (n *Network) describeVpcs(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		f, err := ec2Filters(c.Form, "vpc-id")
		if err != nil {
			return nil, err
		}
		var all []ec2VPC
		for _, v := range s.VPCs {
			if v.Region != c.Region || !match(f, "vpc-id", v.ID) {
				continue
			}
			out := ec2VPC{VpcID: v.ID, State: "available"}
			for i, cidr := range v.CIDRs {
				if i == 0 {
					out.CIDRBlock = cidr
				}
				out.Associations.Items = append(out.Associations.Items, ec2CIDRAssociation{CIDRBlock: cidr, State: "associated"})
			}
			all = append(all, out)
		}
		list, next, err := ec2Page(c, s, all)
		if err != nil {
			return nil, err
		}
		return struct {
			Vpcs      items[ec2VPC] `xml:"vpcSet"`
			NextToken string        `xml:"nextToken,omitempty"`
		}{items[ec2VPC]{list}, next}, nil
	})
}

type ec2GroupRef struct {
	GroupID string `xml:"groupId"`
}

type ec2IPRange struct {
	CIDR string `xml:"cidrIp"`
}

type ec2PrefixList struct {
	ID string `xml:"prefixListId"`
}

type ec2Permission struct {
	Protocol    string               `xml:"ipProtocol"`
	FromPort    *int32               `xml:"fromPort,omitempty"`
	ToPort      *int32               `xml:"toPort,omitempty"`
	Groups      items[ec2GroupRef]   `xml:"groups"`
	IPRanges    items[ec2IPRange]    `xml:"ipRanges"`
	PrefixLists items[ec2PrefixList] `xml:"prefixListIds"`
}

type ec2SecurityGroup struct {
	GroupID     string               `xml:"groupId"`
	GroupName   string               `xml:"groupName"`
	VpcID       string               `xml:"vpcId"`
	OwnerID     string               `xml:"ownerId"`
	Permissions items[ec2Permission] `xml:"ipPermissions"`
}

func (n *Network) describeSecurityGroups(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		f, err := ec2Filters(c.Form, "group-id", "vpc-id")
		if err != nil {
			return nil, err
		}
		var all []ec2SecurityGroup
		for _, g := range s.SecurityGroups {
			if g.Region != c.Region || !match(f, "group-id", g.ID) || !match(f, "vpc-id", g.VPC) {
				continue
			}
			out := ec2SecurityGroup{GroupID: g.ID, GroupName: g.Name, VpcID: g.VPC, OwnerID: TestAccountID}
			for _, r := range g.Ingress {
				p := ec2Permission{Protocol: r.Protocol}
				if r.Protocol != "-1" {
					p.FromPort, p.ToPort = &r.FromPort, &r.ToPort
				}
				for _, cidr := range r.CIDRs {
					p.IPRanges.Items = append(p.IPRanges.Items, ec2IPRange{cidr})
				}
				for _, id := range r.Groups {
					p.Groups.Items = append(p.Groups.Items, ec2GroupRef{id})
				}
				for _, id := range r.PrefixLists {
					p.PrefixLists.Items = append(p.PrefixLists.Items, ec2PrefixList{id})
				}
				out.Permissions.Items = append(out.Permissions.Items, p)
			}
			all = append(all, out)
		}
		list, next, err := ec2Page(c, s, all)
		if err != nil {
			return nil, err
		}
		return struct {
			Groups    items[ec2SecurityGroup] `xml:"securityGroupInfo"`
			NextToken string                  `xml:"nextToken,omitempty"`
		}{items[ec2SecurityGroup]{list}, next}, nil
	})
}

type ec2Association struct {
	ID       string `xml:"routeTableAssociationId"`
	Main     bool   `xml:"main"`
	SubnetID string `xml:"subnetId,omitempty"`
}

type ec2Route struct {
	Destination  string `xml:"destinationCidrBlock"`
	GatewayID    string `xml:"gatewayId,omitempty"`
	PeeringID    string `xml:"vpcPeeringConnectionId,omitempty"`
	TransitGWID  string `xml:"transitGatewayId,omitempty"`
	NatGatewayID string `xml:"natGatewayId,omitempty"`
	State        string `xml:"state"`
	Origin       string `xml:"origin"`
}

type ec2RouteTable struct {
	ID           string                `xml:"routeTableId"`
	VpcID        string                `xml:"vpcId"`
	Associations items[ec2Association] `xml:"associationSet"`
	Routes       items[ec2Route]       `xml:"routeSet"`
}

func wireRoute(r VPCRoute) ec2Route {
	out := ec2Route{Destination: r.Destination, State: "active", Origin: "CreateRoute"}
	if r.Blackhole {
		out.State = "blackhole"
	}
	switch t := r.Target; {
	case t == "local":
		out.GatewayID, out.Origin = "local", "CreateRouteTable"
	case len(t) > 4 && t[:4] == "pcx-":
		out.PeeringID = t
	case len(t) > 4 && t[:4] == "tgw-":
		out.TransitGWID = t
	case len(t) > 4 && t[:4] == "nat-":
		out.NatGatewayID = t
	default:
		out.GatewayID = t
	}
	return out
}

func (n *Network) describeRouteTables(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		f, err := ec2Filters(c.Form, "vpc-id")
		if err != nil {
			return nil, err
		}
		var all []ec2RouteTable
		for _, v := range s.VPCs {
			if v.Region != c.Region || !match(f, "vpc-id", v.ID) {
				continue
			}
			for _, t := range v.RouteTables {
				out := ec2RouteTable{ID: t.ID, VpcID: v.ID}
				if t.Main {
					out.Associations.Items = append(out.Associations.Items, ec2Association{ID: "rtbassoc-main-" + t.ID, Main: true})
				}
				for _, sn := range t.Subnets {
					out.Associations.Items = append(out.Associations.Items, ec2Association{ID: "rtbassoc-" + sn, SubnetID: sn})
				}
				for _, r := range t.Routes {
					out.Routes.Items = append(out.Routes.Items, wireRoute(r))
				}
				all = append(all, out)
			}
		}
		list, next, err := ec2Page(c, s, all)
		if err != nil {
			return nil, err
		}
		return struct {
			Tables    items[ec2RouteTable] `xml:"routeTableSet"`
			NextToken string               `xml:"nextToken,omitempty"`
		}{items[ec2RouteTable]{list}, next}, nil
	})
}

type ec2NATAddress struct {
	PublicIP string `xml:"publicIp"`
}

type ec2NAT struct {
	ID               string               `xml:"natGatewayId"`
	VpcID            string               `xml:"vpcId"`
	State            string               `xml:"state"`
	ConnectivityType string               `xml:"connectivityType"`
	Addresses        items[ec2NATAddress] `xml:"natGatewayAddressSet"`
}

func (n *Network) describeNatGateways(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		f, err := ec2Filters(c.Form, "vpc-id", "state")
		if err != nil {
			return nil, err
		}
		var all []ec2NAT
		for _, v := range s.VPCs {
			if v.Region != c.Region || !match(f, "vpc-id", v.ID) || !match(f, "state", "available") {
				continue
			}
			for _, g := range v.NATs {
				all = append(all, ec2NAT{ID: g.ID, VpcID: v.ID, State: "available", ConnectivityType: "public",
					Addresses: items[ec2NATAddress]{[]ec2NATAddress{{g.PublicIP}}}})
			}
		}
		list, next, err := ec2Page(c, s, all)
		if err != nil {
			return nil, err
		}
		return struct {
			NATs      items[ec2NAT] `xml:"natGatewaySet"`
			NextToken string        `xml:"nextToken,omitempty"`
		}{items[ec2NAT]{list}, next}, nil
	})
}

type ec2PeeringVPC struct {
	VpcID   string `xml:"vpcId"`
	OwnerID string `xml:"ownerId"`
}

type ec2Peering struct {
	ID        string        `xml:"vpcPeeringConnectionId"`
	Requester ec2PeeringVPC `xml:"requesterVpcInfo"`
	Accepter  ec2PeeringVPC `xml:"accepterVpcInfo"`
	Status    string        `xml:"status>code"`
}

func (n *Network) describePeerings(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		f, err := ec2Filters(c.Form, "vpc-peering-connection-id")
		if err != nil {
			return nil, err
		}
		var all []ec2Peering
		for _, p := range s.Peerings {
			if !match(f, "vpc-peering-connection-id", p.ID) {
				continue
			}
			all = append(all, ec2Peering{ID: p.ID, Status: p.Status,
				Requester: ec2PeeringVPC{p.Requester, TestAccountID}, Accepter: ec2PeeringVPC{p.Accepter, TestAccountID}})
		}
		list, next, err := ec2Page(c, s, all)
		if err != nil {
			return nil, err
		}
		return struct {
			Peerings  items[ec2Peering] `xml:"vpcPeeringConnectionSet"`
			NextToken string            `xml:"nextToken,omitempty"`
		}{items[ec2Peering]{list}, next}, nil
	})
}

type ec2Attachment struct {
	ID           string `xml:"transitGatewayAttachmentId"`
	TransitGWID  string `xml:"transitGatewayId"`
	ResourceType string `xml:"resourceType"`
	ResourceID   string `xml:"resourceId"`
	State        string `xml:"state"`
}

func (n *Network) describeAttachments(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		f, err := ec2Filters(c.Form, "resource-id", "resource-type", "transit-gateway-id")
		if err != nil {
			return nil, err
		}
		var all []ec2Attachment
		for _, a := range s.Attachments {
			if a.Region != c.Region || !match(f, "resource-id", a.VPC) || !match(f, "resource-type", "vpc") || !match(f, "transit-gateway-id", a.TransitGateway) {
				continue
			}
			all = append(all, ec2Attachment{ID: a.ID, TransitGWID: a.TransitGateway, ResourceType: "vpc", ResourceID: a.VPC, State: a.State})
		}
		list, next, err := ec2Page(c, s, all)
		if err != nil {
			return nil, err
		}
		return struct {
			Attachments items[ec2Attachment] `xml:"transitGatewayAttachments"`
			NextToken   string               `xml:"nextToken,omitempty"`
		}{items[ec2Attachment]{list}, next}, nil
	})
}

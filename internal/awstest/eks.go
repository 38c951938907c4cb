package awstest

import (
	"fmt"
	"strconv"
)

// EKS is the restJson1 EKS service over the network's clusters:
// DescribeCluster and ListClusters.
func (n *Network) EKS() *Service {
	return &Service{
		SigningName:    ServiceEKS,
		Protocol:       RESTJSON,
		ThrottleCode:   "ThrottlingException",
		ThrottleStatus: 429,
		DenyCode:       "AccessDeniedException",
		DenyStatus:     403,
		Routes: []Route{
			{Method: "GET", Path: "/clusters/{name}", Action: "DescribeCluster"},
			{Method: "GET", Path: "/clusters", Action: "ListClusters"},
		},
		Actions: map[string]Handler{
			"DescribeCluster": n.describeCluster,
			"ListClusters":    n.listClusters,
		},
	}
}

type eksVpcConfig struct {
	VpcID                  string   `json:"vpcId"`
	SubnetIDs              []string `json:"subnetIds"`
	SecurityGroupIDs       []string `json:"securityGroupIds"`
	ClusterSecurityGroupID string   `json:"clusterSecurityGroupId,omitempty"`
	EndpointPublicAccess   bool     `json:"endpointPublicAccess"`
	EndpointPrivateAccess  bool     `json:"endpointPrivateAccess"`
	PublicAccessCidrs      []string `json:"publicAccessCidrs"`
}

type eksCluster struct {
	Name               string       `json:"name"`
	Arn                string       `json:"arn"`
	Endpoint           string       `json:"endpoint"`
	Status             string       `json:"status"`
	Version            string       `json:"version"`
	ResourcesVpcConfig eksVpcConfig `json:"resourcesVpcConfig"`
}

func (n *Network) describeCluster(c *Call) (any, error) {
	name := c.PathParams["name"]
	return n.read(func(s *NetworkState) (any, error) {
		for _, cl := range s.Clusters {
			if cl.Region != c.Region || cl.Name != name {
				continue
			}
			return map[string]eksCluster{"cluster": {
				Name: cl.Name, Arn: cl.ARN(), Endpoint: cl.Endpoint, Status: "ACTIVE", Version: "1.33",
				ResourcesVpcConfig: eksVpcConfig{
					VpcID: cl.VPC, SubnetIDs: cl.Subnets, SecurityGroupIDs: cl.SecurityGroups, ClusterSecurityGroupID: cl.ClusterSecurityGroup,
					EndpointPublicAccess: cl.PublicAccess, EndpointPrivateAccess: cl.PrivateAccess, PublicAccessCidrs: cl.PublicAccessCIDRs,
				},
			}}, nil
		}
		return nil, NewError(404, "ResourceNotFoundException", fmt.Sprintf("No cluster found for name: %s.", name))
	})
}

func (n *Network) listClusters(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		var names []string
		for _, cl := range s.Clusters {
			if cl.Region == c.Region {
				names = append(names, cl.Name)
			}
		}
		size := s.PageSize
		if v := c.Query.Get("maxResults"); v != "" {
			size, _ = strconv.Atoi(v)
		}
		items, next, err := page(names, c.Query.Get("nextToken"), size)
		if err != nil {
			return nil, NewError(400, "InvalidParameterException", err.Error())
		}
		out := map[string]any{"clusters": items}
		if next != "" {
			out["nextToken"] = next
		}
		return out, nil
	})
}

package awstest

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ELBv2 is the awsQuery Elastic Load Balancing v2 service over the
// network's load balancers: DescribeLoadBalancers, DescribeListeners,
// DescribeTargetGroups, DescribeTargetGroupAttributes, DescribeTargetHealth.
func (n *Network) ELBv2() *Service {
	return &Service{
		SigningName:    ServiceELBv2,
		Protocol:       AWSQuery,
		XMLNamespace:   "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
		ThrottleCode:   "Throttling",
		ThrottleStatus: 400,
		DenyCode:       "AccessDenied",
		DenyStatus:     403,
		Actions: map[string]Handler{
			"DescribeLoadBalancers":         n.describeLoadBalancers,
			"DescribeListeners":             n.describeListeners,
			"DescribeTargetGroups":          n.describeTargetGroups,
			"DescribeTargetGroupAttributes": n.describeTargetGroupAttributes,
			"DescribeTargetHealth":          n.describeTargetHealth,
		},
	}
}

// members is awsQuery's list shape.
type members[T any] struct {
	Items []T `xml:"member"`
}

type elbLoadBalancer struct {
	LoadBalancerArn  string          `xml:"LoadBalancerArn"`
	DNSName          string          `xml:"DNSName"`
	LoadBalancerName string          `xml:"LoadBalancerName"`
	Scheme           string          `xml:"Scheme"`
	VpcID            string          `xml:"VpcId"`
	Type             string          `xml:"Type"`
	SecurityGroups   members[string] `xml:"SecurityGroups"`
}

func (lb LoadBalancer) typ() string {
	if lb.Type == "" {
		return "network"
	}
	return lb.Type
}

func (lb LoadBalancer) targetGroupARN(name string) string {
	return fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/0123456789abcdef", lb.Region, TestAccountID, name)
}

func (n *Network) describeLoadBalancers(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		var all []elbLoadBalancer
		for _, lb := range s.LoadBalancers {
			if lb.Region != c.Region {
				continue
			}
			all = append(all, elbLoadBalancer{
				LoadBalancerArn: lb.ARN(), DNSName: lb.DNSName, LoadBalancerName: lb.Name, Scheme: lb.Scheme,
				VpcID: lb.VPC, Type: lb.typ(), SecurityGroups: members[string]{lb.SecurityGroups},
			})
		}
		size := s.PageSize
		if v := c.Form.Get("PageSize"); v != "" {
			size, _ = strconv.Atoi(v)
		}
		items, next, err := page(all, c.Form.Get("Marker"), size)
		if err != nil {
			return nil, NewError(400, "ValidationError", err.Error())
		}
		return struct {
			LoadBalancers members[elbLoadBalancer] `xml:"LoadBalancers"`
			NextMarker    string                   `xml:"NextMarker,omitempty"`
		}{members[elbLoadBalancer]{items}, next}, nil
	})
}

// loadBalancer finds a load balancer by ARN in the call's region.
func loadBalancer(s *NetworkState, c *Call, arn string) (*LoadBalancer, error) {
	for i, lb := range s.LoadBalancers {
		if lb.Region == c.Region && lb.ARN() == arn {
			return &s.LoadBalancers[i], nil
		}
	}
	return nil, NewError(400, "LoadBalancerNotFound", fmt.Sprintf("Load balancers '[%s]' not found", arn))
}

// targetGroup finds a target group by ARN in the call's region.
func targetGroup(s *NetworkState, c *Call, arn string) (*LoadBalancer, *TargetGroup, error) {
	for i, lb := range s.LoadBalancers {
		if lb.Region != c.Region {
			continue
		}
		for j, tg := range lb.TargetGroups {
			if lb.targetGroupARN(tg.Name) == arn {
				return &s.LoadBalancers[i], &s.LoadBalancers[i].TargetGroups[j], nil
			}
		}
	}
	return nil, nil, NewError(400, "TargetGroupNotFound", fmt.Sprintf("Target groups '[%s]' not found", arn))
}

type elbAction struct {
	Type           string `xml:"Type"`
	TargetGroupArn string `xml:"TargetGroupArn"`
}

type elbListener struct {
	ListenerArn     string             `xml:"ListenerArn"`
	LoadBalancerArn string             `xml:"LoadBalancerArn"`
	Port            int32              `xml:"Port"`
	Protocol        string             `xml:"Protocol"`
	DefaultActions  members[elbAction] `xml:"DefaultActions"`
}

func (n *Network) describeListeners(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		lb, err := loadBalancer(s, c, c.Form.Get("LoadBalancerArn"))
		if err != nil {
			return nil, err
		}
		var out []elbListener
		for _, l := range lb.Listeners {
			out = append(out, elbListener{
				ListenerArn:     strings.Replace(lb.ARN(), ":loadbalancer/", ":listener/", 1) + "/" + strconv.Itoa(int(l.Port)),
				LoadBalancerArn: lb.ARN(), Port: l.Port, Protocol: l.Protocol,
				DefaultActions: members[elbAction]{[]elbAction{{Type: "forward", TargetGroupArn: lb.targetGroupARN(l.TargetGroup)}}},
			})
		}
		return struct {
			Listeners members[elbListener] `xml:"Listeners"`
		}{members[elbListener]{out}}, nil
	})
}

type elbTargetGroup struct {
	TargetGroupArn   string          `xml:"TargetGroupArn"`
	TargetGroupName  string          `xml:"TargetGroupName"`
	Port             int32           `xml:"Port"`
	Protocol         string          `xml:"Protocol"`
	TargetType       string          `xml:"TargetType"`
	VpcID            string          `xml:"VpcId"`
	LoadBalancerArns members[string] `xml:"LoadBalancerArns"`
}

func (n *Network) describeTargetGroups(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		lb, err := loadBalancer(s, c, c.Form.Get("LoadBalancerArn"))
		if err != nil {
			return nil, err
		}
		var out []elbTargetGroup
		for _, tg := range lb.TargetGroups {
			out = append(out, elbTargetGroup{
				TargetGroupArn: lb.targetGroupARN(tg.Name), TargetGroupName: tg.Name, Port: tg.Port, Protocol: tg.Protocol,
				TargetType: tg.TargetType, VpcID: lb.VPC, LoadBalancerArns: members[string]{[]string{lb.ARN()}},
			})
		}
		return struct {
			TargetGroups members[elbTargetGroup] `xml:"TargetGroups"`
		}{members[elbTargetGroup]{out}}, nil
	})
}

type elbAttribute struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func (n *Network) describeTargetGroupAttributes(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		_, tg, err := targetGroup(s, c, c.Form.Get("TargetGroupArn"))
		if err != nil {
			return nil, err
		}
		return struct {
			Attributes members[elbAttribute] `xml:"Attributes"`
		}{members[elbAttribute]{[]elbAttribute{
			{Key: "deregistration_delay.timeout_seconds", Value: "300"},
			{Key: "preserve_client_ip.enabled", Value: strconv.FormatBool(tg.PreserveClientIP)},
		}}}, nil
	})
}

type elbTargetHealth struct {
	Target struct {
		ID   string `xml:"Id"`
		Port int32  `xml:"Port"`
	} `xml:"Target"`
	HealthCheckPort string `xml:"HealthCheckPort"`
	TargetHealth    struct {
		State  string `xml:"State"`
		Reason string `xml:"Reason,omitempty"`
	} `xml:"TargetHealth"`
}

func (n *Network) describeTargetHealth(c *Call) (any, error) {
	return n.read(func(s *NetworkState) (any, error) {
		_, tg, err := targetGroup(s, c, c.Form.Get("TargetGroupArn"))
		if err != nil {
			return nil, err
		}
		var out []elbTargetHealth
		for _, t := range tg.Targets {
			var h elbTargetHealth
			h.Target.ID, h.Target.Port, h.HealthCheckPort = t.ID, t.Port, strconv.Itoa(int(t.Port))
			h.TargetHealth.State, h.TargetHealth.Reason = t.State, t.Reason
			out = append(out, h)
		}
		return struct {
			TargetHealthDescriptions members[elbTargetHealth] `xml:"TargetHealthDescriptions"`
		}{members[elbTargetHealth]{out}}, nil
	})
}

// formList reads an awsQuery or EC2 list parameter: prefix.1, prefix.2, …
func formList(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+"."+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

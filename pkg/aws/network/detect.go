package network

import (
	"net/url"
	"strings"
)

// EKSCluster is what a kubeconfig says of an EKS cluster: its region, and
// its name when the context or cluster entry is named by the cluster's ARN
// (as `aws eks update-kubeconfig` names them).
type EKSCluster struct {
	Region string
	Name   string
	ARN    string
}

// ParseARN reads an EKS cluster ARN, arn:<partition>:eks:<region>:<account>:cluster/<name>.
func ParseARN(s string) (EKSCluster, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "eks" || parts[3] == "" {
		return EKSCluster{}, false
	}
	name, ok := strings.CutPrefix(parts[5], "cluster/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return EKSCluster{}, false
	}
	return EKSCluster{Region: parts[3], Name: name, ARN: s}, true
}

// EndpointRegion returns the region of an EKS API server URL,
// https://<id>.<zone>.<region>.eks.amazonaws.com (".com.cn" in China).
func EndpointRegion(server string) (string, bool) {
	u, err := url.Parse(server)
	if err != nil {
		return "", false
	}
	labels := strings.Split(strings.ToLower(u.Hostname()), ".")
	for i := 1; i+2 < len(labels); i++ {
		if labels[i] == "eks" && labels[i+1] == "amazonaws" && labels[i+2] == "com" && labels[i-1] != "" {
			return labels[i-1], true
		}
	}
	return "", false
}

// Identify says whether a context is an EKS cluster and what of it is
// known from the kubeconfig: the context's name or its cluster entry's name
// is an EKS ARN, or its server is an EKS endpoint (the name then comes from
// matching the endpoint among the region's clusters).
func Identify(context, clusterEntry, server string) (EKSCluster, bool) {
	for _, name := range []string{context, clusterEntry} {
		if c, ok := ParseARN(name); ok {
			return c, true
		}
	}
	if region, ok := EndpointRegion(server); ok {
		return EKSCluster{Region: region}, true
	}
	return EKSCluster{}, false
}

// LoadBalancerRegion returns the region of an ELB DNS name,
// <name>-<id>.elb.<region>.amazonaws.com (NLB) or
// <name>-<id>.<region>.elb.amazonaws.com (ALB and classic).
func LoadBalancerRegion(host string) (string, bool) {
	labels := strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	for i := 1; i+1 < len(labels); i++ {
		if labels[i+1] != "amazonaws" {
			continue
		}
		switch {
		case labels[i-1] == "elb" && labels[i] != "":
			return labels[i], true
		case labels[i] == "elb" && i >= 2 && labels[i-1] != "":
			return labels[i-1], true
		}
	}
	return "", false
}

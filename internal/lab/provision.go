package lab

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProvisionGateways does for the east-west gateways what a cloud's
// load-balancer controller and the kubelet would do once such a gateway is
// installed (by `kubectl meshfed fix --apply`, say), since the lab has
// neither:
//
//   - the load-balancer controller: every east-west gateway Service of type
//     LoadBalancer without an address (labelled istio=eastwestgateway or with
//     a network, exposing 15443 or istiod's 15012) gets the cluster's gateway
//     address in status.loadBalancer.ingress;
//   - the kubelet running the gateway's pods: the lab's gateway stand-in
//     starts listening at that address (15443 with a certificate from the
//     cluster's Istio CA, 15021, and on a primary 15012 and 15017 forwarded
//     to istiod), as at Start.
//
// The stand-in listens before this returns, and istiod already serves TLS
// (Start waits for it), so the gateway is usable at once. No Pod is
// written: the controllers make the gateway Deployment's pods, istiod's
// webhook injects them and the node stand-ins run them (pods.go).
// Each cluster has one gateway address, so a cluster whose gateway already
// has one (from Start, or an earlier call) cannot get a second. It returns
// the Services it provisioned.
func (l *Lab) ProvisionGateways(ctx context.Context) ([]Provisioned, error) {
	var done []Provisioned
	for _, name := range l.names {
		c := l.clusters[name]
		list, err := c.client.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		if err != nil {
			return done, fmt.Errorf("%s: list services: %w", name, err)
		}
		for i := range list.Items {
			s := &list.Items[i]
			if !eastWestPending(s) {
				continue
			}
			ref := s.Namespace + "/" + s.Name
			addr := l.net.gatewayAddr(name)
			l.mu.Lock()
			had, again := l.provisioned[name]
			if l.provisioned == nil {
				l.provisioned = map[string]string{}
			}
			if !again {
				l.provisioned[name] = ref
			}
			l.mu.Unlock()
			switch {
			case l.GatewayAddress(name) != "":
				return done, fmt.Errorf("%s: %s needs an address, but the cluster's gateway address %s is taken by the gateway the lab started with", name, ref, addr)
			case again && had != ref:
				return done, fmt.Errorf("%s: %s needs an address, but the cluster's gateway address %s went to %s", name, ref, addr, had)
			}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: addr, IPMode: ptr(corev1.LoadBalancerIPModeVIP)}}
			if _, err := c.client.CoreV1().Services(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{FieldManager: "meshfed-lab"}); err != nil {
				return done, fmt.Errorf("%s: address of %s: %w", name, ref, err)
			}
			if !again {
				if err := l.startGateway(c, addr); err != nil {
					return done, err
				}
			}
			done = append(done, Provisioned{Context: name, Service: ref, Address: addr})
		}
	}
	return done, nil
}

// Provisioned is a gateway Service ProvisionGateways gave an address.
type Provisioned struct {
	Context string
	Service string // namespace/name
	Address string
}

// eastWestPending: a LoadBalancer Service meant as an east-west gateway
// (labelled as one, exposing the cross-network or istiod port) that no load
// balancer has given an address yet.
func eastWestPending(s *corev1.Service) bool {
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer || len(s.Status.LoadBalancer.Ingress) > 0 {
		return false
	}
	if s.Labels["istio"] != "eastwestgateway" && s.Labels["topology.istio.io/network"] == "" {
		return false
	}
	for _, p := range s.Spec.Ports {
		if p.Port == 15443 || p.Port == 15012 {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kube-proxy's stand-in: the API server calls admission webhooks that
// name a Service at the Service's cluster IP (its default service
// resolver), which only works where kube-proxy made the cluster IP
// reachable. In a primary's network namespace the lab gives the istiod
// Service's cluster IP to the namespace's loopback device and forwards
// every port of the Service to its target port on the istiod process (the
// pod behind the Service), as kube-proxy's userspace mode did. So the API
// server really calls istiod's injection webhook for every pod, and pod
// creation fails when istiod does not answer, as in a cluster.
//
// On loopback (no namespaces) a cluster IP cannot be made local without
// changing this machine's network, so there is no stand-in and the lab
// leaves the injection webhook out (startWorkloads).

// startServiceProxy forwards the istiod Service's cluster IP in a
// primary's namespace to the istiod process.
func (l *Lab) startServiceProxy(ctx context.Context, c *cluster) error {
	if !l.net.isolated || c.role != "primary" {
		return nil
	}
	svc, err := c.client.CoreV1().Services("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("istiod Service: %w", err)
	}
	ip := svc.Spec.ClusterIP
	if net.ParseIP(ip) == nil {
		return fmt.Errorf("istiod Service has no cluster IP (%q)", ip)
	}
	ns := l.net.ns(c.name)
	if err := ipCmd("-n", ns, "addr", "replace", ip+"/32", "dev", "lo"); err != nil {
		return err
	}
	target := l.net.addr(c.name) // where the istiod process listens
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		to := int(p.Port)
		if p.TargetPort.IntValue() > 0 {
			to = p.TargetPort.IntValue()
		}
		if int(p.Port) == to && istiodListensOnAll(to) {
			continue // istiod's own socket answers on the cluster IP too
		}
		ln, err := listenIn(ns, net.JoinHostPort(ip, strconv.Itoa(int(p.Port))))
		if err != nil {
			return fmt.Errorf("service proxy for istiod:%d: %w", p.Port, err)
		}
		l.addCloser(ln)
		go proxyAccept(ln, func() (net.Conn, error) {
			return dialIn(ns, net.JoinHostPort(target, strconv.Itoa(to)))
		})
	}
	return nil
}

// istiodListensOnAll: the ports istiod binds on every address of its
// namespace (startIstiod: --httpAddr :8080, --monitoringAddr :15014),
// which a listener on the cluster IP would take from it.
func istiodListensOnAll(port int) bool { return port == 8080 || port == 15014 }

// proxyAccept copies every accepted connection to one from dial, both
// ways, until the listener closes.
func proxyAccept(ln net.Listener, dial func() (net.Conn, error)) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := dial()
			if err != nil {
				return // the client sees the connection close, as with no endpoint
			}
			defer out.Close()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(out, in)
				if tc, ok := out.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}()
			_, _ = io.Copy(in, out)
			if tc, ok := in.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			wg.Wait()
		}()
	}
}

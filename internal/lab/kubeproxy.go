package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// creation fails when istiod does not answer, as in a cluster. In a
// remote's namespace the istiod Service (the remote profile's, without
// selector) is forwarded to its EndpointSlices' endpoints, the primary's
// gateway: the remote's API server calls the injector through it
// (istiodRemote.injectionPath).
//
// On loopback (no namespaces) a cluster IP cannot be made local without
// changing this machine's network, so there is no stand-in and the lab
// leaves the injection webhook out (startWorkloads).

// startServiceProxy makes the istiod Service's cluster IP answer in a
// cluster's namespace: on a primary, forwarded to the istiod process; on a
// remote (the remote profile's istiod Service without selector, whose
// EndpointSlice is remotePilotAddress), forwarded to the endpoints of its
// slices, as kube-proxy sends a Service port to the slice port of the same
// name. So a remote's API server calls its injection webhook through the
// istiod Service (istiodRemote.injectionPath) and reaches the primary's
// istiod through the primary's gateway, as in a cluster.
func (l *Lab) startServiceProxy(ctx context.Context, c *cluster) error {
	if !l.net.isolated {
		return nil
	}
	svc, err := c.client.CoreV1().Services("istio-system").Get(ctx, "istiod", metav1.GetOptions{})
	if err != nil {
		if c.role == "remote" && apierrors.IsNotFound(err) {
			return nil // a remote installed without remotePilotAddress has none
		}
		return fmt.Errorf("istiod Service: %w", err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// kube-proxy does nothing for an ExternalName: cluster DNS answers
		// its name with a CNAME, and the API server calls the external
		// name itself.
		return nil
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
		var dial func() (net.Conn, error)
		if c.role == "remote" {
			name := p.Name
			dial = func() (net.Conn, error) { return l.dialEndpoint(c, ns, svc.Name, name) }
		} else {
			to := int(p.Port)
			if p.TargetPort.IntValue() > 0 {
				to = p.TargetPort.IntValue()
			}
			if int(p.Port) == to && istiodListensOnAll(to) {
				continue // istiod's own socket answers on the cluster IP too
			}
			dial = func() (net.Conn, error) { return dialIn(ns, net.JoinHostPort(target, strconv.Itoa(to))) }
		}
		ln, err := listenIn(ns, net.JoinHostPort(ip, strconv.Itoa(int(p.Port))))
		if err != nil {
			return fmt.Errorf("service proxy for istiod:%d: %w", p.Port, err)
		}
		l.addCloser(ln)
		go proxyAccept(ln, dial)
	}
	return nil
}

// dialEndpoint connects, from the cluster's namespace, to the first
// endpoint of Service istio-system/<service>'s EndpointSlices that answers
// on the slice port named port, reading the slices at each connection as
// kube-proxy follows them.
func (l *Lab) dialEndpoint(c *cluster, ns, service, port string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slices, err := c.client.DiscoveryV1().EndpointSlices("istio-system").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, err
	}
	last := fmt.Errorf("no endpoint of %s for port %s", service, port)
	for _, s := range slices.Items {
		for _, sp := range s.Ports {
			if sp.Port == nil || (sp.Name == nil && port != "") || (sp.Name != nil && *sp.Name != port) {
				continue
			}
			for _, e := range s.Endpoints {
				for _, a := range e.Addresses {
					conn, err := dialIn(ns, net.JoinHostPort(a, strconv.Itoa(int(*sp.Port))))
					if err == nil {
						return conn, nil
					}
					last = err
				}
			}
		}
	}
	return nil, last
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

package lab

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// startGateways runs, for every cluster whose east-west gateway has an
// address, the stand-in for the gateway at that address (see startGateway).
func (l *Lab) startGateways() error {
	for _, name := range l.names {
		if addr := l.GatewayAddress(name); addr != "" {
			if err := l.startGateway(l.clusters[name], addr); err != nil {
				return err
			}
		}
	}
	return nil
}

// startGateway runs listeners standing in for a cluster's east-west gateway
// at addr: 15443 (TLS, presenting a workload certificate from the cluster's
// Istio CA, as the passthrough target of AUTO_PASSTHROUGH would), 15021
// (status, HTTP /healthz/ready), and on primaries 15012 and 15017 forwarded
// to istiod.
func (l *Lab) startGateway(c *cluster, addr string) error {
	name := c.name
	ns := l.net.ns(name)
	cert, err := l.gatewayCert(c)
	if err != nil {
		return err
	}
	c.gatewayCert.Store(&cert)
	if !l.scenario.has(name, FaultGatewayRefusing) { // refusing: nothing listens on 15443
		ln, err := listenIn(ns, net.JoinHostPort(addr, "15443"))
		if err != nil {
			return fmt.Errorf("%s gateway stand-in: %w", name, err)
		}
		l.addCloser(ln)
		if l.scenario.has(name, FaultGatewayHanging) {
			go holdOpen(ln)
		} else {
			// The certificate of the moment: SetCACerts restarts the
			// gateway with one from the new CA.
			tl := tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12,
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.gatewayCert.Load(), nil }})
			go serveTLS(tl)
		}
	}

	st, err := listenIn(ns, net.JoinHostPort(addr, "15021"))
	if err != nil {
		return fmt.Errorf("%s gateway status stand-in: %w", name, err)
	}
	l.addCloser(st)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(st) }()

	if c.role == "primary" {
		for _, port := range []string{"15012", "15017"} {
			fl, err := listenIn(ns, net.JoinHostPort(addr, port))
			if err != nil {
				return fmt.Errorf("%s gateway stand-in %s: %w", name, port, err)
			}
			l.addCloser(fl)
			to := net.JoinHostPort(l.net.addr(name), port)
			go forward(fl, func() (net.Conn, error) { return net.DialTimeout("tcp", to, 5*time.Second) })
		}
	}
	return nil
}

func (l *Lab) addCloser(c io.Closer) {
	l.mu.Lock()
	l.closers = append(l.closers, c)
	l.mu.Unlock()
}

// gatewayCert issues the certificate the stand-in presents: a workload
// certificate of the gateway's service account from the cluster's Istio CA
// (a lab-made root of its own for a self-signed cluster).
func (l *Lab) gatewayCert(c *cluster) (tls.Certificate, error) {
	issuer := c.meshCA
	if issuer == nil || l.scenario.has(c.name, FaultGatewayWrongCert) {
		r, err := newRootCA(c.name+" self-signed istiod root", "cluster.local")
		if err != nil {
			return tls.Certificate{}, err
		}
		issuer = r
	}
	td := l.scenario.TrustDomain
	for _, f := range l.scenario.faultsFor(c.name, FaultTrustDomain) {
		td = f.Value
	}
	// The gateway Pod's identity: istioctl's chart names the ServiceAccount
	// <name>-service-account, Helm's gateway chart <name>.
	ns, sa := "istio-system", "istio-eastwestgateway-service-account"
	if c.installed != nil && c.installed.gatewaySA != "" {
		ns, sa = c.installed.gatewayNamespace, c.installed.gatewaySA
	}
	certPEM, keyPEM, _, _, err := issuer.issue(certReq{
		cn:     "istio-eastwestgateway",
		uris:   []string{"spiffe://" + td + "/ns/" + ns + "/sa/" + sa},
		server: true, client: true,
		validFor: 24 * time.Hour,
	})
	if err != nil {
		return tls.Certificate{}, err
	}
	chain := append(append([]byte{}, certPEM...), issuer.chainPEM...)
	return tls.X509KeyPair(chain, keyPEM)
}

func serveTLS(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func(conn net.Conn) {
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if tc, ok := conn.(*tls.Conn); ok {
				_ = tc.Handshake()
			}
			buf := make([]byte, 1024)
			_, _ = conn.Read(buf)
		}(conn)
	}
}

// forward copies every connection accepted on ln to a connection from dial.
func forward(ln net.Listener, dial func() (net.Conn, error)) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go func(in net.Conn) {
			defer in.Close()
			out, err := dial()
			if err != nil {
				return
			}
			defer out.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
			go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
			<-done
		}(conn)
	}
}

// startDebugForward makes istiod's debug port reachable from this machine
// the way kubectl port-forward does: a listener on this machine's loopback
// (127.<octet>.<k>.2:8080) whose connections are made from the cluster's
// own loopback, so istiod serves /debug/* without authentication, as it
// does for `istioctl remote-clusters`.
func (l *Lab) startDebugForward(c *cluster) error {
	if !l.net.isolated || c.debugForward {
		return nil // istiod listens on the loopback address itself, or a restarted istiod keeps its forward
	}
	ln, err := listenIn("", net.JoinHostPort(l.net.debugAddr(c.name), "8080"))
	if err != nil {
		return fmt.Errorf("istiod debug forward: %w", err)
	}
	c.debugForward = true
	l.addCloser(ln)
	ns := l.net.ns(c.name)
	go forward(ln, func() (net.Conn, error) { return dialIn(ns, "127.0.0.1:8080") })
	return nil
}

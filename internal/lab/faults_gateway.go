package lab

import (
	"net"
	"sync"
)

// Faults of the east-west gateway's stand-in, for the connectivity checks
// and the gateway probe.
const (
	// FaultNoGateway: the cluster has no east-west gateway at all, though
	// its network needs one.
	FaultNoGateway = "no-gateway"
	// FaultGatewayRefusing: the gateway Service has its address, but
	// nothing listens on 15443 there (connection refused).
	FaultGatewayRefusing = "gateway-refusing"
	// FaultGatewayHanging: 15443 accepts connections and never answers
	// (a black hole behind the load balancer).
	FaultGatewayHanging = "gateway-hanging"
	// FaultGatewayWrongCert: 15443 presents a certificate from a root no
	// cluster of the mesh trusts (something other than the gateway answers).
	FaultGatewayWrongCert = "gateway-wrong-cert"
)

func init() {
	for _, f := range []string{FaultNoGateway, FaultGatewayRefusing, FaultGatewayHanging, FaultGatewayWrongCert} {
		knownFaults[f] = true
	}
}

// holdOpen accepts connections and keeps them open, silent, until the
// listener closes: what a hung gateway looks like from a client.
func holdOpen(ln net.Listener) {
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
}

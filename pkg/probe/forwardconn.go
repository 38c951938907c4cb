package probe

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	streamhttp "k8s.io/streaming/pkg/httpstream"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// PortForwardConn opens one connection to port of a pod through the API
// server's pods/portforward subresource (the dialer portForwardGet uses),
// for a protocol that wants a net.Conn: gRPC to istiod's xDS port. It is a
// stream pair of the run's connection to the pod (fw; nil: one of its
// own); closing it ends the pair. A failure the kubelet reports on the
// error stream (nothing listening at the port) ends reads with its words.
func PortForwardConn(ctx context.Context, fw *Forwards, cl *kube.Client, namespace, pod string, port int) (net.Conn, error) {
	pair, err := fw.open(ctx, cl, namespace, pod, port)
	if err != nil {
		return nil, err
	}
	fc := &forwardedConn{pair: pair, data: pair.data, pod: namespace + "/" + pod, port: port, errDone: make(chan struct{})}
	go func() {
		defer close(fc.errDone)
		if msg := <-pair.reason; msg != "" {
			fc.fail(msg)
		}
	}()
	return fc, nil
}

// forwardedConn is a forwarded stream as a net.Conn. Deadlines are not
// supported by the stream; gRPC bounds its calls by their contexts and
// closes the connection when done.
type forwardedConn struct {
	pair *streamPair
	data streamhttp.Stream
	pod  string
	port int

	mu      sync.Mutex
	remote  string        // what the kubelet said went wrong
	errDone chan struct{} // closed when the error stream has ended
}

// errorStreamGrace is how long a read that met the end of the data stream
// waits for the kubelet's reason on the error stream, which it writes as
// it closes the data stream.
const errorStreamGrace = time.Second

func (c *forwardedConn) fail(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remote = msg
	_ = c.data.Reset()
}

// waitForReason gives the kubelet's reason, written as it closes the data
// stream, a moment to arrive.
func (c *forwardedConn) waitForReason() {
	select {
	case <-c.errDone:
	case <-time.After(errorStreamGrace):
	}
}

// reason is what the kubelet said went wrong, if it said anything: a
// protocol on top of the connection (HTTP/2) may report only that the
// connection failed. It does not wait: a read that failed has already
// waited for the reason.
func (c *forwardedConn) reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remote == "" {
		return ""
	}
	return fmt.Sprintf("port-forward to %s:%d: %s", c.pod, c.port, c.remote)
}

func (c *forwardedConn) remoteErr(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remote != "" && err != nil {
		return fmt.Errorf("port-forward to %s:%d: %s", c.pod, c.port, c.remote)
	}
	return err
}

func (c *forwardedConn) Read(b []byte) (int, error) {
	n, err := c.data.Read(b)
	if err != nil {
		// The pod's side closed or reset; if the kubelet says why, say that.
		c.waitForReason()
	}
	return n, c.remoteErr(err)
}

func (c *forwardedConn) Write(b []byte) (int, error) {
	n, err := c.data.Write(b)
	return n, c.remoteErr(err)
}

func (c *forwardedConn) Close() error {
	c.pair.release()
	return nil
}

func (c *forwardedConn) LocalAddr() net.Addr { return forwardAddr("port-forward") }
func (c *forwardedConn) RemoteAddr() net.Addr {
	return forwardAddr(fmt.Sprintf("%s:%d", c.pod, c.port))
}

func (c *forwardedConn) SetDeadline(time.Time) error      { return nil }
func (c *forwardedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *forwardedConn) SetWriteDeadline(time.Time) error { return nil }

type forwardAddr string

func (a forwardAddr) Network() string { return "port-forward" }
func (a forwardAddr) String() string  { return string(a) }

// forwardedConns are the connections one client dialed, and its failed
// dials, kept to tell why its call failed: the HTTP/2 client above them
// reports only that no connection could be established.
type forwardedConns struct {
	mu       sync.Mutex
	conns    []*forwardedConn
	dialErrs []error
}

func (f *forwardedConns) add(conn net.Conn, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.dialErrs = append(f.dialErrs, err)
	}
	if fc, ok := conn.(*forwardedConn); ok {
		f.conns = append(f.conns, fc)
	}
}

// reason is the first failed dial's error, else the first kubelet reason
// of the connections dialed.
func (f *forwardedConns) reason() string {
	f.mu.Lock()
	conns := append([]*forwardedConn(nil), f.conns...)
	dialErrs := f.dialErrs
	f.mu.Unlock()
	if len(dialErrs) > 0 {
		return dialErrs[0].Error()
	}
	for _, c := range conns {
		if r := c.reason(); r != "" {
			return r
		}
	}
	return ""
}

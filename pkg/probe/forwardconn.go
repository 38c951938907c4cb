package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	streamhttp "k8s.io/streaming/pkg/httpstream"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// PortForwardConn opens one connection to port of a pod through the API
// server's pods/portforward subresource (the dialer portForwardGet uses),
// for a protocol that wants a net.Conn: gRPC to istiod's xDS port. Closing
// it closes the forwarded stream and the tunnel. A failure the kubelet
// reports on the error stream (nothing listening at the port) ends reads
// with its words.
func PortForwardConn(ctx context.Context, cl *kube.Client, namespace, pod string, port int) (net.Conn, error) {
	dialer, err := cl.PortForwardDialer(namespace, pod)
	if err != nil {
		return nil, err
	}
	conn, err := dialContext(ctx, dialer)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(port))
	headers.Set(corev1.PortForwardRequestIDHeader, "0")
	errorStream, err := conn.CreateStream(headers)
	if err != nil {
		_ = conn.Close()
		return nil, ctxOr(ctx, fmt.Errorf("creating the error stream: %w", err))
	}
	_ = errorStream.Close() // nothing is sent on it
	fc := &forwardedConn{tunnel: conn, pod: namespace + "/" + pod, port: port, errDone: make(chan struct{})}
	// Read the error stream before the data stream exists: the kubelet may
	// write its reason (nothing listening) and reset the data stream before
	// our request for it has been answered.
	go func() {
		defer close(fc.errDone)
		b, _ := io.ReadAll(io.LimitReader(errorStream, 4096))
		if msg := strings.TrimSpace(string(b)); msg != "" {
			fc.fail(msg)
		}
	}()
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		_ = conn.Close()
		fc.waitForReason()
		return nil, ctxOr(ctx, fc.remoteErr(fmt.Errorf("creating the data stream: %w", err)))
	}
	fc.setData(data)
	return fc, nil
}

// forwardedConn is a forwarded stream as a net.Conn. Deadlines are not
// supported by the stream; gRPC bounds its calls by their contexts and
// closes the connection when done.
type forwardedConn struct {
	tunnel streamhttp.Connection
	data   streamhttp.Stream
	pod    string
	port   int

	mu      sync.Mutex
	remote  string        // what the kubelet said went wrong
	errDone chan struct{} // closed when the error stream has ended
	once    sync.Once
}

// errorStreamGrace is how long a read that met the end of the data stream
// waits for the kubelet's reason on the error stream, which it writes as
// it closes the data stream.
const errorStreamGrace = time.Second

func (c *forwardedConn) setData(data streamhttp.Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data = data
	if c.remote != "" {
		_ = data.Reset()
	}
}

func (c *forwardedConn) fail(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remote = msg
	if c.data != nil {
		_ = c.data.Reset()
	}
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
	c.once.Do(func() {
		_ = c.data.Reset()
		_ = c.tunnel.Close()
	})
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

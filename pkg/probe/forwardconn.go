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
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		_ = conn.Close()
		return nil, ctxOr(ctx, fmt.Errorf("creating the data stream: %w", err))
	}
	fc := &forwardedConn{tunnel: conn, data: data, pod: namespace + "/" + pod, port: port, errDone: make(chan struct{})}
	go func() {
		defer close(fc.errDone)
		b, _ := io.ReadAll(io.LimitReader(errorStream, 4096))
		if msg := strings.TrimSpace(string(b)); msg != "" {
			fc.fail(msg)
		}
	}()
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

func (c *forwardedConn) fail(msg string) {
	c.mu.Lock()
	c.remote = msg
	c.mu.Unlock()
	_ = c.data.Reset()
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
	if err == io.EOF {
		// The pod's side closed; if the kubelet says why, say that.
		select {
		case <-c.errDone:
		case <-time.After(errorStreamGrace):
		}
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

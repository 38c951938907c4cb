package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/client-go/tools/portforward"
	streamhttp "k8s.io/streaming/pkg/httpstream"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// portForwardGet sends one GET for path to port of a pod through the API
// server's pods/portforward subresource, the way kubectl port-forward and
// istioctl reach istiod: WebSockets first (SPDY tunnelled over them, which
// client-go recommends since Kubernetes 1.31), SPDY when the server cannot
// upgrade to WebSockets. The request travels on a forwarded stream of the
// run's connection to the pod (fw; nil: one of its own), so no local port
// is opened. It returns the body of a 200 answer; every step ends when ctx
// does, even where client-go takes no context.
func portForwardGet(ctx context.Context, fw *Forwards, cl *kube.Client, namespace, pod string, port int, path string, limit int64) ([]byte, error) {
	var body []byte
	err := portForwardStream(ctx, fw, cl, namespace, pod, port, path, func(r io.Reader) error {
		b, err := io.ReadAll(io.LimitReader(r, limit))
		body = b
		return err
	})
	return body, err
}

// portForwardStream is portForwardGet for answers too large to hold: read
// consumes the body of a 200 answer as it arrives (istiod's registry of a
// large mesh is tens of megabytes), and its error is the call's.
func portForwardStream(ctx context.Context, fw *Forwards, cl *kube.Client, namespace, pod string, port int, path string, read func(io.Reader) error) error {
	pair, err := fw.open(ctx, cl, namespace, pod, port)
	if err != nil {
		return err
	}
	defer pair.release()
	// A stream that hangs (a kubelet that accepted the upgrade and went
	// silent) ends with ctx; the connection stays for the other streams.
	stop := context.AfterFunc(ctx, pair.release)
	defer stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost"+path, nil)
	if err != nil {
		return err
	}
	req.Close = true
	err = exchange(req, pair.data, read)
	if err == nil {
		return nil
	}
	// The kubelet says on the error stream why the pod's port did not
	// answer (nothing listening, the pod gone); prefer its words.
	_ = pair.data.Reset()
	select {
	case msg := <-pair.reason:
		if msg != "" && ctx.Err() == nil {
			return errors.New(msg)
		}
	case <-time.After(errorStreamGrace):
	case <-ctx.Done():
	}
	return ctxOr(ctx, err)
}

// exchange writes req on the stream and hands the body of a 200 answer to
// read.
func exchange(req *http.Request, stream io.ReadWriter, read func(io.Reader) error) error {
	if err := req.Write(stream); err != nil {
		return fmt.Errorf("sending %s: %w", req.URL.Path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(stream), req)
	if err != nil {
		return fmt.Errorf("reading the answer to %s: %w", req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", req.URL.Path, resp.Status)
	}
	if err := read(resp.Body); err != nil {
		return fmt.Errorf("reading the answer to %s: %w", req.URL.Path, err)
	}
	return nil
}

// dialContext upgrades the connection, giving up when ctx ends: client-go's
// dialers take no context, so a dial still under way then is closed when
// it completes.
func dialContext(ctx context.Context, d streamhttp.Dialer) (streamhttp.Connection, error) {
	type dialed struct {
		conn streamhttp.Connection
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		conn, protocol, err := d.Dial(portforward.PortForwardProtocolV1Name)
		if err == nil && protocol != portforward.PortForwardProtocolV1Name {
			_ = conn.Close()
			conn, err = nil, fmt.Errorf("the server speaks port-forward protocol %q, not %q", protocol, portforward.PortForwardProtocolV1Name)
		}
		ch <- dialed{conn, err}
	}()
	select {
	case d := <-ch:
		if d.err != nil {
			return nil, fmt.Errorf("upgrading to a port-forward stream: %w", d.err)
		}
		return d.conn, nil
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.conn != nil {
				_ = d.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// ctxOr returns ctx's error once it has ended (the cause of a closed
// stream), else err.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

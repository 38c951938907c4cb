package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	streamhttp "k8s.io/streaming/pkg/httpstream"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// Forwards are the port-forward connections of one run, one per pod. Every
// document read from an istiod replica (clusterz, registryz, endpointShardz)
// and its xDS stream travels as a stream pair of that pod's connection, the
// way kubectl port-forward carries each forwarded connection as a stream
// pair (a request ID) of one upgraded connection: one TLS handshake with the
// API server and one upgrade to the kubelet per pod, not one per document.
// The zero value is not usable; a nil *Forwards gives each caller a
// connection of its own, closed when its streams are.
type Forwards struct {
	mu   sync.Mutex
	pods map[forwardKey]*podForward
}

// forwardKey names a pod as reached by one client (its server and its
// credentials).
type forwardKey struct {
	client         *kube.Client
	namespace, pod string
}

// NewForwards returns an empty set of connections; Close ends them.
func NewForwards() *Forwards {
	return &Forwards{pods: map[forwardKey]*podForward{}}
}

// Close closes every connection; streams still open on them end.
func (f *Forwards) Close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	pods := f.pods
	f.pods = map[forwardKey]*podForward{}
	f.mu.Unlock()
	for _, p := range pods {
		p.close()
	}
}

// podForward is one pod's connection: dialled by the first caller that
// needs it, under that caller's context. A dial its caller gave up on
// (the caller's context ended) is forgotten, so that the next caller dials
// again rather than inherit someone else's deadline; any other failure is
// the pod's for the rest of the run.
type podForward struct {
	mu      sync.Mutex
	dialing chan struct{} // closed when the dial under way ends; nil when none is
	conn    streamhttp.Connection
	err     error
	nextID  int
	closed  bool
}

func (p *podForward) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// connection returns the pod's connection, dialling it if no one has.
func (p *podForward) connection(ctx context.Context, dial func(context.Context) (streamhttp.Connection, error)) (streamhttp.Connection, int, error) {
	for {
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			return nil, 0, fmt.Errorf("port-forward: the run's connections are closed")
		case p.conn != nil && lost(p.conn):
			// The API server or the kubelet ended it (an idle timeout,
			// a restart): dial again.
			p.conn = nil
			p.mu.Unlock()
			continue
		case p.conn != nil || p.err != nil:
			id := p.nextID
			p.nextID++
			conn, err := p.conn, p.err
			p.mu.Unlock()
			return conn, id, err
		case p.dialing != nil:
			wait := p.dialing
			p.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		}
		done := make(chan struct{})
		p.dialing = done
		p.mu.Unlock()

		conn, err := dial(ctx)
		p.mu.Lock()
		p.dialing = nil
		close(done)
		switch {
		case p.closed && conn != nil:
			_ = conn.Close()
			err = fmt.Errorf("port-forward: the run's connections are closed")
		case err != nil && ctx.Err() != nil:
			// Given up by its caller, not refused by the pod.
		default:
			p.conn, p.err = conn, err
		}
		p.mu.Unlock()
		if err != nil {
			return nil, 0, err
		}
	}
}

// lost reports whether conn has been closed from the other side.
func lost(conn streamhttp.Connection) bool {
	select {
	case <-conn.CloseChan():
		return true
	default:
		return false
	}
}

// streamPair is one forwarded connection to a port of a pod: the data
// stream, and what the kubelet says on the error stream (nothing
// listening, the pod gone), which arrives on reason when the error stream
// ends.
type streamPair struct {
	data   streamhttp.Stream
	reason <-chan string
	// release ends the pair: its streams, and the connection when the pair
	// had one of its own.
	release func()
}

// open opens a stream pair to port of the pod through the API server of
// cl, on the run's connection to that pod (its own connection when f is
// nil).
func (f *Forwards) open(ctx context.Context, cl *kube.Client, namespace, pod string, port int) (*streamPair, error) {
	dial := func(ctx context.Context) (streamhttp.Connection, error) {
		dialer, err := cl.PortForwardDialer(namespace, pod)
		if err != nil {
			return nil, err
		}
		return dialContext(ctx, dialer)
	}
	var (
		conn streamhttp.Connection
		id   int
		err  error
		own  bool
	)
	if f == nil {
		conn, err = dial(ctx)
		own = true
	} else {
		f.mu.Lock()
		key := forwardKey{cl, namespace, pod}
		p := f.pods[key]
		if p == nil {
			p = &podForward{}
			f.pods[key] = p
		}
		f.mu.Unlock()
		conn, id, err = p.connection(ctx, dial)
	}
	if err != nil {
		return nil, err
	}
	closeOwn := func() {
		if own {
			_ = conn.Close()
		}
	}

	// One error stream and one data stream per forwarded connection, with
	// the headers kubectl sends (k8s.io/api/core/v1's port-forward names).
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(port))
	headers.Set(corev1.PortForwardRequestIDHeader, strconv.Itoa(id))
	errorStream, err := conn.CreateStream(headers)
	if err != nil {
		closeOwn()
		return nil, ctxOr(ctx, fmt.Errorf("creating the error stream: %w", err))
	}
	_ = errorStream.Close() // nothing is sent on it
	// Read the error stream before the data stream exists: the kubelet may
	// write its reason (nothing listening) and reset the data stream before
	// our request for it has been answered.
	reason := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(errorStream, 4096))
		reason <- strings.TrimSpace(string(b))
	}()
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		// The kubelet may have refused the port: its words explain more.
		err = fmt.Errorf("creating the data stream: %w", err)
		select {
		case msg := <-reason:
			if msg != "" {
				err = errors.New(msg)
			}
		case <-time.After(errorStreamGrace):
		case <-ctx.Done():
		}
		_ = errorStream.Reset()
		conn.RemoveStreams(errorStream)
		closeOwn()
		return nil, ctxOr(ctx, err)
	}
	var once sync.Once
	return &streamPair{data: data, reason: reason, release: func() {
		once.Do(func() {
			_ = data.Reset()
			_ = errorStream.Reset()
			conn.RemoveStreams(errorStream, data)
			closeOwn()
		})
	}}, nil
}

package faults

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// faultServer is the misbehaving HTTPS server: on its own it answers
// every request with a fault (hung, 401, 500 with an HTML body, …); given an
// upstream (a lab cluster), it forwards requests there with the lab's
// credentials and plants faults in some answers (a kind forbidden, a body
// cut off, an object rewritten). Each fault is what a real API server, a
// proxy or a load balancer in front of one can do, and what client-go
// complains about.
type faultServer struct {
	*httptest.Server
	stop chan struct{} // closed at cleanup: releases hung handlers

	upstream *url.URL
	rt       http.RoundTripper

	// fault answers a request itself (true) or lets it through (false).
	fault func(s *faultServer, w http.ResponseWriter, r *http.Request) bool
	// rewrite changes the JSON of an upstream answer (nil: unchanged).
	rewrite func(path string, doc map[string]any)

	mu    sync.Mutex
	count map[string]int // requests seen, by fault key (see hits)
}

// newFaultServer starts a TLS server; upstream (may be nil) is the lab
// cluster it fronts.
func newFaultServer(t *testing.T, upstream *rest.Config, fault func(*faultServer, http.ResponseWriter, *http.Request) bool,
	rewrite func(string, map[string]any)) *faultServer {
	t.Helper()
	s := &faultServer{stop: make(chan struct{}), fault: fault, rewrite: rewrite, count: map[string]int{}}
	if upstream != nil {
		u, err := url.Parse(upstream.Host)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := rest.TransportFor(upstream)
		if err != nil {
			t.Fatal(err)
		}
		s.upstream, s.rt = u, rt
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Config.ErrorLog = quietLog() // TLS handshake errors are the point of some rows
	s.StartTLS()
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.stop) }) // runs first: handlers return, then Close
	return s
}

// caData is the PEM of the CA that signed the server's certificate.
func (s *faultServer) caData() []byte {
	return pemCert(s.Certificate().Raw)
}

// hits counts a request under key and returns the count so far.
func (s *faultServer) hits(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count[key]++
	return s.count[key]
}

func (s *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	if s.fault != nil && s.fault(s, w, r) {
		return
	}
	if s.upstream == nil {
		status(w, http.StatusNotFound, "NotFound", "no upstream")
		return
	}
	s.forward(w, r)
}

// forward passes the request to the upstream cluster (a reverse proxy:
// port-forwards upgrade through it), asking for JSON so that answers can be
// rewritten (client-go decodes whatever content type comes back), and
// rewrites the answer when asked to.
func (s *faultServer) forward(w http.ResponseWriter, r *http.Request) {
	p := &httputil.ReverseProxy{
		Transport: s.rt,
		ErrorLog:  quietLog(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(s.upstream)
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Accept-Encoding")
			if strings.Contains(pr.Out.Header.Get("Accept"), "protobuf") {
				pr.Out.Header.Set("Accept", "application/json")
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if s.rewrite == nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
				r.URL.Query().Get("watch") == "true" {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			var doc map[string]any
			if json.Unmarshal(body, &doc) == nil {
				s.rewrite(r.URL.Path, doc)
				body, _ = json.Marshal(doc)
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
			return nil
		},
	}
	p.ServeHTTP(w, r)
}

// hang holds the request until the client gives up or the test ends.
func (s *faultServer) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.stop:
	}
}

// status writes a Kubernetes Status error.
func status(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"code": code, "reason": reason, "message": message,
	})
}

// htmlError writes what a load balancer in front of an API server writes.
func htmlError(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center><hr><center>nginx</center></body></html>\n",
		code, http.StatusText(code), code, http.StatusText(code))
}

// isList says whether r lists the resource (a path ending in /resource).
func isList(r *http.Request, resource string) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/"+resource)
}

// items are a list document's items.
func items(doc map[string]any) []any {
	l, _ := doc["items"].([]any)
	return l
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// stallListener accepts TCP connections and never speaks: a server whose
// TLS handshake never comes.
func stallListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// refusedAddress is a loopback port nobody listens on.
func refusedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

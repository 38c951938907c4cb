// Package proof checks the trust matrix against real TLS: for every ordered
// pair (A, B) of primaries it issues a workload certificate from A's CA, serves
// it with crypto/tls on loopback, and connects with a client that trusts B's
// bundle, then does the same with client certificates both ways (mTLS). The
// verdicts must agree with trust.BuildMatrix. It takes a *model.Fleet, so it
// runs on fixtures (its test) and on a fleet collected from live clusters
// (the lab's end-to-end tests) alike.
//
// Nothing here is a check: it listens on loopback, which checks never do.
//
// On a live fleet (the lab's end-to-end tests):
//
//	f := fleet.Collect(ctx, flags, contexts, fleet.Options{…}) // secret data stays in memory
//	results, m := proof.Handshakes(ctx, f, trust.Options{})
//	for _, d := range proof.Compare(results, m) {
//		t.Error(d.Why)
//	}
//
// The lab can install the issue's scenarios with pkitest.Scenarios() and
// Cluster.TrustManifests (the CA secrets and istio-ca-root-cert ConfigMaps).
package proof

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks/trust"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// ServerName is the DNS name the proof's leaves carry besides their SPIFFE
// ID, so that the client verifies the server with crypto/tls's own,
// unmodified verification (Istio's leaves have no DNS names; Envoy matches
// SPIFFE IDs instead, which is a name check, not a trust check).
const ServerName = "proof.meshfed.invalid"

// Outcome is one kind of handshake between two clusters' endpoints.
type Outcome struct {
	// Done is false when no handshake could be made (see Result.Skipped).
	Done bool
	OK   bool
	// Err is the first error seen on either side, when not OK.
	Err string
}

// Result is what real TLS said for one ordered pair.
type Result struct {
	From, To string
	// Cell is the matrix's verdict for (From, To).
	Cell model.TrustCell
	// TLS: a server with From's leaf and chain, a client trusting To's bundle.
	TLS Outcome
	// MTLS: as TLS, and the client presents To's leaf, which the server
	// verifies with From's bundle.
	MTLS Outcome
	// Skipped says why no handshake was possible (no readable key).
	Skipped string
}

// endpoint is one cluster's workload: a leaf from its CA, and its bundles.
type endpoint struct {
	cert    *tls.Certificate
	why     string
	bundles []trust.Bundle
}

// Handshakes runs the handshakes for every ordered pair of primaries, at
// opts.Now (both sides verify at that time).
func Handshakes(ctx context.Context, f *model.Fleet, opts trust.Options) ([]Result, model.TrustMatrix) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	m := trust.BuildMatrix(f, opts)
	peers := trust.Peers(f)
	eps := map[string]endpoint{}
	for _, p := range peers {
		eps[p.Context] = newEndpoint(p, opts.Now)
	}
	var out []Result
	for _, a := range peers {
		for _, b := range peers {
			cell, _ := m.Cell(a.Context, b.Context)
			r := Result{From: a.Context, To: b.Context, Cell: cell}
			ea, eb := eps[a.Context], eps[b.Context]
			switch {
			case ea.cert == nil:
				r.Skipped = ea.why
			case len(eb.bundles) == 0:
				r.Skipped = b.Context + " has no readable trust bundle"
			default:
				r.TLS = allBundles(ctx, ea.cert, nil, eb.bundles, nil, opts.Now)
				if eb.cert != nil && len(ea.bundles) > 0 {
					r.MTLS = allBundles(ctx, ea.cert, eb.cert, eb.bundles, ea.bundles, opts.Now)
				}
			}
			out = append(out, r)
		}
	}
	return out, m
}

func newEndpoint(p trust.Peer, now time.Time) endpoint {
	e := endpoint{bundles: p.Bundles}
	ca := p.CA
	switch {
	case ca.Source != mesh.CAPluggedIn && ca.Source != mesh.CASelfSigned:
		e.why = p.Context + "'s CA is not in the cluster (" + string(ca.Source) + ")"
		return e
	case ca.Signing == nil || ca.Key() == nil:
		e.why = fmt.Sprintf("%s's signing certificate or key is not readable: %v", p.Context, ca.Err)
		return e
	}
	leaf, key, err := pki.IssueLeaf(ca.Signing, ca.Key(), pki.SPIFFEID(p.TrustDomain, "default", "default"), []string{ServerName}, now)
	if err != nil {
		e.why = fmt.Sprintf("%s's CA cannot issue a leaf: %v", p.Context, err)
		return e
	}
	chain := [][]byte{leaf.Raw}
	for _, c := range ca.Chain { // exactly what istiod appends to the leaves it issues
		chain = append(chain, c.Raw)
	}
	e.cert = &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}
	return e
}

// allBundles is OK when the handshake succeeds under every combination of
// the client's and the server's bundles.
func allBundles(ctx context.Context, server, client *tls.Certificate, clientBundles, serverBundles []trust.Bundle, now time.Time) Outcome {
	if serverBundles == nil {
		serverBundles = []trust.Bundle{{}}
	}
	for _, cb := range clientBundles {
		for _, sb := range serverBundles {
			if err := Handshake(ctx, server, client, cb.Roots, sb.Roots, now); err != nil {
				return Outcome{Done: true, Err: err.Error()}
			}
		}
	}
	return Outcome{Done: true, OK: true}
}

// Handshake serves server on loopback and connects a client that trusts
// clientRoots; with a client certificate the server requires and verifies
// it against serverRoots. Both sides verify at now with crypto/tls's own
// verification, then exchange a message so that a late alert (TLS 1.3
// verifies the client's certificate after the client thinks it is done)
// surfaces.
func Handshake(ctx context.Context, server, client *tls.Certificate, clientRoots, serverRoots []*x509.Certificate, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	clock := func() time.Time { return now }
	sc := &tls.Config{Certificates: []tls.Certificate{*server}, Time: clock, MinVersion: tls.VersionTLS12}
	if client != nil {
		sc.ClientAuth, sc.ClientCAs = tls.RequireAndVerifyClientCert, pki.Pool(serverRoots)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", sc)
	if err != nil {
		return err
	}
	defer ln.Close()
	serverErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := conn.(*tls.Conn)
		if err := tc.HandshakeContext(ctx); err != nil {
			serverErr <- fmt.Errorf("server: %w", err)
			return
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(tc, buf); err != nil {
			serverErr <- fmt.Errorf("server: %w", err)
			return
		}
		_, err = tc.Write([]byte("pong"))
		serverErr <- err
	}()
	cc := &tls.Config{RootCAs: pki.Pool(clientRoots), ServerName: ServerName, Time: clock, MinVersion: tls.VersionTLS12}
	if client != nil {
		cc.Certificates = []tls.Certificate{*client}
	}
	d := tls.Dialer{Config: cc}
	clientErr := func() error {
		conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("ping")); err != nil {
			return fmt.Errorf("client: %w", err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(conn, buf); err != nil {
			return fmt.Errorf("client: %w", err)
		}
		return nil
	}()
	if clientErr != nil {
		ln.Close()
	}
	sErr := <-serverErr
	return errors.Join(clientErr, sErr)
}

// Disagreement is a pair where the matrix and real TLS differ.
type Disagreement struct {
	Result Result
	Why    string
}

// Compare returns every pair where the matrix and the handshakes disagree:
// one-way TLS must succeed exactly when the cell (From, To) is ok, mTLS
// exactly when both (From, To) and (To, From) are. Unknown cells and skipped
// pairs are not compared; a skipped pair whose cell is ok is a disagreement
// (the matrix claimed what nothing could show).
func Compare(results []Result, m model.TrustMatrix) []Disagreement {
	var out []Disagreement
	for _, r := range results {
		if r.Cell.Verdict == model.TrustUnknown {
			continue
		}
		if r.Skipped != "" {
			if r.Cell.Verdict == model.TrustOK {
				out = append(out, Disagreement{r, "the matrix says ok but no handshake was possible: " + r.Skipped})
			}
			continue
		}
		if want := r.Cell.Verdict == model.TrustOK; r.TLS.OK != want {
			out = append(out, Disagreement{r, fmt.Sprintf("TLS %s → %s: matrix says %s (%s), handshake ok=%v (%s)", r.From, r.To, r.Cell.Verdict, r.Cell.Reason, r.TLS.OK, r.TLS.Err)})
		}
		back, _ := m.Cell(r.To, r.From)
		if back.Verdict == model.TrustUnknown || !r.MTLS.Done {
			continue
		}
		if want := r.Cell.Verdict == model.TrustOK && back.Verdict == model.TrustOK; r.MTLS.OK != want {
			out = append(out, Disagreement{r, fmt.Sprintf("mTLS %s ↔ %s: matrix says %s/%s, handshake ok=%v (%s)", r.From, r.To, r.Cell.Verdict, back.Verdict, r.MTLS.OK, r.MTLS.Err)})
		}
	}
	return out
}

package fleet

import "time"

// Probes are the results of the live probes (pkg/probe), recorded as data
// next to what was read so that checks stay pure: a check reads them like
// any other part of the fleet. A nil Fleet.Probes means no probe ran
// (--no-probes, or an offline run from fixtures).
type Probes struct {
	// From says where the probes ran: "this machine (<hostname>)". A probe
	// that succeeds from here says nothing about the path from a peer
	// network's pods to the gateway, and the reverse.
	From string `json:"from"`
	// Deadline is the time every probe had to finish by.
	Deadline time.Time `json:"deadline"`
	// Skipped says why no probe was dialled although probes were on (the
	// run's deadline left no time); the checks then judge nothing.
	Skipped string `json:"skipped,omitempty"`
	// Gateways holds one result per (source network, gateway address).
	Gateways []GatewayProbe `json:"gateways,omitempty"`
}

// ProbeOutcome names what a gateway probe saw, from best to worst.
type ProbeOutcome string

const (
	// ProbeOK: TLS completed (or the server asked for a client certificate
	// after presenting its own) and the certificate chains to the source
	// network's trust bundle.
	ProbeOK ProbeOutcome = "ok"
	// ProbeUntrusted: a certificate was presented, but it does not chain to
	// the roots the source network's workloads trust.
	ProbeUntrusted ProbeOutcome = "untrusted"
	// ProbeHandshake: TCP connected, the TLS handshake failed before any
	// certificate arrived (wrong SNI, no AUTO_PASSTHROUGH listener, a
	// TLS-terminating load balancer in front of 15443).
	ProbeHandshake ProbeOutcome = "handshake-failed"
	// ProbeRefused: nothing listens at the address (connection refused or reset).
	ProbeRefused ProbeOutcome = "refused"
	// ProbeTimeout: no answer before the deadline (filtered, black-holed, hung).
	ProbeTimeout ProbeOutcome = "timeout"
	// ProbeUnresolved: the address is a host name that did not resolve.
	ProbeUnresolved ProbeOutcome = "unresolved"
	// ProbeError: any other failure, described in Detail.
	ProbeError ProbeOutcome = "error"
	// ProbeNotRun: the probe could not be attempted (no trust bundle,
	// address unknown); Detail says why.
	ProbeNotRun ProbeOutcome = "not-run"
)

// GatewayProbe is one TLS dial to an east-west gateway address on its mTLS
// port, with an SNI in Istio's form for a real service of the gateway's
// network, as a proxy of the source network would dial it.
type GatewayProbe struct {
	// SourceNetwork is the network whose clients would take this path: its
	// istiod hands out Address for Network, and its workloads' trust bundle
	// judges the certificate.
	SourceNetwork string `json:"sourceNetwork"`
	// Network is the destination network; Context and Service name the
	// gateway (namespace/name).
	Network string `json:"network"`
	Context string `json:"context"`
	Service string `json:"service"`
	// Address is host:port as dialled.
	Address string `json:"address"`
	// SNI is outbound_.<port>_._.<service host>, as Envoy sends it.
	SNI     string       `json:"sni"`
	Outcome ProbeOutcome `json:"outcome"`
	// Detail is the error or the verification result, in one line.
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration"`
	// OwnNetworkTrusts says, for an untrusted certificate, whether the
	// gateway's own network trusts it: true means the two networks merely
	// sign under different roots (a trust finding); false means something
	// other than the mesh answers at the address. Nil when not judged.
	OwnNetworkTrusts *bool `json:"ownNetworkTrusts,omitempty"`
	// Presented describes the leaf certificate (subject, URI SANs, issuer,
	// SHA-256 fingerprint): public facts only.
	Presented string `json:"presented,omitempty"`
}

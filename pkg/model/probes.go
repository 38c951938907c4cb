package model

import (
	"sort"
	"time"
)

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
	// Credentials holds one result per remote secret entry of a primary:
	// a call to the peer's API server with the secret's own credentials.
	Credentials []CredentialProbe `json:"credentials,omitempty"`
	// Istiod holds each primary's istiod's own view of its clusters.
	Istiod []IstiodView `json:"istiod,omitempty"`
	// IstiodPaths holds one TLS dial per address a remote cluster reaches
	// its primary's istiod at (15012 for its proxies, 15017 for its webhook).
	IstiodPaths []IstiodPathProbe `json:"istiodPaths,omitempty"`
	// SidecarViews holds what each primary's istiod sends a sidecar of a
	// cluster for the services the doctor asks about (SidecarView).
	SidecarViews []SidecarView `json:"sidecarViews,omitempty"`
}

// IstiodPathProbe is one TLS dial, from Probes.From, to an address where a
// remote cluster reaches a primary's istiod: the URL of its injection
// webhook (15017), or the endpoints of its istiod Service (15012).
type IstiodPathProbe struct {
	// Context is the remote cluster; Via names the object that holds the
	// address (the webhook, or the istiod Service).
	Context string `json:"context"`
	Via     string `json:"via"`
	// Kind is "MutatingWebhookConfiguration" or "Service"; Namespace and
	// Name name the object.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Address is host:port as dialled.
	Address string       `json:"address"`
	Outcome ProbeOutcome `json:"outcome"`
	Detail  string       `json:"detail,omitempty"`
	// Presented describes the certificate istiod (or whatever answered)
	// presented: public facts only.
	Presented string        `json:"presented,omitempty"`
	Duration  time.Duration `json:"duration"`
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
	// CARefused says, for an untrusted certificate, that its chain reached
	// a root the source network trusts and a constraint of a CA in it
	// (a name constraint, an extended key usage, a path length) refused
	// it: the presenting cluster's CA is at fault (MF2015), not the roots
	// or what answers at the address.
	CARefused bool `json:"caRefused,omitempty"`
	// Presented describes the leaf certificate (subject, URI SANs, issuer,
	// SHA-256 fingerprint): public facts only.
	Presented string `json:"presented,omitempty"`
}

// CredentialOutcome names what a call with a remote secret's credentials saw.
type CredentialOutcome string

const (
	// CredOK: authenticated; KubeSystemUID says which cluster answered.
	CredOK CredentialOutcome = "ok"
	// CredUnauthorized: the API server rejected the credentials (401).
	CredUnauthorized CredentialOutcome = "unauthorized"
	// CredForbidden: authenticated, but not allowed to read kube-system (403).
	CredForbidden CredentialOutcome = "forbidden"
	// CredTLS: the server's certificate does not verify against the
	// kubeconfig's certificate-authority-data (or names another host).
	CredTLS CredentialOutcome = "tls-mismatch"
	// CredUnreachable: no connection (refused, no route, unresolved).
	CredUnreachable CredentialOutcome = "unreachable"
	// CredTimeout: no answer before the deadline.
	CredTimeout CredentialOutcome = "timeout"
	// CredError: anything else, described in Detail.
	CredError CredentialOutcome = "error"
	// CredNotRun: not attempted (the kubeconfig cannot be used); Detail says why.
	CredNotRun CredentialOutcome = "not-run"
)

// CredentialProbe is one call to a remote cluster's API server with the
// kubeconfig of one data key of a remote secret, from Probes.From. It holds
// public facts only: never the token or the kubeconfig.
type CredentialProbe struct {
	// Context is the primary holding the secret; Secret is namespace/name;
	// Key is the data key (the cluster ID istiod registers).
	Context string            `json:"context"`
	Secret  string            `json:"secret"`
	Key     string            `json:"key"`
	Server  string            `json:"server"`
	Outcome CredentialOutcome `json:"outcome"`
	Detail  string            `json:"detail,omitempty"`
	// KubeSystemUID is the UID of the kube-system namespace the credentials
	// reach: it names the cluster that answered.
	KubeSystemUID string `json:"kubeSystemUID,omitempty"`
	// TokenSubject and TokenExpiry are read from the token's claims when it
	// is a JWT (unverified; the expiry is absent for tokens without one).
	TokenSubject string     `json:"tokenSubject,omitempty"`
	TokenExpiry  *time.Time `json:"tokenExpiry,omitempty"`
	// RBACChecked counts the reader's access checks asked
	// (SelfSubjectAccessReview); RBACDenied lists those refused, as
	// "verb group/resource".
	RBACChecked int      `json:"rbacChecked,omitempty"`
	RBACDenied  []string `json:"rbacDenied,omitempty"`
	// RBACError says why the access checks could not be asked.
	RBACError string `json:"rbacError,omitempty"`
	// ControlChecked, ControlDenied and ControlError are the same for the
	// writes a primary's istiod makes in a remote cluster it controls (what
	// a remote's install adds to the reader ClusterRole).
	ControlChecked int      `json:"controlChecked,omitempty"`
	ControlDenied  []string `json:"controlDenied,omitempty"`
	ControlError   string   `json:"controlError,omitempty"`

	// Regions are the regions (topology.kubernetes.io/region) of the
	// nodes the credentials list: the localities istiod gives the
	// cluster's endpoints, known even when the cluster itself is not read.
	Regions []string `json:"regions,omitempty"`
	// Network is the network label of its Istio namespace, as the same
	// credentials read it: the network istiod puts its endpoints on.
	Network string `json:"network,omitempty"`

	Duration time.Duration `json:"duration"`
}

// IstiodView is what one istiod replica of a primary reports of its
// clusters at /debug/clusterz: read through a port-forward to its pod, as
// `istioctl remote-clusters` does, or at a debug address given for the
// context (--istiod-debug-address), which stands for the whole control plane.
type IstiodView struct {
	Context string `json:"context"`
	// Pod names the replica read through a port-forward (namespace/name);
	// empty when the view was read at a debug address, or when no pod was
	// found to read.
	Pod string `json:"pod,omitempty"`
	// Address is the debug address read, or "port-forward to
	// <namespace>/<pod>:<port>".
	Address string `json:"address,omitempty"`
	// NotRun says why istiod was not asked; Error why the read failed.
	NotRun   string          `json:"notRun,omitempty"`
	Error    string          `json:"error,omitempty"`
	Clusters []IstiodCluster `json:"clusters,omitempty"`
	// Registry is the replica's service registry, read after its clusterz
	// (so that a cluster added or removed in between is never seen in the
	// registry and not in clusterz); nil when clusterz could not be read.
	Registry *IstiodRegistry `json:"registry,omitempty"`
	// Log is what istiod's recent log says of its remote clusters, read
	// only when this view shows one not synced (nil otherwise).
	Log *IstiodLog `json:"log,omitempty"`
	// Networkz is the replica's list of cross-network gateways
	// (/debug/networkz), read beside its registry; nil when not asked.
	Networkz *IstiodGateways `json:"networkz,omitempty"`
	// Metrics is what its Prometheus metrics say of its history (sync
	// timeouts, secret events, rejected xDS), read beside its registry; nil
	// when not asked.
	Metrics *IstiodMetrics `json:"metrics,omitempty"`
}

// IstiodLog is the part of an istiod pod's recent log (pods/log, bounded
// in lines and bytes) that names why a remote cluster does not sync. Only
// the matched fragment of a line is kept, never the line: a fragment is
// made of a fixed phrase and the addresses, resource names and cluster IDs
// it names, so nothing else the log holds is carried.
type IstiodLog struct {
	// Pod is the pod whose log was read (namespace/name), Lines how many
	// of its last lines were asked for.
	Pod   string `json:"pod"`
	Lines int    `json:"lines"`
	// Fragments are the matched fragments, each once, oldest first.
	Fragments []string `json:"fragments,omitempty"`
	// Error says why the log could not be read.
	Error string `json:"error,omitempty"`
}

// Read reports whether the view holds istiod's answer.
func (v IstiodView) Read() bool { return v.NotRun == "" && v.Error == "" }

// Replica names the istiod the view was read from, for a report: its pod,
// or "istiod" when read at a debug address.
func (v IstiodView) Replica() string {
	if v.Pod != "" {
		return v.Pod
	}
	return "istiod"
}

// IstiodCluster is one entry of /debug/clusterz.
type IstiodCluster struct {
	ID         string `json:"id"`
	SecretName string `json:"secretName,omitempty"`
	SyncStatus string `json:"syncStatus"`
}

// IstiodViews returns the views of a primary's istiod: one per replica read
// through a port-forward, or one for a debug address. Nil when istiod was
// not asked (or no probe ran).
func (p *Probes) IstiodViews(context string) []IstiodView {
	if p == nil {
		return nil
	}
	var out []IstiodView
	for _, v := range p.Istiod {
		if v.Context == context {
			out = append(out, v)
		}
	}
	return out
}

// StatusMissing is a replica's status for a cluster ID its clusterz does
// not list.
const StatusMissing = "missing"

// ReplicaStatus is what one istiod replica that answered reports of a
// cluster ID: its sync status, or StatusMissing.
type ReplicaStatus struct {
	Replica, Status string
}

// ClusterStatuses returns what each replica among views that answered
// reports of the cluster id.
func ClusterStatuses(views []IstiodView, id string) []ReplicaStatus {
	var out []ReplicaStatus
	for _, v := range views {
		if !v.Read() {
			continue
		}
		st := StatusMissing
		for _, c := range v.Clusters {
			if c.ID == id {
				st = c.SyncStatus
			}
		}
		out = append(out, ReplicaStatus{v.Replica(), st})
	}
	return out
}

// SecretsInUse returns the remote secrets (namespace/name) that the
// replicas of context's istiod which answered say they registered cluster
// id from (/debug/clusterz's secretName), sorted, each once. istiod keeps
// one secret per cluster ID and ignores any other naming it ("cluster has
// already been registered", pkg/kube/multicluster/secretcontroller.go
// addRemoteConfig), so this is the secret the link stands or falls by. Nil
// when no replica answered or none lists the cluster; more than one when
// replicas disagree.
func (p *Probes) SecretsInUse(context, id string) []string {
	var out []string
	for _, v := range p.IstiodViews(context) {
		if !v.Read() {
			continue
		}
		for _, c := range v.Clusters {
			if c.ID != id || c.SecretName == "" {
				continue
			}
			i := sort.SearchStrings(out, c.SecretName)
			if i == len(out) || out[i] != c.SecretName {
				out = append(out[:i], append([]string{c.SecretName}, out[i:]...)...)
			}
		}
	}
	return out
}

package lab

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed scenarios/*.yaml
var scenarioFS embed.FS

// Topology values of Scenario.Topology.
const (
	MultiPrimary  = "multi-primary"
	PrimaryRemote = "primary-remote"
)

// Installers of Scenario.Installer.
const (
	InstallerIstioctl   = "istioctl"
	InstallerHelm       = "helm"
	InstallerIstioOnEKS = "istio-on-eks"
)

// Fault types a scenario can list. Each names the cluster it applies to (and
// for the path and secret faults, the peer).
const (
	// FaultOwnRoot: the cluster's cacerts come from a root of its own, so it
	// shares no trust with the others.
	FaultOwnRoot = "own-root"
	// FaultSelfSignedCA: no cacerts at all; istiod makes its own root in
	// istio-ca-secret.
	FaultSelfSignedCA = "self-signed-ca"
	// FaultMissingRemoteSecret: the cluster's istio-system has no remote
	// secret for peer (every peer when peer is empty).
	FaultMissingRemoteSecret = "missing-remote-secret"
	// FaultBadRemoteSecret: the remote secret for peer carries a token the
	// peer's apiserver rejects; istiod ends in "timeout" for it.
	FaultBadRemoteSecret = "bad-remote-secret"
	// FaultDuplicateRemoteSecret: the cluster holds two remote secrets for
	// peer, one with a token the peer's apiserver rejects. Value says which
	// istiod keeps: "good-first" (istioctl's secret is good, a stale copy
	// named <it>-old carries the rejected token) or "bad-first" (istioctl's
	// secret carries the rejected token, a good copy is named <it>-new).
	// istioctl's is written before istiod starts, the copy once istiod has
	// registered peer from it: istiod keeps istioctl's.
	FaultDuplicateRemoteSecret = "duplicate-remote-secret"
	// FaultMissingNetworkLabel: istio-system has no topology.istio.io/network label.
	FaultMissingNetworkLabel = "missing-network-label"
	// FaultGatewayPending: the east-west gateway Service has no load-balancer
	// address (and no stand-in listener runs).
	FaultGatewayPending = "gateway-pending"
	// FaultNoOutlierDetection: the cluster's DestinationRules configure
	// locality failover without outlierDetection (scenario objects read it
	// as .NoOutlierDetection).
	FaultNoOutlierDetection = "no-outlier-detection"
	// FaultNodeWithoutZone: one node of the cluster has no zone label; with
	// Value "all" (AllNodes) none of its nodes has one, as in a cluster whose
	// nodes no cloud provider labels.
	FaultNodeWithoutZone = "node-without-zone"
	// FaultCutPath: nothing in the cluster's network can open a connection
	// to peer's apiserver (its istiod times out on peer) while this machine
	// reaches both. Applied before istiod starts. Needs network namespaces.
	FaultCutPath = "cut-path"
	// FaultTrustDomain: the cluster's meshConfig.trustDomain is Value.
	FaultTrustDomain = "trust-domain"
	// FaultClusterID: the cluster's ID (CLUSTER_ID, clusterName, and the key
	// of the remote secrets that point at it) is Value instead of its name:
	// "Kubernetes" (left at istiod's default) or another cluster's ID (a
	// duplicate, whose remote secret that cluster's istiod then ignores).
	FaultClusterID = "cluster-id"
	// FaultPKIScenario: the cluster's Istio CA (the cacerts files istiod
	// reads and the cacerts Secret, and the root it publishes) and istiod's
	// extra environment are those of the same-named cluster (east or west)
	// of pkg/pki/pkitest's trust scenario Value, e.g. expired-intermediate,
	// chain-not-to-root, multi-root-rotation. Broken material is installed
	// as it is; an istiod that refuses it and exits is reported
	// (Lab.IstiodExited, the istiod Pod in CrashLoopBackOff), not a failed
	// start.
	FaultPKIScenario = "pki-scenario"
	// FaultStaleRootConfigMap: namespace Value (made, labelled
	// meshfed-lab/outside-discovery) is left out of istiod's meshConfig
	// discoverySelectors and holds an istio-ca-root-cert with a root no CA
	// of the mesh signs under. istiod rewrites the ConfigMap in every
	// namespace it discovers, so a mismatch only lasts where it does not look.
	FaultStaleRootConfigMap = "stale-root-configmap"
	// FaultNoHTTPBinService: the cluster has no Service sample/httpbin.
	// httpbin has endpoints only in the first two clusters; the others
	// carry its Service without endpoints, as multi-cluster guides advise
	// so that the name resolves everywhere. Without it, clients there
	// cannot resolve the name unless their sidecars proxy DNS.
	FaultNoHTTPBinService = "no-httpbin-service"
	// Workload faults, made through the same path as the healthy samples
	// (workloads.go): the Deployment, the controllers, the injector.
	//
	// FaultNoSamplePods: the cluster runs no pods of sample app Value
	// (helloworld when empty): its Deployment has 0 replicas, so the
	// Service is there with no endpoints.
	FaultNoSamplePods = "no-sample-pods"
	// FaultNoInjection: namespace sample is not labelled for injection, so
	// the injector leaves its pods alone: they run without a sidecar and
	// istiod holds them as plain-text endpoints (TLSMode disabled), which
	// it never sends to another network's proxies through a gateway.
	FaultNoInjection = "no-injection"
	// FaultNoSidecar: the pods of sample app Value (helloworld when empty)
	// opt out of injection (label sidecar.istio.io/inject: "false") in a
	// namespace labelled for it.
	FaultNoSidecar = "no-sidecar"
	// FaultPodNotReady: the pods of sample app Value (helloworld when
	// empty) run and are never ready: their container has a readiness
	// probe that fails (exec false, which the node stand-ins evaluate).
	FaultPodNotReady = "pod-not-ready"
	// FaultDiscoverySelectors: the cluster's meshConfig gets
	// discoverySelectors [{matchLabels: {<key>: <value>}}] from Value
	// ("key=value"), and the namespaces the lab makes in that cluster
	// (istio-system, sample) carry the label, as a user who sets the
	// selectors labels their own cluster's namespaces; the other clusters'
	// namespaces do not (istiod applies the selectors to them too,
	// istio/istio#54402).
	FaultDiscoverySelectors = "discovery-selectors"
	// FaultHeadlessDB: every cluster gets the headless Service sample/db
	// (clusterIP None, tcp-postgres 5432), and the cluster named runs its
	// pods (a Deployment, injected like the other samples): a headless
	// service whose pods are on one network only (istio/istio#38327).
	FaultHeadlessDB = "headless-db"
	// FaultStaleRegistry: once the lab has settled, the cluster's remote
	// secret for peer is given the token of a peer identity that may read
	// only namespaces and ConfigMaps (an update in place, as a rotation to
	// the wrong service account) and, once istiod shows the new
	// credentials timed out, deleted. istiod drops peer from /debug/clusterz but
	// keeps the services and endpoint shards it had read from it
	// (staleregistry.go says why); the lab checks that it does.
	FaultStaleRegistry = "stale-registry"
	// FaultDiscoveryLabelDiffers: the cluster's istiod discovers only
	// namespaces without the label meshfed-lab/outside-discovery
	// (meshConfig.discoverySelectors), and peer's namespace sample carries
	// it while the cluster's own does not: istiod reports peer synced and
	// holds none of the endpoints of peer's sample namespace.
	FaultDiscoveryLabelDiffers = "discovery-label-differs"
	// FaultCRDVersions: the cluster's Istio CRDs are an older release's for
	// the CRD Value names, as "<crd>=<version>,<version>…": the CRD is
	// installed serving only those versions (the first stored), the way a
	// cluster that kept an older Istio's base chart has it. Istio 1.21 and
	// before shipped WorkloadEntry at v1alpha3 (stored) and v1beta1, no v1:
	// workloadentries.networking.istio.io=v1alpha3,v1beta1.
	FaultCRDVersions = "crd-versions"
	// FaultRevisionWithoutService: the remote cluster is installed with
	// revision Value (the remote profile with --set revision=<Value>), and
	// its istiod Service and EndpointSlice are named istiod, as Istio's
	// istiod-remote chart of older releases named them whatever the
	// revision (istio/istio#47552), while its webhook
	// istio-sidecar-injector-<Value> calls istiod-<Value>: the pinned chart
	// names both istiod-<Value> (remote-istiod-service.yaml). Namespace
	// sample is labelled istio.io/rev=<Value> instead of istio-injection,
	// as namespaces are labelled for a revision, so its pods are rejected
	// (`service "istiod-<Value>" not found`, failurePolicy Fail).
	FaultRevisionWithoutService = "revision-without-service"
	// FaultRemotePilotHostname: the remote cluster is installed with
	// values.global.remotePilotAddress set to the host name Value instead
	// of its primary's gateway address, as users set it to their gateway's
	// DNS name (an NLB's): the remote chart then writes the istiod Service
	// as an ExternalName of it, with no EndpointSlice
	// (remote-istiod-service.yaml), and the API server cannot call the
	// injection webhook through it (istio/istio#45014). The lab's machine
	// does not resolve the name.
	FaultRemotePilotHostname = "remote-pilot-hostname"
	// FaultIstiodEnv: the cluster's istiod gets the environment variable
	// Value ("NAME=value") as the istiod chart's values.pilot.env sets it:
	// on its Deployment and in the istiod process's environment.
	FaultIstiodEnv = "istiod-env"
)

var knownFaults = map[string]bool{
	FaultOwnRoot: true, FaultSelfSignedCA: true, FaultMissingRemoteSecret: true, FaultBadRemoteSecret: true,
	FaultMissingNetworkLabel: true, FaultGatewayPending: true, FaultNoOutlierDetection: true,
	FaultNodeWithoutZone: true, FaultCutPath: true, FaultTrustDomain: true, FaultClusterID: true,
	FaultPKIScenario: true, FaultStaleRootConfigMap: true, FaultNoHTTPBinService: true,
	FaultNoSamplePods: true, FaultNoInjection: true, FaultNoSidecar: true, FaultPodNotReady: true,
	FaultDiscoverySelectors: true, FaultHeadlessDB: true,
	FaultDuplicateRemoteSecret: true, FaultStaleRegistry: true, FaultDiscoveryLabelDiffers: true,
	FaultCRDVersions: true, FaultRevisionWithoutService: true, FaultRemotePilotHostname: true,
	FaultIstiodEnv: true,
}

// AllNodes is the Value of FaultNodeWithoutZone for every node of the cluster.
const AllNodes = "all"

// Values of FaultDuplicateRemoteSecret.
const (
	DuplicateGoodFirst = "good-first"
	DuplicateBadFirst  = "bad-first"
)

// duplicateSecret is the FaultDuplicateRemoteSecret value for cluster's
// secrets for peer, "" when there is none.
func (s *Scenario) duplicateSecret(cluster, peer string) string {
	for _, f := range s.faultsFor(cluster, FaultDuplicateRemoteSecret) {
		if f.Peer == peer {
			return f.Value
		}
	}
	return ""
}

// appFaults lists the sample apps a workload fault of type typ names in
// cluster (its Value, helloworld when empty).
func (s *Scenario) appFaults(cluster, typ string) map[string]bool {
	out := map[string]bool{}
	for _, f := range s.faultsFor(cluster, typ) {
		if f.Value == "" {
			out["helloworld"] = true
		} else {
			out[f.Value] = true
		}
	}
	return out
}

// Scenario describes a mesh as a real Istio multi-cluster install has it. It
// is read from internal/lab/scenarios/<name>.yaml.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Clusters is the number of clusters used when the caller asks for 0.
	Clusters int `json:"clusters"`
	// MinClusters is the fewest clusters the scenario makes sense with.
	MinClusters int    `json:"minClusters"`
	MeshID      string `json:"meshID"`
	TrustDomain string `json:"trustDomain"`
	// Topology is multi-primary (istiod in every cluster) or primary-remote
	// (istiod in the first cluster only).
	Topology string `json:"topology"`
	// MultiNetwork puts every cluster on a network of its own, joined
	// through east-west gateways; otherwise all share "network1".
	MultiNetwork bool `json:"multiNetwork"`
	// NeedsIsolation: the scenario only means something when clusters have
	// separate networks (a cut path).
	NeedsIsolation bool `json:"needsIsolation"`
	// Installer is how the Istio objects are installed: rendered from the
	// pinned istio.io/istio module's own charts with the values a
	// multicluster guide gives for the topology (installer.go). "istioctl"
	// (the default): istio.io's guides, istioctl tab (istioctl manifest
	// generate, gen-eastwest-gateway.sh, expose-services.yaml or
	// expose-istiod.yaml, istioctl create-remote-secret); "helm" (the
	// multi-primary multi-network guide's Helm tab: helm template of base,
	// istiod and gateway); "istio-on-eks" (aws-samples/istio-on-eks'
	// multi-network pattern). Faults are patches on top of the render.
	Installer string `json:"installer"`
	// IstiodUnready: the scenario's faults keep the primaries' istiod from
	// ever finishing its start (crd-version-skew: a remote's WorkloadEntry
	// CRD without the version istiod lists), and istiod opens its xDS
	// (15012) and webhook (15017) ports only after that. The boot then
	// waits for clusterz alone, and the sample pods are applied but not
	// waited for: with no injector to answer, the webhook (failurePolicy
	// Fail) rejects them, as in a cluster.
	IstiodUnready bool `json:"istiodUnready"`
	// IstiodEnv ("NAME=value") is set on every cluster's istiod as the
	// istiod chart's values.pilot.env does, before the faults (an
	// istiod-env fault overrides it): e.g. the ambient profile's
	// PILOT_ENABLE_AMBIENT (manifests/charts/istio-control/istio-discovery/
	// files/profile-ambient.yaml) and the ambient multicluster guide's
	// AMBIENT_ENABLE_MULTI_NETWORK.
	IstiodEnv []string `json:"istiodEnv"`
	// Faults break the install in the ways listed above.
	Faults []Fault `json:"faults"`
	// Objects is a Go text/template of Kubernetes YAML applied to every
	// cluster after the Istio install (sample services, EndpointSlices,
	// DestinationRules). See TemplateData for what it can read.
	Objects string `json:"objects"`
}

// Fault is one deliberate defect.
type Fault struct {
	Type    string `json:"type"`
	Cluster string `json:"cluster"`
	Peer    string `json:"peer,omitempty"`
	Value   string `json:"value,omitempty"`
}

func (f Fault) String() string {
	s := f.Type + " in " + f.Cluster
	if f.Peer != "" {
		s += " for " + f.Peer
	}
	if f.Value != "" {
		s += " (" + f.Value + ")"
	}
	return s
}

// Scenarios lists the names of the embedded scenarios, sorted.
func Scenarios() []string {
	ents, _ := scenarioFS.ReadDir("scenarios")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// LoadScenario reads an embedded scenario by name.
func LoadScenario(name string) (*Scenario, error) {
	b, err := scenarioFS.ReadFile(path.Join("scenarios", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("unknown scenario %q (have: %s)", name, strings.Join(Scenarios(), ", "))
	}
	return ParseScenario(b)
}

// ParseScenario reads a scenario from YAML and checks it.
func ParseScenario(b []byte) (*Scenario, error) {
	var s Scenario
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if s.Name == "" {
		return nil, fmt.Errorf("scenario: no name")
	}
	if s.Clusters == 0 {
		s.Clusters = 2
	}
	if s.MinClusters == 0 {
		s.MinClusters = 1
	}
	if s.MeshID == "" {
		s.MeshID = "mesh1"
	}
	if s.TrustDomain == "" {
		s.TrustDomain = "cluster.local"
	}
	switch s.Topology {
	case "":
		s.Topology = MultiPrimary
	case MultiPrimary, PrimaryRemote:
	default:
		return nil, fmt.Errorf("scenario %s: unknown topology %q", s.Name, s.Topology)
	}
	switch s.Installer {
	case "":
		s.Installer = InstallerIstioctl
	case InstallerIstioctl:
	case InstallerHelm, InstallerIstioOnEKS:
		// The guides these follow are multi-primary on different networks;
		// the lab renders no other with them.
		if s.Topology != MultiPrimary || !s.MultiNetwork {
			return nil, fmt.Errorf("scenario %s: installer %s renders multi-primary multi-network meshes only", s.Name, s.Installer)
		}
	default:
		return nil, fmt.Errorf("scenario %s: unknown installer %q", s.Name, s.Installer)
	}
	for _, kv := range s.IstiodEnv {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			return nil, fmt.Errorf("scenario %s: istiodEnv %q is not NAME=value", s.Name, kv)
		}
	}
	for _, f := range s.Faults {
		if !knownFaults[f.Type] {
			return nil, fmt.Errorf("scenario %s: unknown fault %q", s.Name, f.Type)
		}
		if f.Cluster == "" {
			return nil, fmt.Errorf("scenario %s: fault %s names no cluster", s.Name, f.Type)
		}
		if (f.Type == FaultTrustDomain || f.Type == FaultClusterID || f.Type == FaultPKIScenario || f.Type == FaultStaleRootConfigMap || f.Type == FaultDiscoverySelectors ||
			f.Type == FaultRevisionWithoutService || f.Type == FaultRemotePilotHostname) && f.Value == "" {
			return nil, fmt.Errorf("scenario %s: %s needs a value", s.Name, f.Type)
		}
		if _, _, ok := strings.Cut(f.Value, "="); f.Type == FaultIstiodEnv && !ok {
			return nil, fmt.Errorf("scenario %s: istiod-env needs a value NAME=value", s.Name)
		}
		if f.Type == FaultCRDVersions {
			if _, _, err := parseCRDVersions(f.Value); err != nil {
				return nil, fmt.Errorf("scenario %s: %w", s.Name, err)
			}
		}
		if _, _, ok := strings.Cut(f.Value, "="); f.Type == FaultDiscoverySelectors && !ok {
			return nil, fmt.Errorf("scenario %s: discovery-selectors needs a value key=value", s.Name)
		}
		if f.Type == FaultDuplicateRemoteSecret && (f.Peer == "" || (f.Value != DuplicateGoodFirst && f.Value != DuplicateBadFirst)) {
			return nil, fmt.Errorf("scenario %s: %s needs a peer and the value %s or %s", s.Name, f.Type, DuplicateGoodFirst, DuplicateBadFirst)
		}
		if (f.Type == FaultCutPath || f.Type == FaultStaleRegistry || f.Type == FaultDiscoveryLabelDiffers) && f.Peer == "" {
			return nil, fmt.Errorf("scenario %s: %s needs a peer", s.Name, f.Type)
		}
	}
	return &s, nil
}

// faultsFor returns the faults of type typ that apply to cluster.
func (s *Scenario) faultsFor(cluster, typ string) []Fault {
	var out []Fault
	for _, f := range s.Faults {
		if f.Cluster == cluster && f.Type == typ {
			out = append(out, f)
		}
	}
	return out
}

func (s *Scenario) has(cluster, typ string) bool { return len(s.faultsFor(cluster, typ)) > 0 }

// value is the Value of the cluster's first fault of type typ ("" when none).
func (s *Scenario) value(cluster, typ string) string {
	if fs := s.faultsFor(cluster, typ); len(fs) > 0 {
		return fs[0].Value
	}
	return ""
}

// hasAnywhere reports a fault of type typ in any cluster.
func (s *Scenario) hasAnywhere(typ string) bool {
	for _, f := range s.Faults {
		if f.Type == typ {
			return true
		}
	}
	return false
}

// peerOf reports a fault of type typ that names cluster as its peer.
func (s *Scenario) peerOf(cluster, typ string) bool {
	for _, f := range s.Faults {
		if f.Type == typ && f.Peer == cluster {
			return true
		}
	}
	return false
}

// hasFor reports a fault of type typ in cluster for peer (a fault naming no
// peer applies to every peer).
func (s *Scenario) hasFor(cluster, peer, typ string) bool {
	for _, f := range s.faultsFor(cluster, typ) {
		if f.Peer == "" || f.Peer == peer {
			return true
		}
	}
	return false
}

// ClusterNames are the names (context = cluster ID) of a lab's clusters, in
// order: a lab of n clusters uses the first n.
var ClusterNames = []string{"east", "west", "central", "north", "south", "cluster-6", "cluster-7", "cluster-8"}

// regions gives each cluster a region and two zones, like a fleet spread
// over cloud regions.
var regions = map[string]string{
	"east": "us-east-1", "west": "us-west-2", "central": "eu-central-1", "north": "eu-north-1", "south": "sa-east-1",
	"cluster-6": "ap-south-1", "cluster-7": "ap-northeast-1", "cluster-8": "ca-central-1",
}

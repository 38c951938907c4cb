package bundle

import (
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// FormatVersion is the version of the layout this tool writes and the
// newest it reads. A change a reader of an older version would misread
// raises it.
const FormatVersion = 1

// Kind names the manifest's document, so that a foreign archive whose
// manifest happens to parse is still refused.
const Kind = "MeshfedBundle"

// Dir is the one directory of the archive; file names below are relative
// to it.
const Dir = "meshfed-bundle"

// File names in Dir.
const (
	ManifestFile     = "manifest.yaml"
	ProbesFile       = "probes.json"
	AWSNetworkFile   = "aws-network.json"
	AWSPrivateCAFile = "aws-private-ca.json"
	// SecurityFile holds each cluster's AuthorizationPolicies and
	// PeerAuthentications of every namespace (trace's policy hop). It was
	// added within format 1: a reader that does not know it checks its
	// checksum and leaves it, which loses nothing it could use, and a
	// bundle without it (an older dump) has trace say "not in the bundle".
	SecurityFile = "security.json"
	clustersDir  = "clusters"
)

// Manifest describes a bundle.
type Manifest struct {
	Kind          string `json:"kind"`
	FormatVersion int    `json:"formatVersion"`
	// Tool is the version and commit of the kubectl-meshfed that wrote it.
	Tool Tool `json:"tool"`
	// ReadAt is when the run began (its checks judged certificates at this
	// instant); WrittenAt when the bundle was written, after the probes.
	ReadAt    time.Time `json:"readAt"`
	WrittenAt time.Time `json:"writtenAt"`
	// Contexts are the contexts read, in the order chosen, and why each.
	Contexts []ContextEntry `json:"contexts"`
	// Flags are the flags of the run that shaped what was read.
	Flags map[string]string `json:"flags,omitempty"`
	// IstioNamespace is the namespace read as Istio's.
	IstioNamespace string `json:"istioNamespace"`
	// Kubeconfig lists the kubeconfig's contexts (name and API server),
	// so that a cluster of the mesh not read can be named by its context.
	Kubeconfig []model.KubeContext `json:"kubeconfig,omitempty"`
	// Probes says where the live probes ran from; absent when none ran.
	Probes *ProbesEntry `json:"probes,omitempty"`
	// Files maps every other file of the bundle to its SHA-256 (hex).
	Files map[string]string `json:"files"`
}

// Tool names the binary that wrote a bundle.
type Tool struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
}

// ContextEntry is one context of the bundle and the file of its cluster.
type ContextEntry struct {
	Context string `json:"context"`
	Reason  string `json:"reason,omitempty"`
	File    string `json:"file"`
}

// ProbesEntry says where and when the live probes ran.
type ProbesEntry struct {
	From       string    `json:"from"`
	ObservedAt time.Time `json:"observedAt"`
}

// Bundle is a bundle in memory: its manifest and the fleet it holds (with
// Secrets in their bundle form, SecretFacts).
type Bundle struct {
	// Path is the file it was read from ("" for one not read from a file).
	Path     string
	Manifest Manifest
	Fleet    *model.Fleet
	// Security holds each cluster's security policies of every namespace,
	// by context (nil: the bundle does not record them).
	Security map[string]model.SecurityPolicies
}

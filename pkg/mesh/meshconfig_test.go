package mesh

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	istiomesh "istio.io/istio/pkg/config/mesh"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
)

// The binary does not link istio.io/istio/pkg/config/mesh (see
// meshconfig.go); these tests hold what it links instead equal to it.

func TestDefaultsEqualIstios(t *testing.T) {
	if got, want := DefaultMeshConfig(), istiomesh.DefaultMeshConfig(); !proto.Equal(got, want) {
		t.Errorf("DefaultMeshConfig differs from istio's:\n got  %v\n want %v", got, want)
	}
	if got, want := DefaultProxyConfig(), istiomesh.DefaultProxyConfig(); !proto.Equal(got, want) {
		t.Errorf("DefaultProxyConfig differs from istio's:\n got  %v\n want %v", got, want)
	}
}

// meshConfigCorpus is every mesh config of the checks' fixtures and the
// lab's install, and configs written to cross each rule of the parse and
// of the ported validation.
func meshConfigCorpus(t *testing.T, key string) map[string]string {
	t.Helper()
	corpus := map[string]string{}
	dirs, _ := filepath.Glob(filepath.Join("..", "checks", "all", "testdata", "*", "*"))
	for _, dir := range dirs {
		f, err := fleet.LoadDir(dir, "istio-system")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Clusters {
			for _, cm := range c.ConfigMaps {
				if doc, ok := cm.Data[key]; ok && strings.HasPrefix(cm.Name, "istio") {
					corpus[dir+"/"+c.Context+"/"+cm.Name] = doc
				}
			}
		}
	}
	if len(corpus) == 0 {
		t.Fatalf("no %s in the fixtures", key)
	}
	return corpus
}

func TestParseMeshConfigEqualsIstios(t *testing.T) {
	corpus := meshConfigCorpus(t, "mesh")
	for name, doc := range map[string]string{
		"empty":                        "",
		"trust domain and aliases":     "trustDomain: example.org\ntrustDomainAliases: [b.org, a.org, a.org]",
		"proxy metadata merges":        "defaultConfig:\n  proxyMetadata:\n    ISTIO_META_DNS_CAPTURE: \"true\"\n  meshId: m1\n  discoveryAddress: istiod.istio-system.svc:15012",
		"proxy headers":                "defaultConfig:\n  proxyHeaders:\n    server:\n      disabled: true",
		"default providers":            "defaultProviders:\n  metrics: [prometheus]",
		"extension provider by name":   "extensionProviders:\n- name: envoy\n  envoyFileAccessLog: {path: /dev/stderr}\n- name: otel\n  opentelemetry: {service: otel.svc, port: 4317}",
		"unknown field":                "notAField: 1\ntrustDomain: x.org",
		"locality failover":            "localityLbSetting:\n  enabled: true\n  failover:\n  - from: eu-west-1\n    to: eu-central-1",
		"locality distribute":          "localityLbSetting:\n  distribute:\n  - from: eu/a/*\n    to: {\"eu/a/*\": 80, \"eu/b/*\": 20}",
		"ca address":                   "ca:\n  address: cert-manager-istio-csr.cert-manager.svc:443",
		"not yaml":                     "defaultConfig: [not, a, map]",
		"wrong type":                   "proxyListenPort: lots",
		"bad trust domain":             "trustDomain: \"not_valid\"",
		"bad alias":                    "trustDomainAliases: [\"-bad\"]",
		"bad listen port":              "proxyListenPort: 70000",
		"bad connect timeout":          "connectTimeout: 0.0001s",
		"bad protocol detection":       "protocolDetectionTimeout: 0.0001s",
		"bad discovery address":        "defaultConfig:\n  discoveryAddress: istiod",
		"bad drain duration":           "defaultConfig:\n  drainDuration: 1.5s",
		"empty binary path":            "defaultConfig:\n  binaryPath: \"\"",
		"bad status port":              "defaultConfig:\n  statusPort: 0",
		"distribute and failover":      "localityLbSetting:\n  distribute:\n  - from: a\n    to: {b: 100}\n  failover:\n  - from: a\n    to: b",
		"failover to itself":           "localityLbSetting:\n  failover:\n  - from: a\n    to: a",
		"failover with zone":           "localityLbSetting:\n  failover:\n  - from: a/b\n    to: c",
		"failover and region priority": "localityLbSetting:\n  failover:\n  - from: a\n    to: c\n  failoverPriority: [topology.kubernetes.io/region]",
		"weights not 100":              "localityLbSetting:\n  distribute:\n  - from: a\n    to: {b: 60, c: 30}",
		"overlapping localities":       "localityLbSetting:\n  distribute:\n  - from: a/*\n    to: {b: 100}\n  - from: a/z\n    to: {b: 100}",
	} {
		corpus[name] = doc
	}
	parsesAsIstio(t, corpus, ParseMeshConfig, istiomesh.ApplyMeshConfigDefaults)
}

func TestParseMeshNetworksEqualsIstios(t *testing.T) {
	corpus := meshConfigCorpus(t, MeshNetworksKey)
	for name, doc := range map[string]string{
		"two networks":     "networks:\n  n1:\n    endpoints: [{fromRegistry: east}]\n    gateways: [{address: 1.2.3.4, port: 15443}]\n  n2:\n    endpoints: [{fromCidr: 10.0.0.0/16}]\n    gateways: [{registryServiceName: istio-eastwestgateway.istio-system.svc.cluster.local, port: 15443}]",
		"hostname gateway": "networks:\n  n1:\n    gateways: [{address: abc.elb.amazonaws.com, port: 15443}]",
		"bad cidr":         "networks:\n  n1:\n    endpoints: [{fromCidr: 10.0.0.0/99}]",
		"bad registry":     "networks:\n  n1:\n    endpoints: [{fromRegistry: \"not_valid\"}]",
		"bad gateway":      "networks:\n  n1:\n    gateways: [{address: \"not valid\", port: 15443}]",
		"bad gateway port": "networks:\n  n1:\n    gateways: [{address: 1.2.3.4, port: 0}]",
		"bad service name": "networks:\n  n1:\n    gateways: [{registryServiceName: \"a..b\", port: 15443}]",
		"not a map":        "networks: [a]",
		"unknown field":    "networks:\n  n1:\n    notAField: true",
	} {
		corpus[name] = doc
	}
	parsesAsIstio(t, corpus, ParseMeshNetworks, istiomesh.ParseMeshNetworks)
}

// parsesAsIstio holds ours to istio's parse on every document of corpus:
// the same documents rejected, the same message for the rest; and the
// corpus must test both sides.
func parsesAsIstio[M proto.Message](t *testing.T, corpus map[string]string, ours, istios func(string) (M, error)) {
	t.Helper()
	rejected := 0
	for name, doc := range corpus {
		got, gotErr := ours(doc)
		if gotErr != nil {
			rejected++
		}
		want, wantErr := istios(doc)
		switch {
		case (gotErr == nil) != (wantErr == nil):
			t.Errorf("%s: error %v, istio's %v", name, gotErr, wantErr)
		case gotErr == nil && !proto.Equal(got, want):
			t.Errorf("%s: parsed differently from istio:\n got  %v\n want %v", name, got, want)
		}
	}
	t.Logf("%d documents, %d rejected by both", len(corpus), rejected)
	if rejected == 0 || rejected == len(corpus) {
		t.Errorf("the corpus must hold documents both accepted and rejected")
	}
}

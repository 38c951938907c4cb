package mesh

import (
	"strconv"

	meshconfig "istio.io/api/mesh/v1alpha1"
)

// DNSCaptureMetadata is the proxy metadata that turns on the sidecar's DNS
// proxy: pilot-agent reads ISTIO_META_DNS_CAPTURE (default false,
// pilot/cmd/pilot-agent/options), and the injection template sets it in the
// pod from the injecting istiod's meshConfig.defaultConfig.proxyMetadata, a
// ProxyConfig resource or the pod's proxy.istio.io/config annotation.
const DNSCaptureMetadata = "ISTIO_META_DNS_CAPTURE"

// DNSCaptureByDefault reports whether a mesh config's default proxy config
// turns DNS capture on, parsed as pilot-agent parses it (strconv.ParseBool;
// anything else leaves the default, off).
func DNSCaptureByDefault(m *meshconfig.MeshConfig) bool {
	on, err := strconv.ParseBool(m.GetDefaultConfig().GetProxyMetadata()[DNSCaptureMetadata])
	return err == nil && on
}

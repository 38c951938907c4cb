package mesh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang/protobuf/jsonpb"            //nolint:staticcheck // istiod's own decoder (pkg/util/protomarshal), for the same merge and leniency
	legacyproto "github.com/golang/protobuf/proto" //nolint:staticcheck // what jsonpb takes
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	meshconfig "istio.io/api/mesh/v1alpha1"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pkg/config/constants"
)

// This file reads mesh config and meshNetworks as istiod does
// (istio.io/istio pkg/config/mesh: ApplyMeshConfigDefaults,
// ParseMeshNetworks) without linking that package, which brings istiod's
// feature flags, logging, gRPC and Envoy's types into the binary and their
// initialisation into every start. meshconfig_test.go holds the defaults
// and the parse equal to istio's on a corpus.
//
// Validation: istiod rejects a mesh config that fails
// pkg/config/validation/agent.ValidateMeshConfig. Ported here are the parts
// that decide what the checks read (ports, timeouts, the default proxy
// config's required fields and discovery address, the locality load
// balancer setting, trust domain and aliases) and all of
// ValidateMeshNetworks. Not ported (a config failing only those reads as
// parsed): tracing collectors, service settings, zone-aware load balancing,
// mesh TLS settings and the default traffic policy.

// DefaultProxyConfig is pkg/config/mesh.DefaultProxyConfig.
func DefaultProxyConfig() *meshconfig.ProxyConfig {
	return &meshconfig.ProxyConfig{
		ConfigPath:               constants.ConfigPathDir,
		ClusterName:              &meshconfig.ProxyConfig_ServiceCluster{ServiceCluster: constants.ServiceClusterName},
		DrainDuration:            durationpb.New(45 * time.Second),
		TerminationDrainDuration: durationpb.New(5 * time.Second),
		ProxyAdminPort:           15000,
		ControlPlaneAuthPolicy:   meshconfig.AuthenticationPolicy_MUTUAL_TLS,
		DiscoveryAddress:         "istiod.istio-system.svc:15012",
		BinaryPath:               constants.BinaryPathFilename,
		StatNameLength:           189,
		StatusPort:               15020,
	}
}

// DefaultMeshConfig is pkg/config/mesh.DefaultMeshConfig: what istiod
// assumes for every field a mesh config leaves out.
func DefaultMeshConfig() *meshconfig.MeshConfig {
	return &meshconfig.MeshConfig{
		EnableTracing:               true,
		AccessLogFile:               "",
		AccessLogEncoding:           meshconfig.MeshConfig_TEXT,
		AccessLogFormat:             "",
		EnableEnvoyAccessLogService: false,
		ProtocolDetectionTimeout:    durationpb.New(0),
		IngressService:              "istio-ingressgateway",
		IngressControllerMode:       meshconfig.MeshConfig_STRICT,
		IngressClass:                "istio",
		TrustDomain:                 constants.DefaultClusterLocalDomain,
		TrustDomainAliases:          []string{},
		EnableAutoMtls:              wrapperspb.Bool(true),
		OutboundTrafficPolicy:       &meshconfig.MeshConfig_OutboundTrafficPolicy{Mode: meshconfig.MeshConfig_OutboundTrafficPolicy_ALLOW_ANY},
		InboundTrafficPolicy:        &meshconfig.MeshConfig_InboundTrafficPolicy{Mode: meshconfig.MeshConfig_InboundTrafficPolicy_PASSTHROUGH},
		LocalityLbSetting:           &networking.LocalityLoadBalancerSetting{Enabled: wrapperspb.Bool(true)},
		Certificates:                []*meshconfig.Certificate{},
		DefaultConfig:               DefaultProxyConfig(),

		RootNamespace:                  constants.IstioSystemNamespace,
		ProxyListenPort:                15001,
		ProxyInboundListenPort:         15006,
		ConnectTimeout:                 durationpb.New(10 * time.Second),
		DefaultServiceExportTo:         []string{"*"},
		DefaultVirtualServiceExportTo:  []string{"*"},
		DefaultDestinationRuleExportTo: []string{"*"},
		DnsRefreshRate:                 durationpb.New(60 * time.Second),
		ServiceSettings:                make([]*meshconfig.MeshConfig_ServiceSettings, 0),

		EnablePrometheusMerge: wrapperspb.Bool(true),
		DefaultProviders:      &meshconfig.MeshConfig_DefaultProviders{},
		ExtensionProviders: []*meshconfig.MeshConfig_ExtensionProvider{
			{Name: "prometheus", Provider: &meshconfig.MeshConfig_ExtensionProvider_Prometheus{
				Prometheus: &meshconfig.MeshConfig_ExtensionProvider_PrometheusMetricsProvider{},
			}},
			{Name: "stackdriver", Provider: &meshconfig.MeshConfig_ExtensionProvider_Stackdriver{
				Stackdriver: &meshconfig.MeshConfig_ExtensionProvider_StackdriverProvider{},
			}},
			{Name: "envoy", Provider: &meshconfig.MeshConfig_ExtensionProvider_EnvoyFileAccessLog{
				EnvoyFileAccessLog: &meshconfig.MeshConfig_ExtensionProvider_EnvoyFileAccessLogProvider{Path: "/dev/stdout"},
			}},
		},
	}
}

// ParseMeshConfig is pkg/config/mesh.ApplyMeshConfigDefaults: the mesh
// config YAML over istiod's defaults, where every field overrides but the
// default proxy config, the default providers and the extension providers
// (by name) merge, and trust domain aliases add up.
func ParseMeshConfig(doc string) (*meshconfig.MeshConfig, error) {
	mc := DefaultMeshConfig()
	prevProxyConfig, prevDefaultProviders := mc.DefaultConfig, mc.DefaultProviders
	prevExtensionProviders, prevAliases := mc.ExtensionProviders, mc.TrustDomainAliases

	mc.DefaultConfig = DefaultProxyConfig()
	if err := applyYAML(doc, mc); err != nil {
		return nil, fmt.Errorf("failed to convert to proto. %w", err)
	}
	mc.DefaultConfig = prevProxyConfig

	raw := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, err
	}
	pc, err := yamlField("defaultConfig", raw)
	if err != nil {
		return nil, fmt.Errorf("failed to extract proxy config %w", err)
	}
	if pc != "" {
		if err := mergeProxyConfig(pc, mc.DefaultConfig); err != nil {
			return nil, err
		}
	}

	mc.DefaultProviders = prevDefaultProviders
	dp, err := yamlField("defaultProviders", raw)
	if err != nil {
		return nil, fmt.Errorf("failed to extract default providers %w", err)
	}
	if dp != "" {
		if err := applyYAML(dp, mc.DefaultProviders); err != nil {
			return nil, fmt.Errorf("could not parse default providers: %v", err)
		}
	}

	added := mc.ExtensionProviders
	mc.ExtensionProviders = prevExtensionProviders
	for _, p := range added {
		i := slices.IndexFunc(mc.ExtensionProviders, func(e *meshconfig.MeshConfig_ExtensionProvider) bool { return e.Name == p.Name })
		if i >= 0 {
			mc.ExtensionProviders[i].Provider = p.Provider
		} else {
			mc.ExtensionProviders = append(mc.ExtensionProviders, p)
		}
	}

	aliases := append(slices.Clone(mc.TrustDomainAliases), prevAliases...)
	slices.Sort(aliases)
	mc.TrustDomainAliases = slices.Compact(aliases)
	if mc.TrustDomainAliases == nil {
		mc.TrustDomainAliases = []string{}
	}

	if err := validateMeshConfig(mc); err != nil {
		return nil, err
	}
	return mc, nil
}

// ParseMeshNetworks is pkg/config/mesh.ParseMeshNetworks, with
// RESOLVE_HOSTNAME_GATEWAYS at istiod's default (on).
func ParseMeshNetworks(doc string) (*meshconfig.MeshNetworks, error) {
	out := &meshconfig.MeshNetworks{Networks: map[string]*meshconfig.Network{}}
	if err := applyYAML(doc, out); err != nil {
		return nil, fmt.Errorf("failed to convert to proto. %w", err)
	}
	var errs []error
	for name, n := range out.Networks {
		if err := validateNetwork(n); err != nil {
			errs = append(errs, fmt.Errorf("invalid network %v: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// mergeProxyConfig is pkg/config/mesh.MergeProxyConfig.
func mergeProxyConfig(doc string, pc *meshconfig.ProxyConfig) error {
	origMetadata, origHeaders := pc.ProxyMetadata, pc.ProxyHeaders
	if err := applyYAML(doc, pc); err != nil {
		return fmt.Errorf("could not parse proxy config: %v", err)
	}
	if origMetadata != nil || pc.ProxyMetadata != nil {
		merged := map[string]string{}
		for k, v := range origMetadata {
			merged[k] = v
		}
		for k, v := range pc.ProxyMetadata {
			merged[k] = v
		}
		pc.ProxyMetadata = merged
	}
	if ph := pc.ProxyHeaders; ph != nil && origHeaders != nil {
		ph.ForwardedClientCert = nonEmptyOr(ph.ForwardedClientCert, origHeaders.ForwardedClientCert)
		ph.RequestId = nonEmptyOr(ph.RequestId, origHeaders.RequestId)
		ph.AttemptCount = nonEmptyOr(ph.AttemptCount, origHeaders.AttemptCount)
		ph.Server = nonEmptyOr(ph.Server, origHeaders.Server)
		ph.EnvoyDebugHeaders = nonEmptyOr(ph.EnvoyDebugHeaders, origHeaders.EnvoyDebugHeaders)
	}
	return nil
}

func nonEmptyOr[T comparable](v, def T) T {
	var zero T
	if v != zero {
		return v
	}
	return def
}

func yamlField(key string, raw map[string]any) (string, error) {
	v := raw[key]
	if v == nil {
		return "", nil
	}
	b, err := yaml.Marshal(v)
	return string(b), err
}

// applyYAML is pkg/util/protomarshal.ApplyYAML: YAML to JSON, merged into
// pb; unknown fields are refused first, then ignored.
func applyYAML(doc string, pb proto.Message) error {
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return err
	}
	reader := strings.NewReader(string(js))
	u := jsonpb.Unmarshaler{}
	if err := u.Unmarshal(reader, legacyproto.MessageV1(pb)); err != nil {
		u.AllowUnknownFields = true
		reader.Reset(string(js))
		return u.Unmarshal(reader, legacyproto.MessageV1(pb))
	}
	return nil
}

// validateMeshConfig is the ported part of agent.ValidateMeshConfig (see
// the top of this file); warnings are not errors, as there.
func validateMeshConfig(mc *meshconfig.MeshConfig) error {
	var errs []error
	add := func(prefix string, err error) {
		if err != nil {
			if prefix != "" {
				err = fmt.Errorf("%s %w", prefix, err)
			}
			errs = append(errs, err)
		}
	}
	add("invalid proxy listen port:", validatePort(int(mc.ProxyListenPort)))
	add("invalid connect timeout:", validateConnectTimeout(mc.ConnectTimeout))
	add("invalid protocol detection timeout:", validateProtocolDetectionTimeout(mc.ProtocolDetectionTimeout))
	if mc.DefaultConfig == nil {
		add("", errors.New("missing default config"))
	} else {
		add("", validateProxyConfig(mc.DefaultConfig))
	}
	add("", validateLocalityLbSetting(mc.LocalityLbSetting))
	if err := validateTrustDomain(mc.TrustDomain); err != nil {
		add("", fmt.Errorf("trustDomain: %v", err))
	}
	for i, tda := range mc.TrustDomainAliases {
		if err := validateTrustDomain(tda); err != nil {
			add("", fmt.Errorf("trustDomainAliases[%d], domain `%s` : %v", i, tda, err))
		}
	}
	return errors.Join(errs...)
}

func validateProxyConfig(pc *meshconfig.ProxyConfig) error {
	var errs []error
	if pc.ConfigPath == "" {
		errs = append(errs, errors.New("config path must be set"))
	}
	if pc.BinaryPath == "" {
		errs = append(errs, errors.New("binary path must be set"))
	}
	switch naming := pc.GetClusterName().(type) {
	case *meshconfig.ProxyConfig_ServiceCluster:
		if naming.ServiceCluster == "" {
			errs = append(errs, errors.New("service cluster must be specified"))
		}
	case *meshconfig.ProxyConfig_TracingServiceName_:
	default:
		errs = append(errs, errors.New("oneof service cluster or tracing service name must be specified"))
	}
	if err := validateDuration(pc.DrainDuration); err != nil {
		errs = append(errs, fmt.Errorf("invalid drain duration: %w", err))
	} else if pc.DrainDuration.AsDuration()%time.Second != 0 {
		errs = append(errs, errors.New("drain time only supports durations to seconds precision"))
	}
	if pc.DiscoveryAddress == "" {
		errs = append(errs, errors.New("discovery address must be set to the proxy discovery service"))
	} else if err := validateProxyAddress(pc.DiscoveryAddress); err != nil {
		errs = append(errs, fmt.Errorf("invalid discovery address: %w", err))
	}
	if pc.StatsdUdpAddress != "" {
		if err := validateProxyAddress(pc.StatsdUdpAddress); err != nil {
			errs = append(errs, fmt.Errorf("invalid statsd udp address %q: %w", pc.StatsdUdpAddress, err))
		}
	}
	for what, a := range map[string]string{"envoy metrics service": pc.GetEnvoyMetricsService().GetAddress(), "envoy access log service": pc.GetEnvoyAccessLogService().GetAddress()} {
		if a == "" {
			continue
		}
		if err := validateProxyAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s address %q: %w", what, a, err))
		}
	}
	if err := validatePort(int(pc.ProxyAdminPort)); err != nil {
		errs = append(errs, fmt.Errorf("invalid proxy admin port: %w", err))
	}
	if p := pc.ControlPlaneAuthPolicy; p != meshconfig.AuthenticationPolicy_NONE && p != meshconfig.AuthenticationPolicy_MUTUAL_TLS {
		errs = append(errs, fmt.Errorf("invalid authentication policy: unrecognized control plane auth policy %q", p))
	}
	if err := validatePort(int(pc.StatusPort)); err != nil {
		errs = append(errs, fmt.Errorf("invalid status port: %w", err))
	}
	return errors.Join(errs...)
}

// validateLocalityLbSetting is agent.ValidateLocalityLbSetting's errors
// (the mesh-wide setting always has an outlier detection to go with it).
func validateLocalityLbSetting(lb *networking.LocalityLoadBalancerSetting) error {
	if lb == nil {
		return nil
	}
	if len(lb.GetDistribute()) > 0 && len(lb.GetFailover()) > 0 {
		return errors.New("can not simultaneously specify 'distribute' and 'failover'")
	}
	if len(lb.GetFailover()) > 0 {
		for _, l := range lb.GetFailoverPriority() {
			switch l {
			case "topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone":
				return fmt.Errorf("can not simultaneously set 'failover' and topology label '%s' in 'failover_priority'", l)
			}
		}
	}
	var errs []error
	src := make([]string, 0, len(lb.GetDistribute()))
	for _, d := range lb.GetDistribute() {
		src = append(src, d.From)
		var total uint32
		dst := make([]string, 0, len(d.To))
		for loc, w := range d.To {
			dst = append(dst, loc)
			if w <= 0 || w > 100 {
				return errors.New("locality weight must be in range [1, 100]")
			}
			total += w
		}
		if total != 100 {
			return fmt.Errorf("total locality weight %v != 100", total)
		}
		if err := validateLocalities(dst); err != nil {
			errs = append(errs, err)
		}
	}
	if err := validateLocalities(src); err != nil {
		errs = append(errs, err)
	}
	for _, f := range lb.GetFailover() {
		if f.From == f.To {
			errs = append(errs, errors.New("locality lb failover settings must specify different regions"))
		}
		if strings.Contains(f.From, "/") || strings.Contains(f.To, "/") {
			errs = append(errs, errors.New("locality lb failover only specify region"))
		}
		if strings.Contains(f.To, "*") || strings.Contains(f.From, "*") {
			errs = append(errs, errors.New("locality lb failover region should not contain '*' wildcard"))
		}
	}
	return errors.Join(errs...)
}

// validateLocalities is agent.validateLocalities: wildcards only at the
// end, no empty part, no locality covered by an earlier one.
func validateLocalities(localities []string) error {
	seen := map[string]map[string]map[string]bool{}
	for _, locality := range localities {
		if n := strings.Count(locality, "*"); n > 0 && (n > 1 || !strings.HasSuffix(locality, "*")) {
			return fmt.Errorf("locality %s wildcard '*' number can not exceed 1 and must be in the end", locality)
		}
		if _, ok := seen["*"]; ok {
			return fmt.Errorf("locality %s overlap with previous specified ones", locality)
		}
		items := strings.SplitN(locality, "/", 3)
		if slices.Contains(items, "") {
			return fmt.Errorf("locality %s must not contain empty region/zone/subzone info", locality)
		}
		overlap := fmt.Errorf("locality %s overlap with previous specified ones", locality)
		region := items[0]
		switch len(items) - 1 {
		case 0:
			if _, ok := seen[region]; ok {
				return overlap
			}
			seen[region] = map[string]map[string]bool{"*": {"*": true}}
		case 1:
			zone := items[1]
			if zones, ok := seen[region]; ok {
				if _, ok := zones["*"]; ok {
					return overlap
				}
				if _, ok := zones[zone]; ok {
					return overlap
				}
				zones[zone] = map[string]bool{"*": true}
			} else {
				seen[region] = map[string]map[string]bool{zone: {"*": true}}
			}
		case 2:
			zone, subzone := items[1], items[2]
			if zones, ok := seen[region]; ok {
				if _, ok := zones["*"]; ok {
					return overlap
				}
				if subzones, ok := zones[zone]; ok {
					if subzones["*"] || subzones[subzone] {
						return overlap
					}
					subzones[subzone] = true
				} else {
					zones[zone] = map[string]bool{subzone: true}
				}
			} else {
				seen[region] = map[string]map[string]bool{zone: {subzone: true}}
			}
		}
	}
	return nil
}

func validateNetwork(n *meshconfig.Network) error {
	var errs []error
	for _, e := range n.Endpoints {
		switch e := e.Ne.(type) {
		case *meshconfig.Network_NetworkEndpoints_FromCidr:
			if _, err := netip.ParsePrefix(e.FromCidr); err != nil {
				errs = append(errs, fmt.Errorf("%q is not a valid CIDR block", e.FromCidr))
			}
		case *meshconfig.Network_NetworkEndpoints_FromRegistry:
			if !isDNS1123Label(e.FromRegistry) {
				errs = append(errs, fmt.Errorf("invalid registry name: %v", e.FromRegistry))
			}
		}
	}
	for _, g := range n.Gateways {
		switch gw := g.Gw.(type) {
		case *meshconfig.Network_IstioNetworkGateway_RegistryServiceName:
			if err := validateFQDN(gw.RegistryServiceName); err != nil {
				errs = append(errs, err)
			}
		case *meshconfig.Network_IstioNetworkGateway_Address:
			if _, err := netip.ParseAddr(gw.Address); err != nil && validateFQDN(gw.Address) != nil {
				errs = append(errs, fmt.Errorf("%v is not a valid IP address or DNS name", gw.Address))
			}
		}
		if err := validatePort(int(g.Port)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func validatePort(port int) error {
	if 1 <= port && port <= 65535 {
		return nil
	}
	return fmt.Errorf("port number %d must be in the range 1..65535", port)
}

func validateDuration(d *durationpb.Duration) error {
	dur := d.AsDuration()
	if dur < time.Millisecond {
		return errors.New("duration must be greater than 1ms")
	}
	if dur%time.Millisecond != 0 {
		return errors.New("only durations to ms precision are supported")
	}
	return nil
}

func validateConnectTimeout(d *durationpb.Duration) error {
	if err := validateDuration(d); err != nil {
		return err
	}
	if dur := d.AsDuration(); dur < time.Millisecond || dur > time.Hour {
		return fmt.Errorf("time %v should be >=%v and <=%v", dur, time.Millisecond, time.Hour)
	}
	return nil
}

func validateProtocolDetectionTimeout(d *durationpb.Duration) error {
	dur := d.AsDuration()
	if dur != 0 && dur%time.Millisecond != 0 {
		return errors.New("only durations to ms precision are supported")
	}
	return nil
}

func validateProxyAddress(addr string) error {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("unable to split %q: %v", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return fmt.Errorf("port (%s) is not a number: %v", p, err)
	}
	if err := validatePort(port); err != nil {
		return err
	}
	if validateFQDN(host) != nil {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q is not a valid hostname or an IP address", host)
		}
	}
	return nil
}

func validateFQDN(fqdn string) error {
	if len(fqdn) > 255 {
		return fmt.Errorf("domain name %q too long (max 255)", fqdn)
	}
	if fqdn == "" {
		return errors.New("empty domain name not allowed")
	}
	parts := strings.Split(fqdn, ".")
	if _, err := strconv.Atoi(parts[len(parts)-1]); err == nil {
		return fmt.Errorf("domain name %q invalid (top level domain %q cannot be all-numeric)", fqdn, parts[len(parts)-1])
	}
	for i, label := range parts {
		if i == len(parts)-1 && label == "" {
			return nil
		}
		if !isDNS1123Label(label) {
			return fmt.Errorf("domain name %q invalid (label %q invalid)", fqdn, label)
		}
	}
	return nil
}

func validateTrustDomain(domain string) error {
	if domain == "" {
		return errors.New("empty domain name not allowed")
	}
	parts := strings.Split(domain, ".")
	for i, label := range parts {
		if i == len(parts)-1 && label == "" {
			return nil
		}
		if !isDNS1123Label(label) {
			return fmt.Errorf("trust domain name %q invalid", domain)
		}
	}
	return nil
}

var dns1123Label = regexp.MustCompile(`^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$`)

// isDNS1123Label is pkg/config/labels.IsDNS1123Label.
func isDNS1123Label(s string) bool { return len(s) <= 63 && dns1123Label.MatchString(s) }

package trace

import (
	"slices"
	"testing"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// healthy is two primaries on two networks (testdata/two-networks) as a
// working mesh's read shows them: east's istiod synced with west and
// holding its endpoints, west's gateway answering, both roots trusted, and
// east's sidecar sent its own pod and west's gateway.
func healthy(t *testing.T) Input {
	t.Helper()
	f, err := fleet.LoadDir("testdata/two-networks", "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	f.Probes = &model.Probes{
		From: "this machine (test)",
		Istiod: []model.IstiodView{{Context: "east", Pod: "istio-system/istiod-1",
			Clusters: []model.IstiodCluster{{ID: "east", SyncStatus: "synced"}, {ID: "west", SecretName: "istio-system/istio-remote-secret-west", SyncStatus: "synced"}},
			Registry: &model.IstiodRegistry{Clusters: []model.RegistryCluster{{ID: "west", Ready: map[string][]string{"sample/helloworld": {"10.2.0.5"}, "sample/httpbin": {"10.2.0.9"}}}}},
		}},
		Gateways: []model.GatewayProbe{{SourceNetwork: "net-east", Network: "net-west", Context: "west", Service: "istio-system/istio-eastwestgateway",
			Address: "192.0.2.10:15443", Outcome: model.ProbeOK}},
	}
	trust := &model.TrustMatrix{Contexts: []string{"east", "west"}, Cells: []model.TrustCell{
		{From: "east", To: "west", Verdict: model.TrustOK}, {From: "west", To: "east", Verdict: model.TrustOK}}}
	view := &model.SidecarView{Context: "east", ClusterID: "east", Network: "net-east", Namespace: "sample", Proxy: "sample/helloworld-east",
		Service: "helloworld.sample.svc.cluster.local", Port: 5000, Cluster: "outbound|5000||helloworld.sample.svc.cluster.local",
		Endpoints: []model.XDSEndpoint{
			{Address: "10.1.0.5", Port: 5000, Locality: "us-east-1/us-east-1a/", Priority: 0, Health: "HEALTHY"},
			{Address: "192.0.2.10", Port: 15443, Locality: "us-west-2/us-west-2a/", Priority: 1, Health: "HEALTHY"},
		}}
	return Input{Fleet: f, Trust: trust, Catalog: checks.DefaultCatalog(), Namespace: "sample", Service: "helloworld", Port: 5000,
		From: "east", FromNamespace: "sample", View: view,
		Policies: map[string]model.SecurityPolicies{"east": {Context: "east"}, "west": {Context: "west"}}}
}

func hop(t *testing.T, tr Trace, name string) Hop {
	t.Helper()
	for _, h := range tr.Hops {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no hop %s", name)
	return Hop{}
}

func TestHealthyPath(t *testing.T) {
	tr := Walk(healthy(t))
	if tr.Verdict != OK || tr.FirstBroken != "" {
		t.Errorf("verdict %s at %q, want ok", tr.Verdict, tr.FirstBroken)
	}
	for _, h := range tr.Hops {
		if h.Status != OK {
			t.Errorf("hop %s %s: %s %v", h.Name, h.Status, h.Summary, h.Evidence)
		}
	}
	if !slices.Equal(tr.To, []string{"east", "west"}) {
		t.Errorf("destinations %v", tr.To)
	}
	// The caller is the pod whose sidecar was asked: its service account.
	if tr.Identity != "cluster.local/ns/sample/sa/caller" {
		t.Errorf("identity %s", tr.Identity)
	}
}

// Without probes nothing istiod or a gateway would have said is OK.
func TestNotObservedIsUnknown(t *testing.T) {
	in := healthy(t)
	in.Fleet.Probes, in.View = nil, &model.SidecarView{Context: "east", NotRun: "--no-probes: istiod was not asked"}
	tr := Walk(in)
	for _, name := range []string{HopDiscovery, HopProxy, HopGateway, HopLocality} {
		if h := hop(t, tr, name); h.Status != Unknown {
			t.Errorf("hop %s is %s without probes: %s", name, h.Status, h.Summary)
		}
	}
	if tr.Verdict != Unknown || tr.FirstBroken != HopDiscovery {
		t.Errorf("verdict %s at %s, want unknown at discovery", tr.Verdict, tr.FirstBroken)
	}
	// Policies not read are unknown too.
	in = healthy(t)
	delete(in.Policies, "west")
	if h := hop(t, Walk(in), HopPolicy); h.Status != Unknown {
		t.Errorf("policy hop %s with west's policies unread", h.Status)
	}
}

func TestFirstBrokenHop(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(*Input)
		hop    string
		check  checks.ID
	}{
		{"no Service and no DNS proxy", func(in *Input) { in.Service, in.Port, in.View = "httpbin", 8000, nil }, HopResolve, checks.MF4014},
		{"peer not synced", func(in *Input) { in.Fleet.Probes.Istiod[0].Clusters[1].SyncStatus = "timeout" }, HopDiscovery, checks.MF4011},
		{"synced without the endpoints", func(in *Input) { in.Fleet.Probes.Istiod[0].Registry.Clusters[0].Ready = nil }, HopDiscovery, checks.MF4021},
		{"sidecar not sent the peer", func(in *Input) { in.View.Endpoints = in.View.Endpoints[:1] }, HopProxy, checks.MF4025},
		{"sidecar sent another network's pod", func(in *Input) { in.View.Endpoints[1].Address, in.View.Endpoints[1].Port = "10.2.0.5", 5000 }, HopProxy, checks.MF4026},
		{"gateway refuses", func(in *Input) { in.Fleet.Probes.Gateways[0].Outcome = model.ProbeRefused }, HopGateway, checks.MF3012},
		{"gateway signs under another root", func(in *Input) {
			yes := true
			in.Fleet.Probes.Gateways[0].Outcome, in.Fleet.Probes.Gateways[0].OwnNetworkTrusts = model.ProbeUntrusted, &yes
		}, HopGateway, checks.MF2001},
		{"roots not trusted", func(in *Input) { in.Trust.Cells[1].Verdict = model.TrustFail }, HopTrust, checks.MF2001},
		{"DENY policy", func(in *Input) {
			in.Policies["west"] = model.SecurityPolicies{Context: "west", AuthorizationPolicies: []model.AuthorizationPolicy{
				authz("sample", "deny", "DENY", nil, from(principals("cluster.local/ns/sample/sa/caller")))}}
		}, HopPolicy, ""},
		{"mTLS disabled across networks", func(in *Input) {
			in.Policies["west"] = model.SecurityPolicies{Context: "west", PeerAuthentications: []model.PeerAuthentication{{Meta: model.Meta{Namespace: "sample", Name: "off"}, Mode: "DISABLE"}}}
		}, HopPolicy, ""},
		{"failover without outlier detection", func(in *Input) {
			in.Fleet.Cluster("east").DestinationRules[0].TrafficPolicy.OutlierDetection = false
		}, HopLocality, checks.MF5002},
		// A doctor finding about the hop's clusters fails it even where
		// trace's own facts look fine: the two never disagree.
		{"the doctor's error about the gateway", func(in *Input) {
			in.Findings = []checks.Finding{{Check: checks.MF3006, Severity: checks.SeverityError, Contexts: []string{"west"}, Message: "no cross-network Gateway"}}
		}, HopGateway, checks.MF3006},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy(t)
			tc.break_(&in)
			tr := Walk(in)
			if tr.Verdict != Fail || tr.FirstBroken != tc.hop {
				for _, h := range tr.Hops {
					t.Logf("%s %s: %s", h.Name, h.Status, h.Summary)
				}
				t.Fatalf("verdict %s at %q, want fail at %s", tr.Verdict, tr.FirstBroken, tc.hop)
			}
			h := hop(t, tr, tc.hop)
			if tc.check != "" && !slices.Contains(h.Checks, tc.check) {
				t.Errorf("hop %s cites %v, want %s", tc.hop, h.Checks, tc.check)
			}
			if h.Remediation == "" {
				t.Errorf("hop %s says nothing to change", tc.hop)
			}
		})
	}
}

// A doctor finding about clusters off the call's path leaves it alone.
func TestFindingsOffThePath(t *testing.T) {
	in := healthy(t)
	in.Findings = []checks.Finding{
		{Check: checks.MF3012, Severity: checks.SeverityError, Contexts: []string{"central"}},
		{Check: checks.MF5002, Severity: checks.SeverityError, Contexts: []string{"west"}},
		// About east, but another service's call.
		{Check: checks.MF4014, Severity: checks.SeverityWarning, Contexts: []string{"east"}, Object: &checks.ObjectRef{Kind: "Service", Namespace: "sample", Name: "api"}},
	}
	if tr := Walk(in); tr.Verdict != OK {
		t.Errorf("verdict %s at %s from findings about other clusters", tr.Verdict, tr.FirstBroken)
	}
}

// With DNS proxying on by default, a name without a local Service resolves.
func TestResolveThroughDNSProxy(t *testing.T) {
	in := healthy(t)
	east := in.Fleet.Cluster("east")
	for i, cm := range east.ConfigMaps {
		if cm.Name == "istio" {
			east.ConfigMaps[i].Data = map[string]string{"mesh": "defaultConfig: {meshId: mesh1, proxyMetadata: {ISTIO_META_DNS_CAPTURE: \"true\"}}"}
		}
	}
	in.Fleet.Clusters[0] = east.Unmemoized()
	in.Service, in.Port, in.View = "httpbin", 8000, nil
	if h := hop(t, Walk(in), HopResolve); h.Status != OK {
		t.Errorf("resolve %s: %s", h.Status, h.Summary)
	}
}

package all

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The scaling benchmarks run every check, one at a time, on synthetic fleets
// of 1k/10k/50k Services per cluster and 2/5/20 clusters: multi-primary,
// one network per cluster, one root with an intermediate per cluster, a
// remote secret for every peer, an east-west gateway, 200 nodes, one
// EndpointSlice per Service and a DestinationRule per ten. One Service in a
// hundred exists in the first cluster only and one in a hundred has other
// ports in the second, so that the discovery checks find something. Each
// check must stay linear (or n log n) in services × clusters:
//
//	go test ./pkg/checks/all -run '^$' -bench BenchmarkCheck -benchtime 3x
//
// The figures are in test/bench/README.md. Nothing here is timed as a test.
func BenchmarkCheck(b *testing.B) {
	reg := Registry()
	for _, size := range []struct{ services, clusters int }{
		{1000, 2}, {10000, 2}, {50000, 2},
		{1000, 5}, {10000, 5}, {50000, 5},
		{1000, 20}, {10000, 20}, {50000, 20},
	} {
		if testing.Short() && size.services*size.clusters > 20000 {
			continue
		}
		var f *model.Fleet // built once per size, on first use
		for _, m := range reg.Catalog.Entries() {
			name := fmt.Sprintf("%s/svc=%dk/clusters=%d", m.ID, size.services/1000, size.clusters)
			b.Run(name, func(b *testing.B) {
				if f == nil {
					f = syntheticFleet(b, size.services, size.clusters)
				}
				sel := checks.Selection{Only: []string{string(m.ID)}}
				for b.Loop() {
					b.StopTimer()
					fresh := forget(f) // derived readings (identity, CAs) are part of the cost
					b.StartTimer()
					checks.Run(fresh, reg, sel)
				}
			})
		}
	}
}

// BenchmarkRunAll is the doctor's whole check phase on the same fleets:
// every check at once, concurrently, as `doctor` runs them.
func BenchmarkRunAll(b *testing.B) {
	reg := Registry()
	for _, size := range []struct{ services, clusters int }{{1000, 2}, {10000, 3}, {50000, 5}, {10000, 20}} {
		b.Run(fmt.Sprintf("svc=%dk/clusters=%d", size.services/1000, size.clusters), func(b *testing.B) {
			f := syntheticFleet(b, size.services, size.clusters)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				fresh := forget(f)
				b.StartTimer()
				checks.Run(fresh, reg, checks.Selection{})
			}
		})
	}
}

// TestSyntheticFleet holds the benchmarks' fleet to what they claim: every
// cluster a primary of its own network that the checks read, and the
// planted differences found by MF4012 and MF4014.
func TestSyntheticFleet(t *testing.T) {
	f := syntheticFleet(t, 1000, 3)
	res := checks.Run(f, Registry(), checks.Selection{Only: []string{"MF4012", "MF4014", "MF1001"}})
	count := map[checks.ID]int{}
	for _, fd := range res.Findings {
		count[fd.Check]++
	}
	// 10 Services only in the first cluster, missing from each of the two
	// others; 10 Services whose ports differ in the second.
	if count["MF4014"] != 20 || count["MF4012"] != 10 || count["MF1001"] != 0 {
		t.Errorf("findings per check: %v, want MF4014 20, MF4012 10, MF1001 0", count)
	}
	for _, r := range res.Checks {
		if len(r.Unknown) > 0 || r.NotRun != "" {
			t.Errorf("%s: unknown %v, not run %q", r.ID, r.Unknown, r.NotRun)
		}
	}
}

// forget returns a copy of f whose clusters have none of the derived
// readings the checks memoize, so that each benchmark iteration pays for them.
func forget(f *model.Fleet) *model.Fleet {
	out := *f
	out.Clusters = make([]*model.Cluster, len(f.Clusters))
	for i, c := range f.Clusters {
		fresh := &model.Cluster{}
		src, dst := reflect.ValueOf(c).Elem(), reflect.ValueOf(fresh).Elem()
		for j := range src.NumField() {
			if src.Type().Field(j).IsExported() {
				dst.Field(j).Set(src.Field(j))
			}
		}
		out.Clusters[i] = fresh
	}
	return &out
}

func syntheticFleet(tb testing.TB, services, clusters int) *model.Fleet {
	tb.Helper()
	root, rootKey := newCA(tb, "bench root", nil, nil)
	f := &model.Fleet{IstioNamespace: "istio-system"}
	names := make([]string, clusters)
	for i := range names {
		names[i] = fmt.Sprintf("c%02d", i)
	}
	for i, name := range names {
		c := &model.Cluster{Context: name, IstioNamespace: "istio-system", Reachable: true, Server: fmt.Sprintf("https://10.%d.0.1:6443", i), ServerVersion: "v1.36.3"}
		inter, interKey := newCA(tb, "bench "+name, root, rootKey)
		if err := fleet.AddManifests(c, []byte(istioInstall(tb, name, i, names, root, inter, interKey))); err != nil {
			tb.Fatal(err)
		}
		addWorkloads(c, i, services, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})))
		f.Clusters = append(f.Clusters, c)
	}
	return f
}

// istioInstall is one primary's Istio, as JSON manifests.
func istioInstall(tb testing.TB, name string, index int, peers []string, root, inter *x509.Certificate, interKey *ecdsa.PrivateKey) string {
	keyDER, err := x509.MarshalECPrivateKey(interKey)
	if err != nil {
		tb.Fatal(err)
	}
	pemOf := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	network := "network-" + name
	values, _ := json.Marshal(map[string]any{"global": map[string]any{
		"meshID": "mesh1", "network": network, "multiCluster": map[string]any{"clusterName": name},
	}})
	objs := []any{
		obj("v1", "Namespace", "", "istio-system", map[string]any{"labels": map[string]string{"topology.istio.io/network": network}}, nil),
		obj("v1", "Namespace", "", "kube-system", map[string]any{"uid": "uid-" + name}, nil),
		obj("apps/v1", "Deployment", "istio-system", "istiod", map[string]any{"labels": map[string]string{"app": "istiod", "istio": "pilot"}}, map[string]any{
			"replicas": 1,
			"selector": map[string]any{"matchLabels": map[string]string{"app": "istiod"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": "istiod", "istio": "pilot"}},
				"spec": map[string]any{"serviceAccountName": "istiod", "containers": []any{map[string]any{
					"name": "discovery", "image": "docker.io/istio/pilot:1.28.0",
					"env": []any{map[string]string{"name": "CLUSTER_ID", "value": name}},
				}}}},
		}),
		obj("apps/v1", "Deployment", "istio-system", "istio-eastwestgateway", map[string]any{"labels": map[string]string{"app": "istio-eastwestgateway", "istio": "eastwestgateway", "topology.istio.io/network": network}}, map[string]any{
			"replicas": 1,
			"selector": map[string]any{"matchLabels": map[string]string{"istio": "eastwestgateway"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]string{"istio": "eastwestgateway", "topology.istio.io/network": network}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.28.0",
					"env": []any{map[string]string{"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": network}},
				}}}},
		}),
		obj("v1", "Service", "istio-system", "istio-eastwestgateway", map[string]any{"labels": map[string]string{"istio": "eastwestgateway", "topology.istio.io/network": network}}, map[string]any{
			"type": "LoadBalancer", "selector": map[string]string{"istio": "eastwestgateway"},
			"ports": []any{
				map[string]any{"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
				map[string]any{"name": "tls", "port": 15443, "targetPort": 15443, "protocol": "TCP"},
				map[string]any{"name": "tls-istiod", "port": 15012, "targetPort": 15012, "protocol": "TCP"},
				map[string]any{"name": "tls-webhook", "port": 15017, "targetPort": 15017, "protocol": "TCP"},
			},
		}),
		obj("networking.istio.io/v1", "Gateway", "istio-system", "cross-network-gateway", nil, map[string]any{
			"selector": map[string]string{"istio": "eastwestgateway"},
			"servers":  []any{map[string]any{"port": map[string]any{"number": 15443, "name": "tls", "protocol": "TLS"}, "tls": map[string]string{"mode": "AUTO_PASSTHROUGH"}, "hosts": []string{"*.local"}}},
		}),
		obj("v1", "ConfigMap", "istio-system", "istio", nil, nil),
		obj("v1", "ConfigMap", "istio-system", "istio-sidecar-injector", nil, nil),
		obj("v1", "Secret", "istio-system", "cacerts", nil, nil),
	}
	// Objects whose top-level fields are not under spec.
	objs[len(objs)-3].(map[string]any)["data"] = map[string]string{"mesh": "trustDomain: cluster.local\ndefaultConfig:\n  meshId: mesh1\n  proxyMetadata:\n    ISTIO_META_DNS_CAPTURE: \"false\"\n"}
	objs[len(objs)-2].(map[string]any)["data"] = map[string]string{"values": string(values), "config": "{}"}
	objs[len(objs)-1].(map[string]any)["data"] = map[string]string{
		"ca-cert.pem": b64(pemOf("CERTIFICATE", inter.Raw)), "ca-key.pem": b64(pemOf("EC PRIVATE KEY", keyDER)),
		"root-cert.pem": b64(pemOf("CERTIFICATE", root.Raw)), "cert-chain.pem": b64(pemOf("CERTIFICATE", inter.Raw) + pemOf("CERTIFICATE", root.Raw)),
	}
	gw := objs[4].(map[string]any)
	gw["status"] = map[string]any{"loadBalancer": map[string]any{"ingress": []any{map[string]string{"ip": fmt.Sprintf("172.18.%d.10", index)}}}}
	for j, peer := range peers {
		if peer == name {
			continue
		}
		kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: %[1]s, cluster: {server: "https://10.%[2]d.0.1:6443", certificate-authority-data: %[3]s}}]
users: [{name: %[1]s, user: {token: bench-token}}]
contexts: [{name: %[1]s, context: {cluster: %[1]s, user: %[1]s}}]
current-context: %[1]s
`, peer, j, b64(pemOf("CERTIFICATE", root.Raw)))
		s := obj("v1", "Secret", "istio-system", "istio-remote-secret-"+peer, map[string]any{
			"labels":      map[string]string{"istio/multiCluster": "true"},
			"annotations": map[string]string{"networking.istio.io/cluster": peer},
		}, nil)
		s["data"] = map[string]string{peer: b64(kubeconfig)}
		objs = append(objs, s)
	}
	var sb strings.Builder
	for _, o := range objs {
		j, err := json.Marshal(o)
		if err != nil {
			tb.Fatal(err)
		}
		sb.WriteString("---\n")
		sb.Write(j)
		sb.WriteString("\n")
	}
	return sb.String()
}

func obj(apiVersion, kind, namespace, name string, meta map[string]any, spec map[string]any) map[string]any {
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = name
	if namespace != "" {
		meta["namespace"] = namespace
	}
	o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta}
	if spec != nil {
		o["spec"] = spec
	}
	return o
}

// addWorkloads adds the bulk straight into the snapshot's types (what the
// collector keeps of each object): decoding a million objects would only
// measure the decoder.
func addWorkloads(c *model.Cluster, index, services int, rootPEM string) {
	namespaces := max(services/100, 1)
	enabled := true
	for n := range namespaces {
		ns := fmt.Sprintf("bench-%d", n)
		c.Namespaces = append(c.Namespaces, model.Namespace{Meta: model.Meta{Name: ns, Labels: map[string]string{"istio-injection": "enabled"}}})
		c.ConfigMaps = append(c.ConfigMaps, model.ConfigMap{Meta: model.Meta{Namespace: ns, Name: model.RootCertConfigMap}, Data: map[string]string{"root-cert.pem": rootPEM}})
	}
	for n := range 200 {
		c.Nodes = append(c.Nodes, model.Node{
			Meta: model.Meta{Name: fmt.Sprintf("node-%d", n), Labels: map[string]string{
				"topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": fmt.Sprintf("eu-west-1%c", 'a'+n%3),
			}},
			PodCIDRs: []string{fmt.Sprintf("10.%d.%d.0/24", 100+index, n)}, InternalIPs: []string{fmt.Sprintf("192.168.%d.%d", index, n+1)},
		})
	}
	for s := range services {
		if s%100 == 0 && index != 0 {
			continue // only in the first cluster: MF4014 elsewhere
		}
		ns, name := fmt.Sprintf("bench-%d", s%namespaces), fmt.Sprintf("svc-%d", s)
		port := int32(8080)
		if s%100 == 1 && index == 1 {
			port = 9090 // other ports in the second cluster: MF4012
		}
		c.Services = append(c.Services, model.Service{
			Meta: model.Meta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
			Type: "ClusterIP", ClusterIP: fmt.Sprintf("10.96.%d.%d", s/250, s%250+1), Selector: map[string]string{"app": name},
			Ports: []model.ServicePort{{Name: "http", Protocol: "TCP", Port: port, TargetPort: "8080"}},
		})
		c.EndpointSlices = append(c.EndpointSlices, model.EndpointSlice{
			Meta:    model.Meta{Namespace: ns, Name: name + "-abcde", Labels: map[string]string{"kubernetes.io/service-name": name}},
			Service: name, AddressType: "IPv4", Ready: 2,
			Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 100+index, s/250%200, s%250+1), fmt.Sprintf("10.%d.%d.%d", 100+index, s/250%200, s%250+2)},
		})
		if s%10 == 0 {
			c.DestinationRules = append(c.DestinationRules, model.DestinationRule{
				Meta:          model.Meta{Namespace: ns, Name: "dr-" + name},
				Host:          name + "." + ns + ".svc.cluster.local",
				TrafficPolicy: &model.TrafficPolicy{OutlierDetection: true, Locality: &model.LocalityPolicy{Enabled: &enabled}},
			})
		}
	}
}

func newCA(tb testing.TB, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"bench"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

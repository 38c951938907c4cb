package probe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRegistry writes registryz and endpointShardz as istiod does for the
// bench lab of test/bench: 5,000 Services in 50 namespaces, the same in each
// of 3 clusters, each with an EndpointSlice of two ready endpoints; the
// endpoints carry the fields istiod writes for a pod of the lab.
func benchRegistry(services int, clusters []string) (registryz, shardz []byte) {
	var r, s bytes.Buffer
	r.WriteString("[")
	s.WriteString("{")
	for i := range services {
		ns, name := fmt.Sprintf("bench-%d", i%50), fmt.Sprintf("svc-%d", i)
		if i > 0 {
			r.WriteString(",")
			s.WriteString(",")
		}
		fmt.Fprintf(&r, `{"Attributes":{"ServiceRegistry":"Kubernetes","Name":%q,"Namespace":%q,"Labels":{"app":%q},"ExportTo":null,"LabelSelectors":{"app":%q},"Aliases":null,"ClusterExternalAddresses":{"Addresses":null},"ClusterExternalPorts":null,"PassthroughTargetPorts":null,"K8sAttributes":{"Type":"ClusterIP","ExternalName":"","NodeLocal":false,"TrafficDistribution":0,"ObjectName":%q,"SpiffeIdentity":""}},"ports":[{"name":"http","port":8080,"protocol":"HTTP"}],"creationTime":"2026-12-03T14:00:00Z","hostname":"%s.%s.svc.cluster.local","clusterVIPs":{"Addresses":{`,
			name, ns, name, name, name, name, ns)
		for j, c := range clusters {
			if j > 0 {
				r.WriteString(",")
			}
			fmt.Fprintf(&r, `%q:["10.%d.%d.%d"]`, c, 96+j, i/250, i%250+1)
		}
		fmt.Fprintf(&r, `}},"defaultAddress":"10.96.%d.%d","Resolution":0,"MeshExternal":false,"ResourceVersion":"%d"}`, i/250, i%250+1, 1000+i)
		fmt.Fprintf(&s, `"%s.%s.svc.cluster.local":{%q:{"Shards":{`, name, ns, ns)
		for j, c := range clusters {
			if j > 0 {
				s.WriteString(",")
			}
			fmt.Fprintf(&s, `"Kubernetes/%s":[`, c)
			for k, net := range []int{244, 245} {
				if k > 0 {
					s.WriteString(",")
				}
				fmt.Fprintf(&s, `{"Labels":{"app":%q,"topology.istio.io/cluster":%q,"topology.istio.io/network":"network-%s"},"Addresses":["10.%d.%d.%d"],"ServicePortName":"http","LegacyClusterPortKey":0,"ServiceAccount":"","Network":"network-%s","Locality":{"Label":"","ClusterID":%q},"EndpointPort":8080,"LbWeight":0,"TLSMode":"disabled","Namespace":"","WorkloadName":"","HostName":"","SubDomain":"","HealthStatus":1,"SendUnhealthyEndpoints":false,"NodeName":""}`,
					name, c, c, net, i/250, i%250+1, c, c)
			}
			s.WriteString("]")
		}
		s.WriteString(`},"ServiceAccounts":{}}}`)
	}
	r.WriteString("]")
	s.WriteString("}")
	return r.Bytes(), s.Bytes()
}

// BenchmarkReadRegistry is the decoding cost of one istiod's registry on the
// bench lab, without the transfer: go test ./pkg/probe -run '^$' -bench ReadRegistry -benchmem
func BenchmarkReadRegistry(b *testing.B) {
	registryz, shardz := benchRegistry(5000, []string{"east", "west", "central"})
	get := func(_ context.Context, path string, read func(io.Reader) error) error {
		if path == registryzPath {
			return read(bytes.NewReader(registryz))
		}
		return read(bytes.NewReader(shardz))
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if r := readRegistry(context.Background(), get, "east"); r.Error != "" || len(r.Clusters) != 3 || r.Clusters[2].Shards != 5000 {
			b.Fatalf("%+v", r.Error)
		}
	}
	// CPU time, which a loaded machine does not stretch as it does the wall.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(len(registryz))/1e6, "registryz-MB")
	b.ReportMetric(float64(len(shardz))/1e6, "shardz-MB")
}

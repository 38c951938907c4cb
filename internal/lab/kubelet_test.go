package lab

import (
	"reflect"
	"testing"
)

func TestReplicaCommandMovesEveryPort(t *testing.T) {
	args := []string{"ip", "netns", "exec", "ns", "/bin/pilot-discovery", "discovery", "--clusterID", "east",
		"--httpAddr", ":8080", "--grpcAddr", "10.1.1.2:15010", "--secureGRPCAddr", "10.1.1.2:15012",
		"--httpsAddr", "10.1.1.2:15017", "--monitoringAddr", ":15014", "--ctrlz_port", "9876", "--ctrlz_address", "10.1.1.2"}
	env := []string{"PATH=/bin", "POD_NAME=istiod-east", "CLUSTER_ID=east"}
	gotArgs, gotEnv, err := replicaCommand(args, env, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"discovery", "--clusterID", "east",
		"--httpAddr", "127.0.0.1:8180", "--grpcAddr", "10.1.1.2:15110", "--secureGRPCAddr", "10.1.1.2:15112",
		"--httpsAddr", "10.1.1.2:15117", "--monitoringAddr", "127.0.0.1:15114", "--ctrlz_port", "9976", "--ctrlz_address", "10.1.1.2"}
	if !reflect.DeepEqual(gotArgs, want) {
		t.Errorf("args\n got %v\nwant %v", gotArgs, want)
	}
	if !reflect.DeepEqual(gotEnv, []string{"PATH=/bin", "CLUSTER_ID=east"}) {
		t.Errorf("env %v: the first replica's POD_NAME must go", gotEnv)
	}
	if _, _, err := replicaCommand([]string{"etcd"}, nil, 100); err == nil {
		t.Error("a command that is not istiod's is refused")
	}
}

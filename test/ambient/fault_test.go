package ambient

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/meshfed/kubectl-meshfed/internal/lab"
	"github.com/meshfed/kubectl-meshfed/internal/lab/labtest"
)

// TestAmbientWorkloadsWithoutAmbientIstiod: on a healthy sidecar
// multi-primary lab, west gets what `helm install ztunnel` of the pinned
// chart writes (with the ambient multicluster guide's
// multiCluster.clusterName and global.network) and a namespace labelled
// istio.io/dataplane-mode=ambient, while its istiod keeps running without
// PILOT_ENABLE_AMBIENT, as when ztunnel is installed and istiod is not
// reinstalled with the ambient profile. The lab has no ztunnel binary and
// no DaemonSet controller: the DaemonSet object is there, nothing runs it,
// which is all the doctor reads. The doctor calls west mixed (its sample
// namespace is still labelled for sidecars) and makes exactly one ambient
// finding: MF7002 on west's istiod.
func TestAmbientWorkloadsWithoutAmbientIstiod(t *testing.T) {
	l := labtest.Start(t, "multi-primary", 2)
	istio, err := lab.IstioModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	helm := filepath.Join(os.Getenv("MESHFED_LAB_BIN"), "helm")
	if os.Getenv("MESHFED_LAB_BIN") == "" {
		helm = filepath.Join("..", "..", ".bin", "helm")
	}
	rendered, err := exec.Command(helm, "template", "ztunnel", filepath.Join(istio, "manifests/charts/ztunnel"), "--namespace", "istio-system",
		"--set", "multiCluster.clusterName=west", "--set", "global.network="+l.Network("west")).Output()
	if err != nil {
		t.Fatalf("helm template ztunnel: %v", err)
	}
	file := filepath.Join(t.TempDir(), "ambient.yaml")
	objects := string(rendered) + "\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ambient-apps\n  labels: {istio.io/dataplane-mode: ambient}\n"
	if err := os.WriteFile(file, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := labtest.RunKubectl(t, l, "--context", "west", "apply", "-n", "istio-system", "-f", file); code != 0 {
		t.Fatalf("kubectl apply: exit %d: %s", code, stderr)
	}

	out, stderr, _ := labtest.Run(t, l, append([]string{"doctor", "-o", "json", "--contexts", strings.Join(l.Contexts(), ",")}, l.IstiodDebugFlags()...)...)
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -o json: %v\n%s\n%s", err, out, stderr)
	}
	modes := map[string]string{}
	for _, c := range r.Clusters {
		modes[c.Context] = c.DataPlane
	}
	if want := map[string]string{"east": "sidecar", "west": "mixed"}; !reflect.DeepEqual(modes, want) {
		t.Errorf("data planes %v, want %v", modes, want)
	}
	var got []string
	for _, f := range r.Findings {
		if strings.HasPrefix(f.Check, "MF7") {
			got = append(got, f.Check+"@"+strings.Join(f.Contexts, ","))
			t.Logf("%s: %s", f.Check, f.Message)
		}
	}
	sort.Strings(got)
	if want := []string{"MF7002@west"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ambient findings %v, want %v", got, want)
	}
}

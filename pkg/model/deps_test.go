package model_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The pure readers of the model: the checks, the report renderers and
// trace's hop logic. They must not link anything that dials a cluster, so
// that a check (or a hop) stays pure by construction and a renderer cannot
// decide anything live.
var pureReaders = []string{"./pkg/checks/...", "./pkg/render", "./pkg/topology", "./pkg/trace"}

// What they must not link: client-go's REST client and transports, the
// port-forward and SPDY code, and the packages that fill the model.
var forbidden = []string{
	"k8s.io/client-go/rest",
	"k8s.io/client-go/tools/portforward",
	"k8s.io/client-go/transport/spdy",
	"k8s.io/client-go/tools/clientcmd",
	"github.com/meshfed/kubectl-meshfed/pkg/probe",
	"github.com/meshfed/kubectl-meshfed/pkg/fleet",
	"github.com/meshfed/kubectl-meshfed/pkg/fix",
}

func TestPureReadersLinkNoTransport(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, pkg := range append([]string{"."}, pureReaders...) {
		cmd := exec.Command(goTool, "list", "-deps", pkg)
		if pkg != "." {
			cmd.Dir = filepath.Join("..", "..") // the module's root
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed %d packages: not a dependency list", pkg, len(deps))
		}
		for _, d := range deps {
			for _, f := range forbidden {
				if d == f {
					t.Errorf("%s links %s", pkg, f)
				}
			}
		}
	}
}

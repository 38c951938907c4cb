package kube

import (
	"os/exec"
	"strings"
	"testing"
)

// heavy are packages the plugin must not link, and why: each costs
// megabytes of binary and start-up work for nothing the plugin uses.
var heavy = map[string]string{
	"k8s.io/client-go/kubernetes/scheme":                "registers every API group of k8s.io/api (typed clientset, typed clients, client-go/discovery)",
	"k8s.io/client-go/kubernetes":                       "the typed clientset: every group's client and scheme",
	"k8s.io/client-go/discovery":                        "imports kubernetes/scheme and OpenAPI's models",
	"k8s.io/client-go/restmapper":                       "imports client-go/discovery",
	"k8s.io/cli-runtime/pkg/genericclioptions":          "imports kustomize, discovery and the typed scheme",
	"sigs.k8s.io/kustomize/api/krusty":                  "kustomize, through cli-runtime",
	"istio.io/client-go/pkg/clientset/versioned":        "Istio's clientset registers every Istio group",
	"istio.io/client-go/pkg/clientset/versioned/scheme": "every Istio group",
	"istio.io/istio/pkg/config/mesh":                    "istiod's mesh config, with its feature flags and logging",
	"istio.io/istio/pilot/pkg/features":                 "istiod's feature flags",
	"istio.io/istio/pkg/log":                            "istiod's logging (zap)",
}

// TestImportDiet holds the binary's diet: `go list -deps` of the plugin
// names none of the heavy packages, and only istio.io/istio's constants.
func TestImportDiet(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/meshfed/kubectl-meshfed/cmd/kubectl-meshfed").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list named %d packages: not the plugin's dependencies", len(deps))
	}
	for _, p := range deps {
		if why, ok := heavy[p]; ok {
			t.Errorf("the plugin links %s: %s", p, why)
		}
		if strings.HasPrefix(p, "istio.io/istio/") && p != "istio.io/istio/pkg/config/constants" {
			t.Errorf("the plugin links %s: only istio.io/istio's constants are cheap to link", p)
		}
		if strings.HasPrefix(p, "k8s.io/client-go/kubernetes/") || strings.HasPrefix(p, "sigs.k8s.io/kustomize/") {
			t.Errorf("the plugin links %s", p)
		}
	}
}

package kube

import (
	"os"
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
	// x/net/trace (gRPC's and x/net's request tracing) links
	// html/template, whose reflective method calls turn off the linker's
	// dead-method elimination (a 70 MB binary, not 30).
	"golang.org/x/net/trace": "request tracing: html/template turns off dead-method elimination",
	"html/template":          "turns off the linker's dead-method elimination",
}

// heavyModules are paths the plugin must not link a package at or under.
// The xDS client (pkg/xds) speaks gRPC through connectrpc.com/connect over
// net/http, with its own wire-equal subset of Envoy's messages (pkg/xds's
// package comment has the measurements): grpc-go and go-control-plane's
// generated types cost the binary 2.2 MB and `version` 1.6 MB of RSS, in
// ~40 packages with init work, and even EDS's types alone link gRPC
// (envoy/service/discovery/v3's ads_grpc.pb.go).
var heavyModules = map[string]string{
	"google.golang.org/grpc":                    "grpc-go: its balancers, resolvers and channelz register at init",
	"github.com/envoyproxy":                     "Envoy's generated API (go-control-plane, protoc-gen-validate): file descriptors registered at init, and gRPC",
	"github.com/cncf/xds":                       "xDS's generated API, imported by Envoy's",
	"google.golang.org/genproto/googleapis/rpc": "gRPC's status types",
}

// buildTags are the tags every build of the plugin passes (Makefile TAGS,
// labtest's build).
const buildTags = "grpcnotrace"

// TestImportDiet holds the binary's diet: `go list -deps` of the plugin
// names none of the heavy packages, and only istio.io/istio's constants.
func TestImportDiet(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", buildTags, "github.com/meshfed/kubectl-meshfed/cmd/kubectl-meshfed").CombinedOutput()
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
		for m, why := range heavyModules {
			if p == m || strings.HasPrefix(p, m+"/") {
				t.Errorf("the plugin links %s: %s", p, why)
			}
		}
		if strings.HasPrefix(p, "k8s.io/client-go/kubernetes/") || strings.HasPrefix(p, "sigs.k8s.io/kustomize/") {
			t.Errorf("the plugin links %s", p)
		}
	}
}

// TestBuildsPassTheTags: the Makefile's builds (build, dist) pass the tags
// TestImportDiet lists the dependencies under.
func TestBuildsPassTheTags(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	if !strings.Contains(mk, "TAGS      := "+buildTags+"\n") {
		t.Errorf("the Makefile's TAGS is not %q", buildTags)
	}
	if n := strings.Count(mk, "build -trimpath -tags $(TAGS)"); n != 2 {
		t.Errorf("%d builds of the Makefile pass -tags $(TAGS), want 2 (build, dist)", n)
	}
}

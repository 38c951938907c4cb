//go:build ignore

// gen_remote_kinds writes remotekinds_gen.go: the custom resources istiod
// lists from each remote cluster, read from the istio.io/istio module this
// module requires (see internal/istiosrc).
package main

import (
	"log"
	"os"

	"github.com/meshfed/kubectl-meshfed/internal/istiosrc"
)

func main() {
	src, err := istiosrc.RemoteKindsTable("istioapi")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("remotekinds_gen.go", src, 0o644); err != nil {
		log.Fatal(err)
	}
}

package fleet

import (
	"context"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// Options control one collection pass.
type Options struct {
	// Timeout bounds the whole read of one cluster (default 10s).
	Timeout time.Duration
	// IstioNamespace is Istio's system namespace (default istio-system).
	IstioNamespace string
}

// Collect reads every context concurrently, each under its own deadline.
// It never fails as a whole: a cluster that cannot be read is returned with
// Reachable false and Error set; a kind that cannot be read is recorded in
// Failures. (Implementation in progress.)
func Collect(ctx context.Context, flags *genericclioptions.ConfigFlags, contexts []string, opts Options) *Fleet {
	panic("not implemented yet")
}

// Command watchcacheread is the floor of `make bench` as a process of its
// own: it reads every kind the doctor reads (see package floor) from each
// named context of a kubeconfig, all at once, and exits. Comparing whole
// processes counts what the doctor's start-up and linking cost as well.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshfed/kubectl-meshfed/test/bench/floor"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	contexts := flag.String("contexts", "", "comma-separated contexts to read")
	flag.Parse()
	if err := run(*kubeconfig, strings.Split(*contexts, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, contexts []string) error {
	g, ctx := errgroup.WithContext(context.Background())
	for _, name := range contexts {
		g.Go(func() error {
			cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
				&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
				&clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			r, err := floor.NewReader(cfg)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := r.ReadAll(ctx); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

package fix

import (
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// NewRESTClients returns Clients over config, one client per context built
// on first use, each request ending within timeout (no bound when zero).
// Apply bounds each request by its context too; the timeout also ends a
// request that takes none.
func NewRESTClients(config func(context string) (*rest.Config, error), timeout time.Duration) *kube.Clients {
	return kube.NewClients(func(context string) (*rest.Config, error) {
		cfg, err := config(context)
		if err != nil {
			return nil, err
		}
		cfg = rest.CopyConfig(cfg)
		if timeout > 0 {
			cfg.Timeout = timeout
		}
		return cfg, nil
	})
}

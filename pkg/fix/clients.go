package fix

import (
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// RESTClients are Clients built from each context's REST configuration,
// once per context, with every request bounded by a timeout (discovery,
// which takes no context, included).
type RESTClients struct {
	config  func(context string) (*rest.Config, error)
	timeout time.Duration

	mu   sync.Mutex
	kube map[string]kubernetes.Interface
	dyn  map[string]dynamic.Interface
}

// NewRESTClients returns Clients over config, each request ending within
// timeout (no bound when zero).
func NewRESTClients(config func(context string) (*rest.Config, error), timeout time.Duration) *RESTClients {
	return &RESTClients{config: config, timeout: timeout,
		kube: map[string]kubernetes.Interface{}, dyn: map[string]dynamic.Interface{}}
}

func (c *RESTClients) restConfig(context string) (*rest.Config, error) {
	cfg, err := c.config(context)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if c.timeout > 0 {
		cfg.Timeout = c.timeout
	}
	return cfg, nil
}

// Kubernetes returns the typed client of context.
func (c *RESTClients) Kubernetes(context string) (kubernetes.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.kube[context]; ok {
		return k, nil
	}
	cfg, err := c.restConfig(context)
	if err != nil {
		return nil, err
	}
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c.kube[context] = k
	return k, nil
}

// Dynamic returns the dynamic client of context.
func (c *RESTClients) Dynamic(context string) (dynamic.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.dyn[context]; ok {
		return d, nil
	}
	cfg, err := c.restConfig(context)
	if err != nil {
		return nil, err
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c.dyn[context] = d
	return d, nil
}

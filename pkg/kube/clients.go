package kube

import (
	"sync"

	"k8s.io/client-go/rest"
)

// Clients are the Clients of one run, one per context, each built on first
// use and then shared: the collector, the probes and fix's apply reach a
// cluster through the same configuration and connection.
type Clients struct {
	config func(context string) (*rest.Config, error)

	mu sync.Mutex
	m  map[string]*clientOnce
}

type clientOnce struct {
	once   sync.Once
	client *Client
	err    error
}

// NewClients returns the Clients of the configurations config gives.
func NewClients(config func(context string) (*rest.Config, error)) *Clients {
	return &Clients{config: config, m: map[string]*clientOnce{}}
}

// Clients returns the Clients of the kubeconfig these flags name.
func (f *Flags) Clients() *Clients { return NewClients(f.RESTConfig) }

// Client returns the client of a context; an error says why the context
// cannot be reached (not in the kubeconfig, a bad entry), in words that
// name the entry.
func (cs *Clients) Client(context string) (*Client, error) {
	cs.mu.Lock()
	o, ok := cs.m[context]
	if !ok {
		o = &clientOnce{}
		cs.m[context] = o
	}
	cs.mu.Unlock()
	o.once.Do(func() {
		cfg, err := cs.config(context)
		if err != nil {
			o.err = err
			return
		}
		o.client, o.err = NewClient(cfg)
	})
	return o.client, o.err
}

package fleet

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// ChooseOptions say how the contexts of a run are chosen.
type ChooseOptions struct {
	// Contexts, when set, are used as they are.
	Contexts []string
	// All uses every context of the kubeconfig.
	All bool
	// Timeout bounds the read of each cluster while following the mesh.
	Timeout        time.Duration
	IstioNamespace string
}

// Choice is a chosen context and the reason it was chosen.
type Choice struct {
	Context string
	Reason  string
}

// ChooseContexts picks the contexts of a run. With neither Contexts nor All
// it starts at the current context and follows the mesh: every context whose
// API server is the target of a remote secret of an already chosen cluster
// is added, until no new one appears.
func ChooseContexts(ctx context.Context, flags *kube.Flags, opts ChooseOptions) ([]Choice, error) {
	return NewCollector(flags, Options{Timeout: opts.Timeout, IstioNamespace: opts.IstioNamespace}).ChooseContexts(ctx, opts)
}

func chooseContexts(ctx context.Context, c *Collector, opts ChooseOptions) ([]Choice, error) {
	flags := c.flags
	raw, err := flags.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	if len(raw.Contexts) == 0 {
		return nil, noContexts(flags)
	}
	if one := flags.OneClusterFlags(); len(one) > 0 {
		return c.chooseOne(raw, opts, one)
	}
	switch {
	case len(opts.Contexts) > 0:
		var out []Choice
		seen := map[string]bool{}
		for _, name := range opts.Contexts {
			if _, ok := raw.Contexts[name]; !ok {
				return nil, fmt.Errorf("context %q is not in the kubeconfig", name)
			}
			if !seen[name] {
				seen[name] = true
				out = append(out, Choice{Context: name, Reason: "named with --contexts"})
			}
		}
		return out, nil
	case opts.All:
		names := make([]string, 0, len(raw.Contexts))
		for name := range raw.Contexts {
			names = append(names, name)
		}
		sort.Strings(names)
		out := make([]Choice, len(names))
		for i, n := range names {
			out[i] = Choice{Context: n, Reason: "--all-contexts"}
		}
		return out, nil
	}

	start := raw.CurrentContext
	if flags.Context() != "" {
		start = flags.Context()
	}
	if start == "" {
		return nil, fmt.Errorf("no current context: name one with --context, or use --contexts or --all-contexts")
	}
	if _, ok := raw.Contexts[start]; !ok {
		return nil, fmt.Errorf("context %q is not in the kubeconfig", start)
	}
	byServer := map[string][]string{}
	for name, kctx := range raw.Contexts {
		if cl, ok := raw.Clusters[kctx.Cluster]; ok {
			byServer[normalizeServer(cl.Server)] = append(byServer[normalizeServer(cl.Server)], name)
		}
	}
	for _, names := range byServer {
		sort.Strings(names)
	}

	return c.follow(ctx, start, byServer), nil
}

// noContexts says which files were read, and which do not exist: the
// loader skips KUBECONFIG's missing files without a word.
func noContexts(flags *kube.Flags) error {
	present, missing := flags.KubeconfigFiles()
	read := append([]string(nil), present...)
	for _, p := range missing {
		read = append(read, p+" (no such file)")
	}
	if len(read) == 0 {
		return fmt.Errorf("the kubeconfig has no contexts")
	}
	return fmt.Errorf("the kubeconfig has no contexts (read: %s)", strings.Join(read, ", "))
}

// chooseOne chooses the one context a run with one-cluster flags (--server,
// --user, …) reads: they describe one cluster or user, as they do to
// kubectl, so they apply to the context kubectl would use with them
// (--context, else the current one) or to the one --contexts names, and the
// mesh is not followed to other clusters they would misdescribe.
func (c *Collector) chooseOne(raw clientcmdapi.Config, opts ChooseOptions, one []string) ([]Choice, error) {
	flagNames := strings.Join(one, ", ")
	if opts.All || len(opts.Contexts) > 1 {
		return nil, fmt.Errorf("%s describe one cluster or user, as in kubectl: give them with one context (--context, or --contexts with one name), not with --contexts of several or --all-contexts", flagNames)
	}
	name, reason := raw.CurrentContext, "current context"
	switch {
	case len(opts.Contexts) == 1:
		name, reason = opts.Contexts[0], "named with --contexts"
	case c.flags.Context() != "":
		name, reason = c.flags.Context(), "named with --context"
	}
	if name == "" {
		return nil, fmt.Errorf("no current context: name one with --context")
	}
	if _, ok := raw.Contexts[name]; !ok {
		return nil, fmt.Errorf("context %q is not in the kubeconfig", name)
	}
	c.flags = c.flags.OneClusterContext(name)
	c.clients = c.flags.Clients()
	return []Choice{{Context: name, Reason: reason + "; only this one, with " + flagNames}}, nil
}

// follow starts at one context and adds, round by round, every context whose
// API server a remote secret of an already chosen cluster points at. Each
// round reads its new clusters at once, and the reads are the collection
// itself: Collect later returns them rather than reading them again, so
// following the mesh costs no second pass and no second timeout.
func (c *Collector) follow(ctx context.Context, start string, byServer map[string][]string) []Choice {
	chosen := []Choice{{Context: start, Reason: "current context"}}
	seen := map[string]bool{start: true}
	for round := chosen; len(round) > 0; {
		names := make([]string, len(round))
		for i, ch := range round {
			names[i] = ch.Context
		}
		read := c.Collect(ctx, names)
		var next []Choice
		for _, cl := range read.Clusters {
			for _, t := range remoteTargets(cl) {
				for _, name := range byServer[normalizeServer(t.server)] {
					if seen[name] {
						continue
					}
					seen[name] = true
					next = append(next, Choice{Context: name, Reason: fmt.Sprintf(
						"remote secret %s (cluster %q) in context %s points at its API server %s",
						t.secret, t.clusterID, cl.Context, t.server)})
				}
			}
		}
		chosen = append(chosen, next...)
		round = next
	}
	return chosen
}

type remoteTarget struct{ secret, clusterID, server string }

// remoteTargets lists the API servers named by the remote secrets istiod
// reads in a cluster. A cluster that could not be read has none: the doctor
// reports it.
func remoteTargets(c *model.Cluster) []remoteTarget {
	var out []remoteTarget
	for _, s := range c.Secrets {
		if s.Namespace != c.IstioNamespace || s.Labels[model.MultiClusterSecretLabel] != "true" {
			continue
		}
		for _, k := range s.Data.Keys() {
			if server, err := KubeconfigServer(s.Data[k]); err == nil {
				out = append(out, remoteTarget{secret: s.Namespace + "/" + s.Name, clusterID: k, server: server})
			}
		}
	}
	return out
}

// KubeconfigServer returns the API server of a kubeconfig's current context
// (or of its only cluster). Errors never quote the kubeconfig.
func KubeconfigServer(kubeconfig []byte) (string, error) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return "", fmt.Errorf("not a kubeconfig")
	}
	if kctx, ok := cfg.Contexts[cfg.CurrentContext]; ok {
		if cl, ok := cfg.Clusters[kctx.Cluster]; ok {
			return cl.Server, nil
		}
	}
	if len(cfg.Clusters) == 1 {
		for _, cl := range cfg.Clusters {
			return cl.Server, nil
		}
	}
	return "", fmt.Errorf("the kubeconfig names no current cluster")
}

func normalizeServer(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return strings.TrimSuffix(strings.ToLower(s), "/")
	}
	host := strings.ToLower(u.Host)
	if u.Port() == "" && (u.Scheme == "https" || u.Scheme == "") {
		host += ":443"
	}
	return host + strings.TrimSuffix(u.Path, "/")
}

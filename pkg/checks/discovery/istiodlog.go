package discovery

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// istiodLogs is what the replicas' logs that were read say (the probe keeps
// only the fragments that name a cause, pkg/probe.LogFragments).
type istiodLogs struct {
	read      []*model.IstiodLog
	fragments []string
}

func logsOf(views []model.IstiodView) istiodLogs {
	var l istiodLogs
	seen := map[string]bool{}
	for _, v := range views {
		if v.Log == nil {
			continue
		}
		l.read = append(l.read, v.Log)
		for _, fr := range v.Log.Fragments {
			if !seen[fr] {
				seen[fr] = true
				l.fragments = append(l.fragments, fr)
			}
		}
	}
	return l
}

// pathFailure are the phrases of a fragment that say a connection to an
// address failed: the network between istiod and it.
var pathFailure = []string{"i/o timeout", "connection refused", "no route to host", "network is unreachable", "no such host", "TLS handshake timeout"}

// about returns the first fragment naming server's host (its dial or
// lookup) and one of phrases, or "".
func (l istiodLogs) about(server string, phrases []string) string {
	host := serverHost(server)
	if host == "" {
		return ""
	}
	for _, fr := range l.fragments {
		if !strings.Contains(fr, host) {
			continue
		}
		for _, ph := range phrases {
			if strings.Contains(fr, ph) {
				return fr
			}
		}
	}
	return ""
}

// describe says what the logs showed, for a cause the doctor cannot name.
func (l istiodLogs) describe(server string) string {
	if len(l.read) == 0 {
		return "istiod's log was not read"
	}
	var errs []string
	lines := 0
	for _, r := range l.read {
		if r.Error != "" {
			errs = append(errs, fmt.Sprintf("%s: %s", r.Pod, r.Error))
		}
		lines = max(lines, r.Lines)
	}
	if len(errs) == len(l.read) {
		return "istiod's log could not be read (" + strings.Join(errs, "; ") + ")"
	}
	if len(l.fragments) == 0 {
		return fmt.Sprintf("istiod's last %d log lines name no cause", lines)
	}
	shown := l.fragments
	if len(shown) > 3 {
		shown = shown[:3]
	}
	return fmt.Sprintf("istiod's log says %q, none of it a failure at %s", shown, server)
}

// serverHost is the host:port of a server URL (the host alone when the
// URL has no port), as dial errors print it.
func serverHost(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Port() == "" {
		return u.Hostname()
	}
	return u.Host
}

// notServed returns the first fragment saying a LIST of kind (its Kind or
// resource name) found no such resource, or "".
func (l istiodLogs) notServed(kind, resource string) string {
	for _, fr := range l.fragments {
		if strings.Contains(fr, "could not find the requested resource") && (strings.Contains(fr, "."+kind+":") || strings.Contains(fr, "Resource="+resource+":")) {
			return fr
		}
	}
	return ""
}

// startUnfinished returns istiod's log fragment saying it began waiting for
// its caches when no fragment says they all synced, or "". istiod opens
// its xDS (15010, 15012) and webhook (15017) ports and reports ready only
// after that wait (pilot/pkg/bootstrap/server.go Start, waitForCacheSync),
// and it waits for every registry, a remote cluster's WorkloadEntry
// controller too, which has no sync timeout
// (pilot/pkg/serviceregistry/kube/controller/multicluster.go
// initializeCluster adds it with AddRegistryAndRun;
// pilot/pkg/serviceregistry/aggregate/controller.go HasSynced).
func (l istiodLogs) startUnfinished() string {
	waiting := ""
	for _, fr := range l.fragments {
		switch {
		case strings.HasPrefix(fr, "All controller caches have been synced"):
			return ""
		case fr == "Waiting for caches to be synced":
			waiting = fr
		}
	}
	return waiting
}

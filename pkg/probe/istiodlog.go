package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// Bounds of the log read: istiod logs a failing remote cluster's list
// errors every few seconds (client-go's reflector backs off to 30 s at
// most), so its last lines hold them; the bytes bound a pod that logs
// long lines.
const (
	IstiodLogLines = 2000
	istiodLogBytes = 1 << 20
)

// logCauses are the fragments of istiod's log lines that name why a remote
// cluster does not sync, each a fixed phrase with the names it carries
// (addresses, resources, cluster IDs, service accounts): the regexps admit
// nothing else, so a fragment cannot carry a token or a line's other
// content. The phrases are client-go's (reflector.go's list errors, the
// dialer's), the API server's (NotFound, Forbidden, Unauthorized), and
// istiod's own (pkg/kube/multicluster/cluster.go: "remote cluster %s
// failed to sync after %v"; its start's, below). Compiled on first use:
// every command of the plugin pays for package variables at start-up, and
// only a run that reads istiod's log needs these.
var logCauses = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`remote cluster [A-Za-z0-9._-]+ failed to sync after [0-9.a-zµ]+`),
		// "failed to list *v1.WorkloadEntry: …" (typed informers) or
		// "failed to list networking.istio.io/v1, Resource=workloadentries: …"
		regexp.MustCompile(`failed to list [A-Za-z0-9.,=*/ -]{1,100}: (?:the server could not find the requested resource|Unauthorized)`),
		regexp.MustCompile(`[a-z0-9.-]+ is forbidden: User "[A-Za-z0-9:._-]+" cannot (?:list|watch|get) resource "[a-z0-9.-]+"(?: in API group "[a-z0-9.-]*")?`),
		regexp.MustCompile(`dial tcp [0-9A-Fa-f.:\[\]]+: (?:i/o timeout|connect: connection refused|connect: no route to host|connect: network is unreachable)`),
		regexp.MustCompile(`lookup [A-Za-z0-9.-]+(?: on [0-9A-Fa-f.:\[\]]+)?: no such host`),
		regexp.MustCompile(`x509: certificate signed by unknown authority|x509: certificate has expired or is not yet valid|x509: certificate is valid for [A-Za-z0-9.,: -]+, not [A-Za-z0-9.:-]+`),
		regexp.MustCompile(`net/http: TLS handshake timeout`),
		// istiod's start (pilot/pkg/bootstrap/server.go waitForCacheSync): the
		// first without the second means it has not finished, and it opens its
		// xDS and webhook ports only after (Server.Start).
		regexp.MustCompile(`Waiting for caches to be synced|All controller caches have been synced up in [0-9.a-zµ]+`),
	}
})

// LogFragments returns the fragments of log that name a cause (logCauses),
// each once, in the order first seen; at most max of them.
func LogFragments(log []byte, max int) []string {
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), istiodLogBytes)
	for sc.Scan() {
		line := sc.Text()
		for _, re := range logCauses() {
			for _, m := range re.FindAllString(line, -1) {
				if !seen[m] && len(out) < max {
					seen[m] = true
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// readIstiodLog reads the last IstiodLogLines lines of an istiod pod's
// container (bounded in bytes too) through the API server's pods/log, and
// keeps the fragments that name a cause.
func readIstiodLog(ctx context.Context, cl *kube.Client, namespace, pod, container string) *model.IstiodLog {
	out := &model.IstiodLog{Pod: namespace + "/" + pod, Lines: IstiodLogLines}
	if cl == nil {
		out.Error = "no client for its API server"
		return out
	}
	req := cl.Core().Get().Namespace(namespace).Resource("pods").Name(pod).SubResource("log").
		Param("tailLines", strconv.Itoa(IstiodLogLines)).Param("limitBytes", strconv.Itoa(istiodLogBytes)).
		SetHeader("Accept", "text/plain, */*") // a log is text, whatever the client's codec
	if container != "" {
		req = req.Param("container", container)
	}
	b, err := req.Do(ctx).Raw()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			out.Error = "no answer by the deadline"
		} else {
			out.Error = oneLine(err)
		}
		return out
	}
	out.Fragments = LogFragments(b, 20)
	return out
}

// istiodContainer is the name of istiod's container in its pod: the one
// running pilot (Istio's chart names it "discovery").
func istiodContainer(p model.Workload) string {
	for _, c := range p.Containers {
		if c.Name == "discovery" || strings.Contains(c.Image, "pilot") {
			return c.Name
		}
	}
	if len(p.Containers) == 1 {
		return p.Containers[0].Name
	}
	return ""
}

// anyNotSynced reports whether a view lists a cluster not synced.
func anyNotSynced(cs []model.IstiodCluster) bool {
	for _, c := range cs {
		if c.SyncStatus != "synced" {
			return true
		}
	}
	return false
}

package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/meshfed/kubectl-meshfed/pkg/fleet"
	"github.com/meshfed/kubectl-meshfed/pkg/mesh"
)

// NoDebugAddress is what an istiod view says when no address was given for
// a primary's istiod: a port-forward to the istiod pod, as istioctl does, is
// not implemented yet.
const NoDebugAddress = "no debug address for its istiod (give --istiod-debug-address CONTEXT=URL; a port-forward to the istiod pod is not implemented yet)"

// Istiod reads /debug/clusterz of each primary's istiod at the debug
// address given for its context (addresses: context → http(s) base URL),
// concurrently and by opts.Deadline.
func Istiod(ctx context.Context, f *fleet.Fleet, opts Options, addresses map[string]string) []fleet.IstiodView {
	opts = opts.withDefaults()
	if dl, ok := ctx.Deadline(); ok && dl.Before(opts.Deadline) {
		opts.Deadline = dl
	}
	var out []fleet.IstiodView
	for _, c := range f.Clusters {
		if !c.Reachable || mesh.Identify(c).Role != mesh.RolePrimary {
			continue
		}
		v := fleet.IstiodView{Context: c.Context, Address: strings.TrimSuffix(addresses[c.Context], "/")}
		if v.Address == "" {
			v.NotRun = NoDebugAddress
		}
		out = append(out, v)
	}
	if left := time.Until(opts.Deadline); left < MinTime {
		for i := range out {
			if out[i].NotRun == "" {
				out[i].NotRun = fmt.Sprintf("not read: the run's deadline left %s", left.Round(time.Millisecond))
			}
		}
		return out
	}
	ctx, cancel := context.WithDeadline(ctx, opts.Deadline)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DialContext: opts.Dial}}
	done := make(chan struct{}, len(out))
	results := make([]fleet.IstiodView, len(out))
	for i, v := range out {
		if v.NotRun != "" {
			results[i] = v
			done <- struct{}{}
			continue
		}
		go func() {
			pctx, pcancel := context.WithTimeout(ctx, opts.Timeout)
			defer pcancel()
			v.Clusters, v.Error = readClusterz(pctx, client, v.Address)
			results[i] = v
			done <- struct{}{}
		}()
	}
	// Every read honours its context, which ends by the deadline.
	for range out {
		<-done
	}
	return results
}

func readClusterz(ctx context.Context, client *http.Client, base string) ([]fleet.IstiodCluster, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/debug/clusterz", nil)
	if err != nil {
		return nil, "bad debug address: " + oneLine(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, oneLine(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, oneLine(err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "/debug/clusterz answered " + resp.Status
	}
	var got []fleet.IstiodCluster
	if err := json.Unmarshal(b, &got); err != nil {
		return nil, "/debug/clusterz is not the list istiod writes: " + oneLine(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].ID < got[j].ID })
	return got, ""
}

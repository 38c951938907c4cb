package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"
)

// ClusterStatus is one entry of istiod's /debug/clusterz.
type ClusterStatus struct {
	ID         string `json:"id"`
	SecretName string `json:"secretName"`
	SyncStatus string `json:"syncStatus"`
}

// Sync statuses istiod reports.
const (
	Synced  = "synced"
	Syncing = "syncing"
	Timeout = "timeout"
	Closed  = "closed"
)

var debugClient = &http.Client{Timeout: 5 * time.Second}

// Clusterz reads istiod's view of its clusters for a primary, sorted by ID.
func (l *Lab) Clusterz(ctx context.Context, context string) ([]ClusterStatus, error) {
	u := l.IstiodDebugURL(context)
	if u == "" {
		return nil, fmt.Errorf("%s runs no istiod", context)
	}
	return ReadClusterz(ctx, u)
}

// ReadClusterz reads /debug/clusterz from an istiod http address, sorted by ID.
func ReadClusterz(ctx context.Context, baseURL string) ([]ClusterStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/debug/clusterz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := debugClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("clusterz: %s", resp.Status)
	}
	var out []ClusterStatus
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("clusterz: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ClusterzMap reads clusterz as cluster ID -> sync status.
func (l *Lab) ClusterzMap(ctx context.Context, context string) (map[string]string, error) {
	st, err := l.Clusterz(ctx, context)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, s := range st {
		m[s.ID] = s.SyncStatus
	}
	return m, nil
}

// WaitClusterz polls a primary's clusterz until ok accepts it or ctx ends.
func (l *Lab) WaitClusterz(ctx context.Context, context string, ok func(map[string]string) bool) (map[string]string, error) {
	var last map[string]string
	for {
		m, err := l.ClusterzMap(ctx, context)
		if err == nil {
			last = m
			if ok(m) {
				return m, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("clusterz of %s: %w (last: %v)", context, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

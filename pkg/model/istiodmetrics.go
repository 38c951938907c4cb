package model

import "time"

// IstiodMetrics is what an istiod replica's Prometheus metrics (/metrics on
// its monitoring port, 15014) say of its history since it started: counters
// that one look at /debug/clusterz cannot show. Only the families the checks
// judge are kept; the metric names are istiod's own (istio.io/istio
// pkg/kube/multicluster/secretcontroller.go and cluster.go, pkg/xds/
// monitoring.go), exported without suffixes (pkg/monitoring
// RegisterPrometheusExporter: WithoutCounterSuffixes, WithoutUnits).
type IstiodMetrics struct {
	// Error says why the metrics could not be read.
	Error string `json:"error,omitempty"`
	// Started is when the istiod process started
	// (process_start_time_seconds), when exported.
	Started *time.Time `json:"started,omitempty"`
	// SyncTimeouts counts, per remote cluster ID, the times it did not sync
	// within PILOT_REMOTE_CLUSTER_TIMEOUT
	// (remote_cluster_sync_timeouts_total{cluster}).
	SyncTimeouts map[string]float64 `json:"syncTimeouts,omitempty"`
	// SecretEvents counts the remote secrets' events istiod processed, by
	// event (remote_cluster_secret_events_total{event}: add, update, delete).
	SecretEvents map[string]float64 `json:"secretEvents,omitempty"`
	// RemoteClusters is istiod_managed_clusters{cluster_type="remote"}, the
	// remote clusters it manages now (nil when not exported).
	RemoteClusters *float64 `json:"remoteClusters,omitempty"`
	// XDSRejects counts the xDS responses proxies rejected, by type
	// (pilot_total_xds_rejects{type}: cds, lds, rds, eds, …).
	XDSRejects map[string]float64 `json:"xdsRejects,omitempty"`
	// Rejecting names the proxies that rejected a response, by type, from
	// pilot_xds_{cds,lds,rds,eds}_reject{node,err}; at most
	// MetricsRejectingMax are kept, RejectingMore counts the rest.
	Rejecting     []XDSReject `json:"rejecting,omitempty"`
	RejectingMore int         `json:"rejectingMore,omitempty"`
}

// XDSReject is one proxy that rejected a response of one type.
type XDSReject struct {
	Type string `json:"type"`
	// Node is the proxy's ID as istiod knows it
	// (sidecar~10.1.0.5~httpbin-5c8f.sample~sample.svc.cluster.local).
	Node string `json:"node"`
	// Code is the gRPC code the proxy gave (InvalidArgument, Internal, …).
	Code string `json:"code,omitempty"`
}

// MetricsRejectingMax bounds IstiodMetrics.Rejecting.
const MetricsRejectingMax = 20

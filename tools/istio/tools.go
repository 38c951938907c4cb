//go:build tools

// Package tools pins the lab's istiod and istioctl; build.sh builds them.
package tools

import (
	_ "istio.io/istio/istioctl/cmd/istioctl"
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)

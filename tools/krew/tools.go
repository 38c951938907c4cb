//go:build tools

// Package tools pins krew and its manifest validator so `go mod tidy` keeps its requirements.
package tools

import (
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)

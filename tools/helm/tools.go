//go:build tools

// Package tools pins helm's command for tools/build.sh.
package tools

import _ "helm.sh/helm/v4/cmd/helm"

//go:build tools

// Package tools pins the lab's etcd; build.sh builds it.
package tools

import _ "go.etcd.io/etcd/server/v3"

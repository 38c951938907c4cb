// Package xdspb holds the messages of Envoy's xDS API that pkg/xds sends
// and reads, wire-equal to go-control-plane's but without its dependencies
// (pkg/xds's package comment says why). The .proto is under proto/;
// xds.pb.go is generated from it with buf and protoc-gen-go (at go.mod's
// google.golang.org/protobuf); there is no protoc to install.
package xdspb

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate

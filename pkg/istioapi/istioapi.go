// Package istioapi holds what istiod lists of its clusters' custom
// resources, as a small table generated from the pinned istio.io/istio
// source (remotekinds_gen.go; `go generate ./pkg/istioapi`, and a test
// holds it to the source), so that the plugin links none of istiod's
// packages to know it.
package istioapi

import (
	"strconv"
	"strings"
)

//go:generate go run gen_remote_kinds.go

// Flag is an istiod feature flag: its environment variable and default.
type Flag struct {
	Env     string
	Default bool
}

// RemoteKind is a custom resource istiod lists from every remote cluster
// it reads, at Version, when every flag of Flags is on. Its informer's
// LIST of that version must succeed before istiod reports the cluster
// synced: a CRD that exists but does not serve Version answers 404 on
// every try, and the cluster stays "syncing", then "timeout". A CRD that
// does not exist is not waited for (istiod's delayed informers start once
// it appears).
type RemoteKind struct {
	Group, Version, Resource, Kind string
	Flags                          []Flag
}

// CRD is the name of the kind's CustomResourceDefinition.
func (k RemoteKind) CRD() string { return k.Resource + "." + k.Group }

// On reports whether istiod lists the kind, given its environment (an
// unset variable takes the flag's default; istiod parses the value with
// strconv.ParseBool, and a value it cannot parse keeps the default).
func (k RemoteKind) On(env func(string) (string, bool)) bool {
	for _, f := range k.Flags {
		v, set := env(f.Env)
		on := f.Default
		if b, err := strconv.ParseBool(v); set && err == nil {
			on = b
		}
		if !on {
			return false
		}
	}
	return true
}

// Groups are the API groups of RemoteKinds: what the collector reads the
// served versions of.
func Groups() []string {
	var out []string
	for _, k := range RemoteKinds {
		if !contains(out, k.Group) {
			out = append(out, k.Group)
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// SameRelease reports whether an istiod image tag ("1.31.2",
// "1.31-alpha.<commit>", "1.31-dev") is of Release, the Istio the table was
// read from; known is false when the tag names no release ("latest", a
// digest, a custom build's tag).
func SameRelease(tag string) (same, known bool) {
	minor := func(v string) (string, bool) {
		v = strings.TrimPrefix(v, "v")
		parts := strings.SplitN(v, ".", 3)
		if len(parts) < 2 {
			return "", false
		}
		m := parts[1]
		if i := strings.IndexAny(m, "-+_"); i >= 0 {
			m = m[:i]
		}
		if _, err := strconv.Atoi(parts[0]); err != nil {
			return "", false
		}
		if _, err := strconv.Atoi(m); err != nil {
			return "", false
		}
		return parts[0] + "." + m, true
	}
	have, ok := minor(tag)
	if !ok {
		return false, false
	}
	want, _ := minor(Release)
	return have == want, true
}

// Package model is what a diagnosis reads and what it found live, as data:
// the Fleet snapshot (one Cluster per context, trimmed to the fields the
// checks use), the live probes' results, what the AWS APIs said, and the
// matrices drawn from them. pkg/fleet and pkg/probe fill it; checks,
// renderers and fixers read it. It holds no client: nothing here dials a
// cluster, so a pure check never links client-go's transports.
//
// Nothing in a Snapshot is ever rendered as it is: secret data is kept only in
// memory (see SecretData) so that probes can use it, and prints as fingerprints.
package model

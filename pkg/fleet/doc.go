// Package fleet turns kubeconfig contexts into a Snapshot of what every cluster
// holds that the checks need: one read per kind per cluster, all clusters at
// once, each under its own deadline, trimmed to the fields the checks use.
//
// Nothing in a Snapshot is ever rendered as it is: secret data is kept only in
// memory (see SecretData) so that probes can use it, and prints as fingerprints.
package fleet

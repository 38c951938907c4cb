// Package fleet turns kubeconfig contexts (or a dump's folders) into a
// model.Fleet: what every cluster holds that the checks need, one read per
// kind per cluster, all clusters at once, each under its own deadline,
// trimmed to the fields the checks use. The snapshot's types are pkg/model's;
// this package is their reader, and the only one here that holds clients.
package fleet

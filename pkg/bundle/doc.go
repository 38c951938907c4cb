// Package bundle is the support bundle of `kubectl meshfed dump`: what one
// doctor run read and observed (each cluster's projection, the probes'
// results with where and when they ran, what AWS said), written as a
// gzip-compressed tar of one directory, and read back, several at once
// merged into one fleet, for `doctor --bundle`, `topology --bundle` and
// `trace --bundle`.
//
// The directory (Dir) holds:
//
//	manifest.yaml          Manifest: the format version, the tool, when, the contexts, the flags, and
//	                       the SHA-256 of every other file (a truncated or altered bundle is refused)
//	clusters/NN.json       one model.Cluster per context read, in the order chosen
//	probes.json            model.Probes: the live probes' results (absent with --no-probes)
//	aws-network.json       model.AWSNetwork (absent when AWS was not read)
//	aws-private-ca.json    model.AWSPrivateCA (absent without --pca-arn)
//	security.json          []model.SecurityPolicies of every namespace, for trace (added within
//	                       format 1; absent in older bundles)
//
// Secret values never enter a bundle: a Secret is written with its key
// names, each value's length and fingerprint, and SecretFacts: PEM
// certificates as they are (public), a kubeconfig with its credentials
// redacted, a private key as its public half (and, for a CA's signing key, a
// workload certificate it issued, its own key discarded), anything else as
// nothing but why it does not parse as a key or a certificate.
package bundle

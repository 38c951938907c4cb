#!/usr/bin/env bash
# Runs krew's own manifest validator (validate-krew-manifest, the check
# krew-index runs on a plugin's pull request) on a release's manifest, with
# its install test: for every platform it runs `kubectl krew install
# --manifest M` in a fresh KREW_ROOT, then looks for a LICENSE among the
# installed files.
#
# The validator would download each platform's uri, and the release is not
# uploaded yet: a stand-in kubectl-krew, first on PATH, runs the real krew
# with --archive set to that platform's archive in DIST. krew still checks the
# archive against the manifest's sha256, so a wrong checksum fails here.
#
#   tools/krew/check.sh dist/plugins/meshfed.yaml dist
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
manifest=$(realpath "${1:?usage: check.sh MANIFEST DIST}")
dist=$(realpath "${2:?usage: check.sh MANIFEST DIST}")
bin=$("$here/../build.sh" krew validate-krew-manifest kubectl)
version=$(sed -n 's/^  version: //p' "$manifest")
[ -n "$version" ] || { echo "check.sh: no spec.version in $manifest" >&2; exit 1; }

shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
# The validator passes only KREW_ROOT, KREW_OS, KREW_ARCH and PATH on, so
# the stand-in carries the paths it needs in its own text.
cat >"$shim/kubectl-krew" <<SHIM
#!/bin/sh
# Stand-in for kubectl-krew written by tools/krew/check.sh: install from the
# local archive of the platform krew is told to install for.
KREW_NO_UPGRADE_CHECK=1 exec "$bin/krew" "\$@" --archive "$dist/kubectl-meshfed_${version}_\${KREW_OS}_\${KREW_ARCH}.tar.gz"
SHIM
chmod +x "$shim/kubectl-krew"
ln -s "$bin/kubectl" "$shim/kubectl"

PATH="$shim:$PATH" "$bin/validate-krew-manifest" -manifest "$manifest"

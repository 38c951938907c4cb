#!/usr/bin/env bash
# Writes the krew manifest of a release: reads the template
# (plugins/meshfed.yaml.tmpl) on stdin and replaces {{VERSION}} with the
# version and each {{SHA256 <os>_<arch>}} with the checksum of
# kubectl-meshfed_<version>_<os>_<arch>.tar.gz in SHA256SUMS. Fails, writing
# nothing usable, when an archive has no checksum or a placeholder is left.
# The template's leading comment (how to use it) is left out.
#
#   tools/krew/manifest.sh v0.2.0 dist/SHA256SUMS < plugins/meshfed.yaml.tmpl
set -euo pipefail
version=${1:?usage: manifest.sh VERSION SHA256SUMS < template}
sums=${2:?usage: manifest.sh VERSION SHA256SUMS < template}

out=$(sed -e '1,/^[^#]/{/^#/d}' -e "s|{{VERSION}}|$version|g")
for platform in $(grep -o '{{SHA256 [a-z0-9_]*}}' <<<"$out" | sed 's/{{SHA256 \(.*\)}}/\1/' | sort -u); do
	archive=kubectl-meshfed_${version}_${platform}.tar.gz
	sum=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$sums")
	if ! [[ $sum =~ ^[0-9a-f]{64}$ ]]; then
		echo "manifest.sh: no sha256 for $archive in $sums" >&2
		exit 1
	fi
	out=${out//"{{SHA256 $platform}}"/$sum}
done
if grep -n '{{' <<<"$out" >&2; then
	echo "manifest.sh: placeholders left (above)" >&2
	exit 1
fi
printf '%s\n' "$out"

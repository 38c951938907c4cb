#!/usr/bin/env bash
# Builds the lab's binaries from the Go module proxy into $BIN (default .bin
# at the repo root), each under a folder named by the hash of the module that
# pins it, so a rebuild happens only when a pin changes. Prints the folder.
#
#   tools/build.sh            build everything the lab needs (istioctl and helm
#                             too: the installer scenarios render Istio's charts
#                             and make remote secrets with them)
#   tools/build.sh istioctl   build only what is named
#   (krew and validate-krew-manifest, for `make krew-check`, are built only
#   when named)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# Resolved, so that the links it makes stay valid when .bin is itself a link
# (a git worktree sharing another checkout's .bin).
bin=$(realpath -m "${BIN:-$root/.bin}")

declare -A module=(
	[etcd]=etcd
	[kube-apiserver]=kube [kube-controller-manager]=kube [kubectl]=kube
	[pilot-discovery]=istio [istioctl]=istio
	[krew]=krew [validate-krew-manifest]=krew
	[helm]=helm
)
declare -A pkg=(
	[etcd]=go.etcd.io/etcd/server/v3
	[kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
	[kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
	[kubectl]=k8s.io/kubernetes/cmd/kubectl
	[pilot-discovery]=istio.io/istio/pilot/cmd/pilot-discovery
	[istioctl]=istio.io/istio/istioctl/cmd/istioctl
	[krew]=sigs.k8s.io/krew/cmd/krew
	[validate-krew-manifest]=sigs.k8s.io/krew/cmd/validate-krew-manifest
	[helm]=helm.sh/helm/v4/cmd/helm
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(etcd kube-apiserver kube-controller-manager kubectl pilot-discovery istioctl helm)

for name in "${names[@]}"; do
	mod=${module[$name]:?unknown binary $name}
	key=$(cat "$here/$mod/go.mod" "$here/$mod/go.sum" | sha256sum | cut -c1-12)
	out=$bin/$mod-$key/$name
	if [ ! -x "$out" ]; then
		echo "building $name ($mod-$key) ..." >&2
		mkdir -p "$(dirname "$out")"
		# -trimpath and no debug info: smaller binaries, same cache across clones.
		(cd "$here/$mod" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp" "${pkg[$name]}")
		mv "$out.tmp" "$out"
	fi
	ln -sfn "$out" "$bin/$name"
done
echo "$bin"

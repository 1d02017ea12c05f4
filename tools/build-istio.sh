#!/usr/bin/env bash
# Builds Istio's own programs from the pinned istio.io/istio module
# (tools/istio/go.mod) into .cache/bin: istiod (pilot-discovery), istioctl,
# and the reachability probe (tools/istio/probe, on Istio's discovery server
# and traffic simulator). Go's build cache lives in .cache/go-build, shared
# with the kube-apiserver build, so only the first build pays.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "build-istio: Go >= 1.26 is required to build istiod and istioctl (go not found)" >&2; exit 1; }
ver=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n1.26\n' "$ver" | sort -V | head -n1)" != 1.26 ]; then
  echo "build-istio: Go >= 1.26 is required to build istiod and istioctl (found $ver)" >&2; exit 1
fi
mkdir -p .cache/bin
# No DWARF at all (-s -w only drops it at link time): the compile of a cold
# build does a fifth less work (client-go: 285 -> 228 CPU-s), and nobody debugs these. .cache/istio-build
echo "building istiod, istioctl and the probe from istio.io/istio $(awk '$1=="istio.io/istio"{print $2}' tools/istio/go.mod) (first build: about 5 minutes on 2 cores, 12 alongside the kube-apiserver's)"
start=$(date +%s)
out=$PWD/.cache/istio-build
( cd tools/istio && GOCACHE="$PWD/../../.cache/go-build" GOFLAGS=-mod=readonly \
    go build -trimpath -gcflags=all=-dwarf=false -ldflags='-s -w' -o "$out/" \
      istio.io/istio/pilot/cmd/pilot-discovery istio.io/istio/istioctl/cmd/istioctl ./probe )
# Renamed into place together, so a failed build leaves the old binaries.
mv "$out/pilot-discovery" .cache/bin/pilot-discovery
mv "$out/istioctl" .cache/bin/istioctl
mv "$out/probe" .cache/bin/meshguard-probe
touch .cache/bin/pilot-discovery .cache/bin/istioctl .cache/bin/meshguard-probe
echo "built .cache/bin/{pilot-discovery,istioctl,meshguard-probe} in $(( $(date +%s) - start ))s"

#!/usr/bin/env bash
# tools/build-istio.sh [RELEASE]
# Builds Istio's own programs from the istio.io/istio module a release pins
# (tools/istio_releases.py: 1.31 by tools/istio/go.mod, the default; 1.30 by
# tools/istio/go-1.30.mod): istiod (pilot-discovery), istioctl, and the
# reachability probe (tools/istio/probe, on Istio's discovery server and
# traffic simulator), into the release's bin folder. The newest release's
# build also makes the packet check's helper (tools/istio/packets: SDS,
# servers, client; no Istio code in it). Go's build cache lives in
# .cache/go-build, shared with the kube-apiserver build, so only the first
# build pays.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "build-istio: Go >= 1.26 is required to build istiod and istioctl (go not found)" >&2; exit 1; }
ver=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n1.26\n' "$ver" | sort -V | head -n1)" != 1.26 ]; then
  echo "build-istio: Go >= 1.26 is required to build istiod and istioctl (found $ver)" >&2; exit 1
fi
release=${1:-}
read -r modfile bin tags < <(python3 tools/istio_releases.py ${release:+"$release"})
[ "$tags" = - ] && tags=""
newest=false
[ "$modfile" = go.mod ] && newest=true
mkdir -p "$bin"
pin=$(awk '$1=="istio.io/istio"{print $2}' "tools/istio/$modfile")
goflags=-mod=readonly
$newest || goflags="$goflags -modfile=$modfile"
extra=()
$newest && extra=(./packets)
echo "building istiod, istioctl and the probe from istio.io/istio $pin ($modfile; first build: about 5 minutes on 2 cores, 12 alongside the kube-apiserver's)"
start=$(date +%s)
out=$PWD/.cache/istio-build/${release:-newest}
mkdir -p "$out"
# No DWARF at all (-s -w only drops it at link time): the compile of a cold
# build does a fifth less work (client-go: 285 -> 228 CPU-s), and nobody debugs these.
( cd tools/istio && GOCACHE="$PWD/../../.cache/go-build" GOFLAGS="$goflags" \
    go build -trimpath -tags "$tags" -gcflags=all=-dwarf=false -ldflags='-s -w' -o "$out/" \
      istio.io/istio/pilot/cmd/pilot-discovery istio.io/istio/istioctl/cmd/istioctl ./probe "${extra[@]}" )
# Renamed into place together, so a failed build leaves the old binaries.
mv "$out/pilot-discovery" "$bin/pilot-discovery"
mv "$out/istioctl" "$bin/istioctl"
mv "$out/probe" "$bin/meshguard-probe"
built=("$bin/pilot-discovery" "$bin/istioctl" "$bin/meshguard-probe")
if $newest; then
  mv "$out/packets" "$bin/meshguard-packets"
  built+=("$bin/meshguard-packets")
fi
touch "${built[@]}"
echo "built ${built[*]} in $(( $(date +%s) - start ))s"

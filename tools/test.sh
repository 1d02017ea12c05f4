#!/usr/bin/env bash
# make test: every check and test. The Go builds (the kube-apiserver, Istio's
# programs: most of a cold CI run, and they need nothing of Python) run in the
# background while lint, docs, sanity and the unit tests run; the integration
# tests wait for them. Make's own targets keep each build up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
log=.cache/go-builds.log
make --no-print-directory .cache/bin/kube-local istio >"$log" 2>&1 &
builds=$!
status=0
make --no-print-directory lint docs sanity units units-2.19 || status=$?
built=0
wait "$builds" || built=$?
cat "$log"
if [ "$built" != 0 ]; then
  echo "test: the Go builds failed (exit $built), see above" >&2
  exit "$built"
fi
if [ "$status" != 0 ]; then
  exit "$status"
fi
make --no-print-directory integration integration-2.19

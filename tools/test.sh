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
# The ansible-core 2.19 suite runs beside the main one: it has clusters and DNS
# servers of its own (.cache/test-clusters; the main suite's workers use
# test-clusters-gw0/-gw1), and the main suite leaves a core idle while its
# tests wait on API servers. Its output follows the main suite's.
# Their common needs first, so that two apt-get runs never race for dpkg's lock.
make --no-print-directory integration-deps
log219=.cache/integration-2.19.log
make --no-print-directory integration-2.19 >"$log219" 2>&1 &
pid219=$!
integration=0
make --no-print-directory integration || integration=$?
status219=0
wait "$pid219" || status219=$?
echo "--- integration-2.19 (ansible-core 2.19) ---"
cat "$log219"
if [ "$integration" != 0 ]; then
  exit "$integration"
fi
exit "$status219"

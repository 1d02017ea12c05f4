#!/usr/bin/env bash
# Stops the local clusters and DNS servers of this working copy without
# Python, for `make clean`, and for `make clusters-down` / `make dns-down`
# where .venv is missing:
#   tools/stop-all.sh clusters       the clusters of `make clusters` (.cache/clusters)
#   tools/stop-all.sh dns [PORT]     the DNS servers of `make dns` (.cache/dns/<port>), or the one of PORT
#   tools/stop-all.sh all            every kube-apiserver and knotd whose state lives under .cache/
# A process is stopped only when its pid file lies in such a state directory
# and its command line names that directory: a recycled pid is never hit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"

# stop PIDFILE NEEDLE...: TERM, then KILL after 30 s, if the process's command line holds every NEEDLE.
stop() {
  local pidfile=$1 pid cmdline needle; shift
  pid=$(tr -dc '0-9' < "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  cmdline=$(tr '\0' ' ' < "/proc/$pid/cmdline")
  for needle in "$@"; do
    case "$cmdline" in *"$needle"*) ;; *) return 0 ;; esac
  done
  echo "stopping pid $pid ($(basename "$(dirname "$pidfile")"))"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 300); do
    [ -e "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

clusters_under() {  # the kube-local processes of every cluster state dir below $1
  [ -d "$1" ] || return 0
  find "$1" -name pid -type f -print0 | while IFS= read -r -d '' f; do
    stop "$f" kube-local "--etcd-dir=$(dirname "$f")/etcd"
  done
}

dns_under() {  # the knotd of every state dir below $1
  [ -d "$1" ] || return 0
  find "$1" -name knot.pid -type f -print0 | while IFS= read -r -d '' f; do
    stop "$f" knotd "$(dirname "$f")/knot.conf"
  done
}

case "${1:-all}" in
  clusters) clusters_under "$cache/clusters" ;;
  dns) if [ -n "${2:-}" ]; then dns_under "$cache/dns/$2"; else dns_under "$cache/dns"; fi ;;
  all) clusters_under "$cache"; dns_under "$cache" ;;
  *) echo "usage: tools/stop-all.sh clusters | dns [PORT] | all" >&2; exit 2 ;;
esac

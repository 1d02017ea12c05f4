#!/usr/bin/env bash
# Builds .cache/collections/ansible_collections/meshguard/egress as a tree of
# symlinks to the working copy: ansible and ansible-test need the collection
# under an ansible_collections/<namespace>/<name> path, and symlinks mean the
# tree can never hold stale copies. Rebuilt on every call (cheap), so entries
# added or removed at the top level are always reflected.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tree="$root/.cache/collections/ansible_collections/meshguard/egress"
mkdir -p "$tree"
# Drop links whose target is gone, then link every top-level entry.
find "$tree" -maxdepth 1 -type l ! -exec test -e {} \; -delete
shopt -s dotglob nullglob
for entry in "$root"/*; do
  name=${entry##*/}
  case "$name" in
    .cache|.venv|.venv-*|.pytest_cache|.ruff_cache|.hypothesis|.ansible|tests)
      [ -L "$tree/$name" ] && rm -f "$tree/$name"
      continue ;;
  esac
  ln -sfn "$entry" "$tree/$name"
done
# ansible-test writes its output under tests/output, which must not land in
# the working copy's tests folder shared with other runs; tests/ is a real
# directory whose children are links.
mkdir -p "$tree/tests"
for entry in "$root"/tests/*; do
  name=${entry##*/}
  [ "$name" = output ] && continue
  ln -sfn "$entry" "$tree/tests/$name"
done
find "$tree/tests" -maxdepth 1 -type l ! -exec test -e {} \; -delete
echo "$tree"

#!/usr/bin/env bash
# Runs `ansible-test sanity` with no ignore file on the controller Python of
# .venv.
#
# ansible-test insists on an ansible_collections/<ns>/<name> path, and with
# git it refuses files that lie behind a symlink (the tree of
# tools/collection-tree.sh). So each run gets a fresh copy of the files git
# knows or would add (tracked, and untracked but not ignored) under
# .cache/ansible-test/, with a git index of its own (else ansible-test would
# find the working copy's git, which ignores .cache): built anew every run, it
# can never hold stale files.
#
# ansible-test runs each sanity test in a venv of its own and bootstraps pip
# there with a script it downloads from a host this machine cannot reach; it
# uses a copy saved in its cache instead, so we put our stand-in
# (tools/get_pip_standin.py: ensurepip, then pip from the package index) there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

mkdir -p "$root/.cache/ansible-test"
base=$(mktemp -d "$root/.cache/ansible-test/run.XXXXXX")
trap 'rm -rf "$base"' EXIT
tree="$base/ansible_collections/meshguard/egress"
mkdir -p "$tree"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tree")
git -C "$tree" init -q
git -C "$tree" add -A

pipv=$(sed -n "s/.*pip='\([0-9.]*\)'.*/\1/p" "$root"/.venv/lib/python*/site-packages/ansible_test/_internal/python_requirements.py | head -n1)
mkdir -p "$HOME/.ansible/test/cache"
cp "$root/tools/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_${pipv//./_}.py"

cd "$tree"
"$root/.venv/bin/ansible-test" sanity --local --python "$py" --requirements --color no "$@"

#!/usr/bin/env bash
# Runs `ansible-test sanity` with no ignore file on the controller Python of
# .venv, from the collection symlink tree (ansible-test insists on an
# ansible_collections/<ns>/<name> path).
#
# ansible-test runs each sanity test in a venv of its own and bootstraps pip
# there with a script it downloads from a host this machine cannot reach; it
# uses a copy saved in its cache instead, so we put our stand-in
# (tools/get_pip_standin.py: ensurepip, then pip from the package index) there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tree=$("$root/tools/collection-tree.sh")
py=$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ansible-test sanity lists files through git: new files must be known to git.
untracked=$(git -C "$root" ls-files --others --exclude-standard -- plugins roles playbooks meta tests docs changelogs | head -n 5)
if [ -n "$untracked" ]; then
  echo "sanity: these files are not known to git, ansible-test would not see them (git add them):" >&2
  echo "$untracked" >&2
  exit 1
fi

pipv=$(sed -n "s/.*pip='\([0-9.]*\)'.*/\1/p" "$root"/.venv/lib/python*/site-packages/ansible_test/_internal/python_requirements.py | head -n1)
mkdir -p "$HOME/.ansible/test/cache"
cp "$root/tools/get_pip_standin.py" "$HOME/.ansible/test/cache/get_pip_${pipv//./_}.py"

cd "$tree"
rm -rf tests/output
exec "$root/.venv/bin/ansible-test" sanity --local --python "$py" --requirements --color no "$@"

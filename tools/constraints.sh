#!/usr/bin/env bash
# Regenerates tests/constraints.txt, the pins of .venv, from
# tests/requirements-dev.txt (`make constraints`): a throw-away venv on the
# Python `make setup` uses for .venv gets the newest versions that satisfy
# the requirements, and its `pip freeze` becomes the pins. Run `make setup`
# and `make test` afterwards: the new pins are what CI installs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=""
for v in 3.14 3.13 3.12; do
  for c in "python$v" "$(command -v pyenv >/dev/null 2>&1 && pyenv root)"/versions/"$v"*/bin/python"$v"; do
    if [ -n "$c" ] && "$c" -c 'import venv' >/dev/null 2>&1; then py=$c; break 2; fi
  done
done
[ -n "$py" ] || { echo "constraints: no Python >= 3.12 found (the pins are for .venv)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/meshguard-constraints.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$py" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements-dev.txt
{
  echo "# Pinned versions for .venv (Python >= 3.12, ansible-core 2.21). Regenerate with"
  echo "# 'make constraints' after changing tests/requirements-dev.txt."
  "$tmp/venv/bin/python" -m pip freeze --disable-pip-version-check
} > tests/constraints.txt.new
mv tests/constraints.txt.new tests/constraints.txt
echo "constraints: tests/constraints.txt regenerated with $("$py" --version); review with git diff"

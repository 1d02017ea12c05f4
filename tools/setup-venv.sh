#!/usr/bin/env bash
# Builds the Python environments `make setup` promises:
#   .venv       newest Python >= 3.12 found, ansible-core 2.21, pinned by
#               tests/constraints.txt (falls back to Python 3.11 and
#               ansible-core 2.19 where no Python >= 3.12 exists, and says so)
#   .venv-2.19  Python 3.11, ansible-core 2.19 and the lowest supported
#               libraries (tests/constraints-min.txt), for the unit tests
#   .venv-nca   Python 3.11, network-config-analyzer (tests/requirements-nca.txt),
#               which judges the rendered NetworkPolicies in the integration tests
# A stamp holding the hash of the inputs makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."

# Prints the path of a working interpreter for version $1 (e.g. 3.13), or
# nothing. pyenv shims exist for versions that are not selected and then fail,
# so every candidate is run once before it is trusted.
find_python() {
  local v=$1 c
  for c in "python$v" "$(command -v pyenv >/dev/null 2>&1 && pyenv root)"/versions/"$v"*/bin/python"$v" \
           /usr/local/bin/python"$v" /usr/bin/python"$v"; do
    [ -n "$c" ] || continue
    if "$c" -c 'import sys, venv' >/dev/null 2>&1; then
      "$c" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

stamp_of() { cat "$@" tools/setup-venv.sh | sha256sum | cut -c1-16; }

make_venv() {  # dir python stamp pip-args...
  local dir=$1 py=$2 stamp=$3; shift 3
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ] && [ -x "$dir/bin/python" ]; then
    echo "$dir is up to date ($("$dir/bin/python" --version))"
    return 0
  fi
  echo "building $dir with $py"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  echo "$stamp" > "$dir/.stamp"
}

main_py=""
for v in 3.14 3.13 3.12; do
  if main_py=$(find_python "$v"); then break; fi
done

if [ -n "$main_py" ]; then
  make_venv .venv "$main_py" "$(stamp_of tests/constraints.txt tests/requirements-dev.txt requirements.txt)" \
    -c tests/constraints.txt -r tests/requirements-dev.txt
else
  py311=$(find_python 3.11) || { echo "setup: no Python >= 3.11 found; install python3.12 or newer" >&2; exit 1; }
  echo "setup: NOTE no Python >= 3.12 found; .venv uses Python 3.11 with ansible-core 2.19 (ansible-core 2.20+ needs Python >= 3.12)"
  grep -v '^ansible-core==' tests/constraints.txt > .cache/constraints-3.11.txt
  make_venv .venv "$py311" "$(stamp_of .cache/constraints-3.11.txt tests/requirements-dev.txt requirements.txt)-311" \
    -c .cache/constraints-3.11.txt -r tests/requirements-dev.txt 'ansible-core>=2.19,<2.20'
fi

py311=$(find_python 3.11) || { echo "setup: Python 3.11 is needed for the ansible-core 2.19 unit tests; none found" >&2; exit 1; }
make_venv .venv-2.19 "$py311" "$(stamp_of tests/constraints-min.txt tests/requirements-min.txt)" \
  -c tests/constraints-min.txt -r tests/requirements-min.txt

# The NetworkPolicy analyzer pins its dependencies exactly: an environment of its own.
make_venv .venv-nca "$py311" "$(stamp_of tests/requirements-nca.txt)" -r tests/requirements-nca.txt

echo "ready: $(.venv/bin/ansible --version | sed -n 1p) on $(.venv/bin/python --version);" \
     "$(.venv-2.19/bin/ansible --version | sed -n 1p) on $(.venv-2.19/bin/python --version)"

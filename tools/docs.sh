#!/usr/bin/env bash
# Builds the collection's HTML documentation into .cache/docs/html (`make docs`):
# antsibull-docs renders the plugin, module and role pages and the guides
# (docs/docsite/rst/, listed in docs/docsite/extra-docs.yml) from the
# collection as ansible-core finds it (ansible.cfg's collection tree), and
# Sphinx builds them with warnings as errors, so a broken reference (a
# seealso ref: to a guide included) or a markup error fails the build.
# Configuration: tools/docs/ (conf.py, index.rst, antsibull-docs.cfg).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.cache/docs"
venv="$root/.venv/bin"
"$root/tools/collection-tree.sh" >/dev/null
rm -rf "$out"
mkdir -p "$out/rst"
chmod og-w "$out/rst"  # antsibull-docs wants the destination writable by its owner only
export ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections" PATH="$venv:$PATH"
# The collection's documentation as antsibull-docs validates it (plugin docs,
# semantic markup, references between plugins; the guides: extra-docs.yml,
# their labels, rstcheck).
(cd "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/meshguard/egress" && antsibull-docs lint-collection-docs --plugin-docs .)
cd "$root"
# antsibull-docs reports a plugin whose documentation it cannot read and writes an error page for it: fail instead.
antsibull-docs --config-file tools/docs/antsibull-docs.cfg \
  collection --use-current --dest-dir "$out/rst" meshguard.egress 2>&1 | tee "$out/antsibull-docs.log"
if grep -q 'ERROR' "$out/antsibull-docs.log"; then
  echo "docs: antsibull-docs reported errors (above)" >&2
  exit 1
fi
cp tools/docs/index.rst tools/docs/external.rst "$out/rst/"
sphinx-build -q -W --keep-going -b html -c tools/docs "$out/rst" "$out/html"
echo "docs: $out/html/index.html"

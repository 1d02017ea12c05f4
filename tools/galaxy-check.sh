#!/usr/bin/env bash
# Builds the collection as it would be uploaded and runs galaxy-importer on
# the artifact, the checks Galaxy and Automation Hub run (tests/galaxy-importer.cfg),
# so that every commit is publishable. Part of `make lint`.
#
# The artifact is built from a fresh copy of the files git knows or would add
# (tracked, and untracked but not ignored), so caches and virtual environments
# of the working copy can never slip in. The importer's log and result stay
# in .cache/galaxy/. Any warning fails the check as an error does.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.cache/galaxy"
rm -rf "$out"
mkdir -p "$out/src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$out/src")
"$root/.venv/bin/ansible-galaxy" collection build --output-path "$out" "$out/src" >/dev/null
artifact=$(ls "$out"/meshguard-egress-*.tar.gz)
cd "$out"
if ! GALAXY_IMPORTER_CONFIG="$root/tests/galaxy-importer.cfg" PATH="$root/.venv/bin:$PATH" \
    "$root/.venv/bin/python" -m galaxy_importer.main "$artifact" > importer.log 2>&1; then
  cat importer.log
  echo "galaxy-importer: $(basename "$artifact") was refused (log: $out/importer.log)" >&2
  exit 1
fi
if grep -E '^(WARNING|ERROR):' importer.log; then
  echo "galaxy-importer: $(basename "$artifact") imports with the warnings above (log: $out/importer.log)" >&2
  exit 1
fi
echo "galaxy-importer: $(basename "$artifact") imports cleanly ($(grep -c '^Loading ' importer.log) items checked)"

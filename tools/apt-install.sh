#!/usr/bin/env bash
# tools/apt-install.sh CHECK:PACKAGE ...
# Installs each Debian package that is missing: CHECK is a command name, or a
# path glob starting with / for packages without a command (Knot's modules).
# Runs apt-get update first, once. Needs root or sudo; says so plainly when
# neither is available.
set -euo pipefail
missing=()
for pair in "$@"; do
  check=${pair%%:*} pkg=${pair#*:}
  if [[ $check == /* ]]; then
    compgen -G "$check" >/dev/null && continue
  else
    command -v "$check" >/dev/null 2>&1 || [ -x "/usr/sbin/$check" ] && continue
  fi
  missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "apt-install: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

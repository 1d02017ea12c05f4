# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The virtual environment of the peers (.cache/bench/venv-peers).

Built from the package index with bench/requirements-peers.txt, pinned by
bench/constraints-peers.txt, on the Python of .venv; a stamp with the hash of
both files makes a second call a no-op.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import common

REQUIREMENTS = common.BENCH / "requirements-peers.txt"
CONSTRAINTS = common.BENCH / "constraints-peers.txt"
# The collections of the `ansible` package that the peers run.
USED_COLLECTIONS = ("community/general", "kubernetes/core")


def _stamp() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, CONSTRAINTS):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


def ensure() -> None:
    venv = common.PEERS_VENV
    stamp_file = venv / ".stamp"
    stamp = _stamp()
    if stamp_file.exists() and stamp_file.read_text().strip() == stamp and (venv / "bin" / "ansible-playbook").exists():
        return
    common.log(f"building {venv} (ansible, kubernetes) from the package index")
    subprocess.run(["rm", "-rf", str(venv)], check=True)
    # sys.executable is .venv's Python: venv creates the new one from its base interpreter.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--no-compile", "-c", str(CONSTRAINTS), "-r", str(REQUIREMENTS)], check=True)
    _compile(venv)
    stamp_file.write_text(stamp + "\n")


def _compile(venv: Path) -> None:
    """Byte-compile what the peers import, as pip would, so that they start
    as fast as meshguard does from .venv (a venv without .pyc files compiles
    on every run under PYTHONDONTWRITEBYTECODE). The other collections of the
    `ansible` package (~45 of them, two thirds of pip's compile time) are
    never imported by the bench and stay uncompiled."""
    site = next((venv / "lib").glob("python*/site-packages"))
    collections = site / "ansible_collections"
    compileall = [str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0"]
    subprocess.run([*compileall, "-x", "/ansible_collections/", str(site)], check=True, stdout=subprocess.DEVNULL)
    used = [str(collections / name) for name in USED_COLLECTIONS]
    subprocess.run([*compileall, *used], check=True, stdout=subprocess.DEVNULL)


def versions() -> dict[str, str]:
    """Versions of what the peers run, read from the venv itself."""
    py = str(common.PEERS_VENV / "bin" / "python")
    code = (
        "import json, importlib.metadata as m, ansible_collections.community.general as cg, "
        "ansible_collections.kubernetes.core as kc, pathlib\n"
        "def coll(mod):\n"
        "    return json.loads((pathlib.Path(mod.__path__[0]) / 'MANIFEST.json').read_text())"
        "['collection_info']['version']\n"
        "print(json.dumps({'ansible': m.version('ansible'), 'ansible-core': m.version('ansible-core'), "
        "'community.general': coll(cg), 'kubernetes.core': coll(kc), 'kubernetes': m.version('kubernetes'), "
        "'dnspython': m.version('dnspython')}))"
    )
    res = subprocess.run([py, "-c", code], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return {"error": res.stderr.strip()[-300:]}
    return json.loads(res.stdout)
